"""The BERT encoder's forward pass and pooling in plain TensorFlow ops.

:func:`sentence_vectors` takes the weights as a mapping from ``BertModel`` tensor name to
tensor (PyTorch layout: ``Linear`` weights ``[out, in]``), so the same code runs on the
``tf.Variable`` s of :class:`BertModule` (Transform) and on a Keras layer's weights
(Trainer, where they may be fine-tuned).

Shapes: B = batch, L = word pieces (``[CLS]`` first, then ``[SEP]``, then 0-padding at the
end), H = hidden size.
"""
import math
from typing import Mapping

import tensorflow as tf

from preprocessing.bert.checkpoint import WORD_EMBEDDINGS, BertCheckpoint, BertConfig

_MASKED = -1e9  # added to attention scores of padding: exp() makes their weight exactly 0


def _dense(x: tf.Tensor, params: Mapping[str, tf.Tensor], name: str) -> tf.Tensor:
    """``x @ W^T + b`` over the last axis of ``[B, L, in]``, for a ``[out, in]`` weight."""
    return tf.einsum("bli,oi->blo", x, params[name + ".weight"]) + params[name + ".bias"]


def _layer_norm(x: tf.Tensor, params: Mapping[str, tf.Tensor], name: str, eps: float) -> tf.Tensor:
    mean, variance = tf.nn.moments(x, axes=[-1], keepdims=True)
    return (x - mean) * tf.math.rsqrt(variance + eps) * params[name + ".weight"] + params[name + ".bias"]


def _activation(x: tf.Tensor, name: str) -> tf.Tensor:
    if name == "gelu":
        return tf.nn.gelu(x, approximate=False)
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return tf.nn.gelu(x, approximate=True)
    return tf.nn.relu(x)


def _attention(x: tf.Tensor, bias: tf.Tensor, params: Mapping[str, tf.Tensor], prefix: str,
               config: BertConfig) -> tf.Tensor:
    heads, size = config.num_heads, config.hidden_size // config.num_heads
    split = tf.concat([tf.shape(x)[:2], [heads, size]], axis=0)  # [B, L, H] -> [B, L, heads, size]
    query, key, value = (tf.reshape(_dense(x, params, f"{prefix}attention.self.{name}"), split)
                         for name in ("query", "key", "value"))
    scores = tf.einsum("bqnd,bknd->bnqk", query, key) / math.sqrt(size) + bias
    context = tf.einsum("bnqk,bknd->bqnd", tf.nn.softmax(scores, axis=-1), value)
    return _dense(tf.reshape(context, tf.shape(x)), params, f"{prefix}attention.output.dense")


def encode(params: Mapping[str, tf.Tensor], config: BertConfig, piece_ids: tf.Tensor) -> tf.Tensor:
    """Last hidden states ``[B, L, H]`` of ``piece_ids`` ``[B, L]`` (id 0 = padding, never
    attended to); every piece has token type 0."""
    mask = tf.not_equal(piece_ids, 0)
    length = tf.shape(piece_ids)[1]
    x = (tf.gather(params[WORD_EMBEDDINGS], piece_ids)
         + params["embeddings.position_embeddings.weight"][tf.newaxis, :length]
         + params["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, params, "embeddings.LayerNorm", config.layer_norm_eps)
    bias = (1.0 - tf.cast(mask, x.dtype))[:, tf.newaxis, tf.newaxis, :] * _MASKED
    for n in range(config.num_layers):
        prefix = f"encoder.layer.{n}."
        x = _layer_norm(x + _attention(x, bias, params, prefix, config), params,
                        prefix + "attention.output.LayerNorm", config.layer_norm_eps)
        inner = _activation(_dense(x, params, prefix + "intermediate.dense"), config.activation)
        x = _layer_norm(x + _dense(inner, params, prefix + "output.dense"), params, prefix + "output.LayerNorm",
                        config.layer_norm_eps)
    return x


def pool(hidden: tf.Tensor, mask: tf.Tensor, mode: str, normalize: bool) -> tf.Tensor:
    """``[B, H]`` from hidden states ``[B, L, H]`` and mask ``[B, L]``: ``mean`` over the
    unmasked pieces or the ``cls`` (first) piece, then L2-normalised if ``normalize``."""
    if mode == "mean":
        weights = tf.cast(mask, hidden.dtype)[:, :, tf.newaxis]
        vectors = tf.reduce_sum(hidden * weights, axis=1) / tf.maximum(tf.reduce_sum(weights, axis=1), 1e-9)
    else:
        vectors = hidden[:, 0]
    if normalize:
        vectors = tf.math.l2_normalize(vectors, axis=-1, epsilon=1e-24)
    return vectors


def sentence_vectors(params: Mapping[str, tf.Tensor], checkpoint: BertCheckpoint, piece_ids: tf.Tensor) -> tf.Tensor:
    """Pooled sentence vectors ``[B, H]`` of 0-padded ``piece_ids`` ``[B, L]``.

    Columns that are padding in every row are dropped first (the output does not depend
    on padding), so a batch of short texts costs what its longest text costs."""
    mask = tf.not_equal(piece_ids, 0)
    longest = tf.reduce_max(tf.reduce_sum(tf.cast(mask, tf.int32), axis=1))
    piece_ids, mask = piece_ids[:, :longest], mask[:, :longest]
    return pool(encode(params, checkpoint.config, piece_ids), mask, checkpoint.pooling, checkpoint.normalize)


def sentence_vectors_by_length(params: Mapping[str, tf.Tensor], checkpoint: BertCheckpoint, piece_ids: tf.Tensor,
                               chunk: int = 32) -> tf.Tensor:
    """:func:`sentence_vectors` for large batches: the texts are sorted by length and
    encoded ``chunk`` at a time, each chunk trimmed to its own longest text, so short
    texts never pay for the batch's longest one. Same result, in the input order."""
    lengths = tf.reduce_sum(tf.cast(tf.not_equal(piece_ids, 0), tf.int32), axis=1)
    order = tf.argsort(lengths, stable=True)
    ordered = tf.gather(piece_ids, order)
    chunks = (tf.shape(piece_ids)[0] + chunk - 1) // chunk
    dim = checkpoint.config.hidden_size
    results = tf.TensorArray(tf.float32, size=chunks, infer_shape=False, element_shape=tf.TensorShape([None, dim]))

    def encode_chunk(i, results):
        return i + 1, results.write(i, sentence_vectors(params, checkpoint, ordered[i * chunk:(i + 1) * chunk]))

    _, results = tf.while_loop(lambda i, _: i < chunks, encode_chunk, (tf.constant(0), results))
    vectors = tf.gather(results.concat(), tf.math.invert_permutation(order))
    return tf.ensure_shape(vectors, [None, dim])


class BertModule(tf.Module):
    """The checkpoint's weights as (frozen) ``tf.Variable`` s; calling it maps piece ids
    ``[B, L]`` int64 to sentence vectors ``[B, H]`` float32 (by length, see
    :func:`sentence_vectors_by_length`)."""

    def __init__(self, checkpoint: BertCheckpoint, name: str = "bert"):
        super().__init__(name=name)
        self._checkpoint = checkpoint
        with self.name_scope:
            self.weights = {key: tf.Variable(value, trainable=False, name=key.replace(".", "/"))
                            for key, value in checkpoint.weights.items()}
        # Traced once per module: graphs that call it (Transform traces its function many
        # times) hold one call op instead of the whole encoder.
        self._vectors = tf.function(lambda ids: sentence_vectors_by_length(self.weights, checkpoint, ids),
                                    input_signature=[tf.TensorSpec([None, None], tf.int64)])

    def __call__(self, piece_ids: tf.Tensor) -> tf.Tensor:
        return self._vectors(tf.cast(piece_ids, tf.int64))
