"""Keras layers of the hybrid character+word model.

Shapes use B = batch, T = tokens per text, C = character ids per token. Every layer
accepts any T and C (the exported model fixes them through tf.Transform), and all of
them honour padding explicitly: char padding (id 0) never reaches a max-pool or an
LSTM state, token padding (word id 0) never reaches the sentence encoder. So the same
text gives the same output however much padding surrounds it.
"""
from typing import Sequence, Tuple

import tensorflow as tf
import tf_keras as keras

from charword import contract


def token_mask(word_ids: tf.Tensor) -> tf.Tensor:
    """``[B, T]`` bool: True for real tokens, False for token padding (word id 0)."""
    return tf.not_equal(word_ids, contract.WORD_PAD_ID)


def char_mask(char_ids: tf.Tensor) -> tf.Tensor:
    """``[B, T, C]`` bool: True for character ids (markers included), False for padding."""
    return tf.not_equal(char_ids, contract.CHAR_PAD_ID)


def masked_max(values: tf.Tensor, mask: tf.Tensor, axis: int) -> tf.Tensor:
    """Max over ``axis`` ignoring masked-out positions; all-masked rows give zeros."""
    mask = tf.expand_dims(tf.cast(mask, values.dtype), -1)
    lowest = tf.constant(values.dtype.min, values.dtype)
    pooled = tf.reduce_max(values * mask + lowest * (1.0 - mask), axis=axis)
    any_valid = tf.reduce_max(mask, axis=axis)
    return pooled * any_valid


def used_width(mask: tf.Tensor) -> tf.Tensor:
    """Scalar int32: positions of the last axis of ``mask`` [..., L] (bool) up to its last
    True anywhere in the tensor, at least 1; slicing there drops only padding."""
    positions = tf.range(1, tf.shape(mask)[-1] + 1, dtype=tf.int32)
    last = tf.where(mask, positions, tf.zeros_like(positions))
    return tf.maximum(tf.reduce_max(tf.concat([tf.reshape(last, [-1]), [0]], 0)), 1)


def _conv_rows(conv: keras.layers.Conv1D, rows: tf.Tensor) -> tf.Tensor:
    """``conv`` over ``rows`` [N, L, E] -> [N, L, filters], for any N including 0 (on an
    empty batch TensorFlow's CPU convolution returns E channels instead of ``filters``,
    so an empty batch gets its empty result directly)."""
    shape = tf.shape(rows)
    return tf.cond(shape[0] > 0, lambda: conv(rows), lambda: tf.zeros([0, shape[1], conv.filters], rows.dtype))


class Highway(keras.layers.Layer):
    """Highway layers (Srivastava et al. 2015) as in ELMo's character encoder.

    ``y = g * relu(W x + b) + (1 - g) * x`` with ``g = sigmoid(W_g x + b_g)``; the gate
    bias starts negative so each layer begins close to the identity.

    Input and output shape: ``[..., dim]``.
    """

    def __init__(self, num_layers: int = 1, gate_bias: float = -2.0, **kwargs):
        super().__init__(**kwargs)
        self.num_layers = num_layers
        self.gate_bias = gate_bias

    def build(self, input_shape):
        dim = int(input_shape[-1])
        self.transforms = [keras.layers.Dense(dim, activation="relu", name=f"transform_{i}")
                           for i in range(self.num_layers)]
        self.gates = [keras.layers.Dense(dim, activation="sigmoid", name=f"gate_{i}",
                                         bias_initializer=keras.initializers.Constant(self.gate_bias))
                      for i in range(self.num_layers)]
        super().build(input_shape)

    def call(self, inputs):
        x = inputs
        for transform, gate in zip(self.transforms, self.gates):
            g = gate(x)
            x = g * transform(x) + (1.0 - g) * x
        return x

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers, "gate_bias": self.gate_bias}


class DistinctTokens(keras.layers.Layer):
    """The distinct char-id rows of a batch, so that the char encoder runs once per
    distinct token (padding slots included, as one row) instead of once per slot.

    Rows are cut to the batch's longest token (the last non-padding char); char padding
    is masked in the encoders, so the cut changes no output.

    Input: ``char_ids`` ``[B, T, C]``.
    Output: ``rows`` ``[1, U, W]`` (the distinct rows, ``U <= B * T``, ``W <= C``) and
    ``index`` ``[B, T]`` int32: the row of each token slot.
    """

    def call(self, char_ids):
        shape = tf.shape(char_ids)
        flat = tf.reshape(char_ids, [-1, shape[2]])
        width = used_width(tf.not_equal(flat, contract.CHAR_PAD_ID))
        rows, index = tf.raw_ops.UniqueV2(x=flat[:, :width], axis=tf.constant([0], tf.int64), out_idx=tf.int32)
        return rows[tf.newaxis], tf.reshape(index, shape[:2])


class GatherTokens(keras.layers.Layer):
    """Gives every token slot the vector of its distinct row (inverse of
    :class:`DistinctTokens`).

    Input: ``[vectors [1, U, D], index [B, T]]``. Output: ``[B, T, D]``.
    """

    def call(self, inputs):
        vectors, index = inputs
        return tf.gather(vectors[0], index)


class _TokenCharEncoder(keras.layers.Layer):
    """Shared frame of the char encoders: every token's characters are encoded on their
    own (batch and token axes folded together), then highway layers and a projection.

    Input: ``char_embeddings`` ``[B, T, C, E]`` and ``mask`` ``[B, T, C]`` (bool).
    Output: ``[B, T, output_dim]``. Subclasses implement :meth:`encode`.
    """

    def __init__(self, highway_layers: int, output_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.highway_layers = highway_layers
        self.output_dim = output_dim
        self.highway = Highway(highway_layers, name="highway") if highway_layers else None
        self.projection = keras.layers.Dense(output_dim, name="projection")

    def encode(self, chars, mask):
        """``[N, C, E]`` characters and ``[N, C]`` mask to ``[N, D]`` token vectors."""
        raise NotImplementedError

    def call(self, char_embeddings, mask):
        shape = tf.shape(char_embeddings)
        batch, tokens, chars = shape[0], shape[1], shape[2]
        flat = tf.reshape(char_embeddings, [batch * tokens, chars, char_embeddings.shape[-1]])
        encoded = self.encode(flat, tf.reshape(mask, [batch * tokens, chars]))
        if self.highway is not None:
            encoded = self.highway(encoded)
        return tf.reshape(self.projection(encoded), [batch, tokens, self.output_dim])

    def get_config(self):
        return {**super().get_config(), "highway_layers": self.highway_layers, "output_dim": self.output_dim}


class CharCNNEncoder(_TokenCharEncoder):
    """Character CNN token encoder (Kim et al. 2016; ELMo; lm_1b).

    Per token: convolutions of several widths over the character embeddings, a
    max-pool over characters that ignores char padding, highway layers and a linear
    projection.

    Input: ``char_embeddings`` ``[B, T, C, E]`` and ``mask`` ``[B, T, C]`` (bool).
    Output: ``[B, T, output_dim]``.
    """

    def __init__(self, filters: Sequence[Tuple[int, int]], highway_layers: int, output_dim: int, **kwargs):
        super().__init__(highway_layers, output_dim, **kwargs)
        self.filters = tuple((int(w), int(n)) for w, n in filters)
        self.convs = [keras.layers.Conv1D(n, w, padding="same", activation="tanh", name=f"conv_w{w}")
                      for w, n in self.filters]

    def encode(self, chars, mask):
        chars = chars * tf.expand_dims(tf.cast(mask, chars.dtype), -1)
        return tf.concat([masked_max(_conv_rows(conv, chars), mask, axis=1) for conv in self.convs], axis=-1)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


class CharBiLSTMEncoder(_TokenCharEncoder):
    """Character BiLSTM token encoder: the final forward and backward states of each
    token's characters (padding masked), then highway layers and a projection.

    Input: ``char_embeddings`` ``[B, T, C, E]`` and ``mask`` ``[B, T, C]`` (bool).
    Output: ``[B, T, output_dim]``.
    """

    def __init__(self, units: int, highway_layers: int, output_dim: int, **kwargs):
        super().__init__(highway_layers, output_dim, **kwargs)
        self.units = units
        self.bilstm = keras.layers.Bidirectional(keras.layers.LSTM(units), name="bilstm")

    def encode(self, chars, mask):
        return self.bilstm(chars, mask=mask)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


_HASH_MODULUS = 2_147_483_647  # a prime (2^31 - 1): hashes stay in int64 through every multiply
_HASH_MULTIPLIER = 1_000_003


def _hash_step(hashes: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """One step of a polynomial hash over int64 tensors: ``(h * multiplier + v) mod prime``."""
    return (hashes * _HASH_MULTIPLIER + values) % _HASH_MODULUS


class CharNgramEncoder(keras.layers.Layer):
    """Bag of hashed character n-grams per token (fastText's subwords, Bojanowski et
    al. 2017): every run of ``min_n`` to ``max_n`` consecutive byte ids of a token
    (begin- and end-of-word markers included, so ``<un`` and ``ly>`` mark prefixes and
    suffixes) is hashed into one of ``buckets`` embedding rows; the token's vector is the
    mean of its n-gram rows, then optional highway layers. Cheap (one embedding lookup,
    no convolution), and a misspelling keeps most n-grams of its word.

    Input: ``char_ids`` ``[B, T, C]`` int64 (0 = padding). Output: ``[B, T, output_dim]``
    (zeros for padding tokens).
    """

    def __init__(self, min_n: int, max_n: int, buckets: int, output_dim: int, highway_layers: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.min_n, self.max_n, self.buckets = min_n, max_n, buckets
        self.output_dim, self.highway_layers = output_dim, highway_layers
        self.table = keras.layers.Embedding(buckets, output_dim, name="ngram_embedding")
        self.highway = Highway(highway_layers, name="highway") if highway_layers else None

    def ngram_ids(self, char_ids: tf.Tensor):
        """``(ids [..., G], valid [..., G])``: the bucket of every n-gram window of each
        token (G = (max_n - min_n + 1) * C windows, one per start position and length)
        and whether the window lies inside the token."""
        width = tf.shape(char_ids)[-1]
        padded = tf.pad(char_ids, [[0, 0]] * (char_ids.shape.rank - 1) + [[0, self.max_n]])
        ids, valid = [], []
        hashes = tf.zeros_like(char_ids)
        inside = tf.ones_like(char_ids, dtype=tf.bool)
        for offset in range(self.max_n):
            window = padded[..., offset:offset + width]
            hashes = _hash_step(hashes, window)
            inside = inside & tf.not_equal(window, contract.CHAR_PAD_ID)
            length = offset + 1
            if length >= self.min_n:
                ids.append(_hash_step(hashes, tf.fill(tf.shape(hashes), tf.constant(length, tf.int64))) % self.buckets)
                valid.append(inside)
        return tf.concat(ids, axis=-1), tf.concat(valid, axis=-1)

    def call(self, char_ids):
        ids, valid = self.ngram_ids(char_ids)
        weights = tf.cast(valid, self.compute_dtype)[..., tf.newaxis]
        total = tf.reduce_sum(self.table(ids) * weights, axis=-2)
        vectors = tf.math.divide_no_nan(total, tf.reduce_sum(weights, axis=-2))
        return self.highway(vectors) if self.highway is not None else vectors

    def get_config(self):
        return {**super().get_config(), "min_n": self.min_n, "max_n": self.max_n, "buckets": self.buckets,
                "output_dim": self.output_dim, "highway_layers": self.highway_layers}


class WordBigramBag(keras.layers.Layer):
    """Mean of hashed embeddings of a text's word bigrams (fastText's ``wordNgrams 2``):
    each pair of neighbouring in-vocabulary words (ids 1..``vocab_size``; a pair with
    padding or an OOV bucket has no bigram) is hashed into one of ``buckets`` rows.
    Computed from the word ids in the model, so training noise changes the bigrams as it
    changes the words.

    Input: ``word_ids`` ``[B, T]`` int64. Output: ``[B, dim]`` (zeros without a bigram).
    """

    def __init__(self, vocab_size: int, buckets: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.buckets, self.dim = vocab_size, buckets, dim
        self.table = keras.layers.Embedding(buckets, dim, name="bigram_embedding")

    def call(self, word_ids):
        left, right = word_ids[:, :-1], word_ids[:, 1:]
        known = (left >= 1) & (left <= self.vocab_size) & (right >= 1) & (right <= self.vocab_size)
        ids = _hash_step(_hash_step(tf.zeros_like(left), left), right) % self.buckets
        weights = tf.cast(known, self.compute_dtype)[..., tf.newaxis]
        total = tf.reduce_sum(self.table(ids) * weights, axis=1)
        return tf.math.divide_no_nan(total, tf.reduce_sum(weights, axis=1))

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size, "buckets": self.buckets, "dim": self.dim}


class TokenMerge(keras.layers.Layer):
    """Merges the word and char vectors of each token.

    Modes: ``concat_project`` (concatenate, then a dense layer to ``token_dim``),
    ``concat`` (concatenate only) and ``sum`` (project each to ``token_dim`` and add).

    Input: a list of ``[B, T, D_i]`` tensors (one for single-branch variants).
    Output: ``[B, T, token_dim]`` (``[B, T, sum(D_i)]`` for ``concat``).
    """

    def __init__(self, mode: str, token_dim: int, **kwargs):
        super().__init__(**kwargs)
        self.mode = mode
        self.token_dim = token_dim

    def build(self, input_shapes):
        count = 1 if self.mode == "concat_project" else len(input_shapes)
        self.projections = [] if self.mode == "concat" else [
            keras.layers.Dense(self.token_dim, name=f"projection_{i}") for i in range(count)]
        super().build(input_shapes)

    def call(self, inputs):
        if self.mode == "sum":
            return tf.add_n([projection(x) for projection, x in zip(self.projections, inputs)])
        merged = tf.concat(inputs, axis=-1) if len(inputs) > 1 else inputs[0]
        return self.projections[0](merged) if self.projections else merged

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "token_dim": self.token_dim}


class OOVRouting(keras.layers.Layer):
    """Keeps the word vector of an out-of-vocabulary token (word id > ``vocab_size``, an
    OOV bucket) from competing with its char vector in the merge.

    ``zero``: OOV word vectors become zeros. ``gate``: they are scaled by a learned
    sigmoid gate of the token's char vector (Miyamoto & Cho 2016; Yang et al. 2017).
    In-vocabulary tokens and padding pass through unchanged in both modes.

    Input: ``[word_vectors [B, T, Dw], word_ids [B, T], char_vectors [B, T, Dc]]``.
    Output: ``[B, T, Dw]``.
    """

    def __init__(self, mode: str, vocab_size: int, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("zero", "gate"):
            raise ValueError(f"OOVRouting mode must be 'zero' or 'gate', got {mode!r}")
        self.mode = mode
        self.vocab_size = vocab_size
        self.gate = keras.layers.Dense(1, activation="sigmoid", name="gate") if mode == "gate" else None

    def call(self, inputs):
        word_vectors, word_ids, char_vectors = inputs
        oov = tf.expand_dims(word_ids > self.vocab_size, -1)
        kept = self.gate(char_vectors) * word_vectors if self.gate is not None else tf.zeros_like(word_vectors)
        return tf.where(oov, kept, word_vectors)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "vocab_size": self.vocab_size}


class SentenceEncoder(keras.layers.Layer):
    """Encodes the token sequence of each text into one vector, ignoring token padding.

    ``bilstm``: final states of a bidirectional LSTM run over the real tokens.
    ``bilstm_max``: the same LSTM's states at every real token, max-pooled (Conneau et
    al. 2017's BiLSTM-max).
    ``cnn``: width-3 convolution then a max-pool over the real tokens.
    ``trim_padding``: token slots after the batch's last real token are cut off before
    encoding (both encoders mask padding, so the output is the same, for less work).

    Input: ``tokens`` ``[B, T, D]`` and ``mask`` ``[B, T]`` (bool).
    Output: ``[B, 2 * units]`` for the BiLSTMs, ``[B, units]`` for ``cnn``.
    """

    def __init__(self, kind: str, units: int, trim_padding: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.kind = kind
        self.units = units
        self.trim_padding = trim_padding
        if kind.startswith("bilstm"):
            self.encoder = keras.layers.Bidirectional(
                keras.layers.LSTM(units, return_sequences=kind == "bilstm_max"), name="bilstm")
        else:
            self.encoder = keras.layers.Conv1D(units, 3, padding="same", activation="relu", name="conv")

    def call(self, tokens, mask):
        if self.trim_padding:
            width = used_width(mask)
            tokens, mask = tokens[:, :width], mask[:, :width]
        if self.kind == "bilstm":
            return self.encoder(tokens, mask=mask)
        if self.kind == "bilstm_max":
            return masked_max(self.encoder(tokens, mask=mask), mask, axis=1)
        tokens = tokens * tf.expand_dims(tf.cast(mask, tokens.dtype), -1)
        return masked_max(_conv_rows(self.encoder, tokens), mask, axis=1)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "units": self.units, "trim_padding": self.trim_padding}


class GradientGate(keras.layers.Layer):
    """Passes its input through unchanged and lets gradients back through it only once
    opened: ``y = g * x + (1 - g) * stop_gradient(x)`` with ``g`` a non-trainable 0/1
    variable (``open``, 0 at first). While closed, the layers below get exactly zero
    gradients from it, so Adam leaves their weights exactly as they are (its moments stay
    zero). Opening it is a variable assignment (:meth:`open_gate`), which takes effect in
    the compiled training step at once, unlike ``layer.trainable``, and works under any
    distribution strategy.

    Input and output shape: any.
    """

    def build(self, input_shape):
        self.gate = self.add_weight(name="open", shape=(), initializer="zeros", trainable=False)
        super().build(input_shape)

    def call(self, inputs):
        gate = tf.cast(self.gate, inputs.dtype)
        return gate * inputs + (1.0 - gate) * tf.stop_gradient(inputs)

    def open_gate(self) -> None:
        """Lets gradients through from the next training step on."""
        self.gate.assign(1.0)
