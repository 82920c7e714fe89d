"""The sentence path of the model (``model.sentence_path`` ``concat`` or ``gated``).

    token path ─ ... ─ SentenceEncoder ─ [B, 2*units] ─┐
                                                        ├ SentenceFusion ─ [B, fusion_dim] ─ head
    sentence_vector [B, dim]  (placement transform) ────┤
    piece_ids [B, P] ─ BertEncoder (placement model) ───┘

With placement ``transform`` the model reads the vector Transform computed; with
``model`` it runs the checkpoint's encoder on the WordPiece ids Transform wrote, frozen
or fine-tuned (``model.sentence_tuning``).
"""
from typing import Dict, NamedTuple, Optional

import numpy as np
import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import ModelConfig
from preprocessing.bert.checkpoint import WORD_EMBEDDINGS, load_checkpoint, read_config
from preprocessing.bert.encoder import sentence_vectors


@tf.custom_gradient
def _dense_gradient(table):
    """Identity whose gradient is dense. The word-piece lookup's gradient is sparse with one
    row per piece of the (padding-trimmed) batch, so its length differs between replicas,
    and MirroredStrategy's all-reduce of such gradients failed here (TF 2.16, "Shape
    mismatch in the collective instance"); a dense gradient has the same shape everywhere."""
    return tf.identity(table), tf.convert_to_tensor


class BertEncoder(keras.layers.Layer):
    """The checkpoint's BERT encoder and pooling: piece ids ``[B, P]`` int64 (0 = padding)
    to sentence vectors ``[B, dim]``.

    The weights start from the checkpoint. When trainable they are stored divided by
    ``lr_scale`` and multiplied back in :meth:`call`, so an optimiser step moves them
    ``lr_scale`` times as far as the rest of the model (Adam's steps do not depend on the
    gradient's scale, so scaling gradients would not do this). The word-piece table's
    gradient is dense (see :func:`_dense_gradient`). No dropout inside.
    """

    def __init__(self, checkpoint: str, lr_scale: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.checkpoint = checkpoint
        self.lr_scale = float(lr_scale) if self.trainable else 1.0
        self._bert = load_checkpoint(checkpoint)
        self.stored = {}

    def build(self, input_shape):
        for name, value in self._bert.weights.items():
            initial = np.asarray(value / self.lr_scale, dtype=np.float32)
            self.stored[name] = self.add_weight(name=name.replace(".", "/"), shape=value.shape, dtype="float32",
                                                initializer=keras.initializers.Constant(initial))
        super().build(input_shape)

    def call(self, piece_ids):
        params = {name: weight * self.lr_scale if self.lr_scale != 1.0 else weight
                  for name, weight in self.stored.items()}
        if self.trainable:
            params[WORD_EMBEDDINGS] = _dense_gradient(params[WORD_EMBEDDINGS])
        return sentence_vectors(params, self._bert, tf.cast(piece_ids, tf.int64))

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], self._bert.dim])

    def get_config(self):
        return {**super().get_config(), "checkpoint": self.checkpoint, "lr_scale": self.lr_scale}


class SentenceFusion(keras.layers.Layer):
    """Fuses the token path's sentence encoding ``t`` ``[B, Dt]`` and the pretrained
    sentence vector ``s`` ``[B, Ds]`` into ``[B, dim]``.

    ``concat``: ``relu(W [t; s] + b)``. ``gated``: ``g * tanh(W_s s) + (1 - g) * tanh(W_t t)``
    with a per-dimension gate ``g = sigmoid(W_g [t; s] + b_g)``, so each example can lean
    on the path that serves it best (e.g. the token path when misspellings break word pieces).
    """

    def __init__(self, mode: str, dim: int, **kwargs):
        super().__init__(**kwargs)
        if mode not in ("concat", "gated"):
            raise ValueError(f"SentenceFusion mode must be 'concat' or 'gated', got {mode!r}")
        self.mode = mode
        self.dim = dim
        if mode == "concat":
            self.project = keras.layers.Dense(dim, activation="relu", name="project")
        else:
            self.token_projection = keras.layers.Dense(dim, activation="tanh", name="token_projection")
            self.sentence_projection = keras.layers.Dense(dim, activation="tanh", name="sentence_projection")
            self.gate = keras.layers.Dense(dim, activation="sigmoid", name="gate")

    def call(self, inputs):
        token, sentence = inputs
        both = tf.concat([token, sentence], axis=-1)
        if self.mode == "concat":
            return self.project(both)
        gate = self.gate(both)
        return gate * self.sentence_projection(sentence) + (1.0 - gate) * self.token_projection(token)

    def get_config(self):
        return {**super().get_config(), "mode": self.mode, "dim": self.dim}


class SentencePath(NamedTuple):
    """The sentence path's part of the functional model."""

    inputs: Dict[str, keras.Input]  # {sentence_vector: [B, dim]} or {piece_ids: [B, P]}
    vector: tf.Tensor                # symbolic sentence vector [B, dim]
    model: keras.Model               # inputs -> vector (the embed_sentence signature)


def build_sentence_path(model_cfg: ModelConfig) -> Optional[SentencePath]:
    """The sentence path's inputs, vector and model; ``None`` when ``sentence_path`` is ``none``."""
    if model_cfg.sentence_path == "none":
        return None
    if model_cfg.sentence_placement == "transform":
        dim = read_config(model_cfg.sentence_checkpoint).hidden_size
        vector = keras.Input(shape=(dim,), dtype="float32", name=contract.SENTENCE_VECTOR)
        inputs = {contract.SENTENCE_VECTOR: vector}
    else:
        piece_ids = keras.Input(shape=(None,), dtype="int64", name=contract.PIECE_IDS)
        inputs = {contract.PIECE_IDS: piece_ids}
        encoder = BertEncoder(model_cfg.sentence_checkpoint, model_cfg.sentence_lr_scale,
                              trainable=model_cfg.sentence_tuning == "trainable", name="bert_encoder")
        vector = encoder(piece_ids)
    return SentencePath(inputs, vector, keras.Model(inputs, vector, name="sentence_path"))


def fuse(model_cfg: ModelConfig, token_sentence: tf.Tensor, path: Optional[SentencePath]) -> tf.Tensor:
    """The token path's sentence encoding fused with the sentence vector (unchanged without a path)."""
    if path is None:
        return token_sentence
    return SentenceFusion(model_cfg.sentence_path, model_cfg.sentence_fusion_dim, name="sentence_fusion")(
        [token_sentence, path.vector])
