"""Pretrained word vectors for the word branch: the initial embedding rows, coverage, and
the step at which ``frozen_then_trainable`` unfreezes them.

Rows of the word embedding (``contract.word_vocab_input_dim``): row 0 is padding
(zeros); row ``i + 1`` is vocabulary word ``i`` (the tf.Transform vocabulary, most
frequent first): its vector from the file when found; vocabulary words not found and
the OOV buckets get normal noise with the found vectors' per-dimension mean and
standard deviation (seeded). The embedding keeps the file's dimension; the model adds a
linear projection to ``model.word_dim`` when they differ (:func:`trainer.model.build_models`).

Coverage, logged and written as ``contract.WORD_VECTORS_REPORT`` (JSON) to the model
run directory, where the run summary finds it:
  words: vocabulary words found in the file / vocabulary words;
  tokens: tokens of the train split (kept tokens, padding excluded) whose word id is a
    found row / all such tokens (OOV-bucket tokens count as not found).
"""
import dataclasses
import json
import logging
import os
import time
from typing import Optional, Sequence

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from charword import contract
from charword.config import CharwordConfig, ModelConfig
from charword.word_vectors import WordVectors, read_word_vectors
from trainer import distribution, layers

logger = logging.getLogger(__name__)

GATE_LAYER = "word_embedding_gate"
WORD_EMBEDDING = "word_embedding"
WORD_PROJECTION = "word_projection"  # pretrained dimension -> word_dim


@dataclasses.dataclass(frozen=True)
class Coverage:
    """How much of the vocabulary and of the training tokens the file covers."""

    path: str
    dim: int
    file_words: int
    vocabulary_words: int
    words_found: int
    train_tokens: int
    tokens_found: int
    read_seconds: float
    count_seconds: float

    @property
    def word_fraction(self) -> float:
        return self.words_found / self.vocabulary_words if self.vocabulary_words else 0.0

    @property
    def token_fraction(self) -> float:
        return self.tokens_found / self.train_tokens if self.train_tokens else 0.0

    def describe(self) -> str:
        return (f"{self.words_found} of {self.vocabulary_words} vocabulary words ({self.word_fraction:.1%}), "
                f"{self.tokens_found} of {self.train_tokens} train tokens ({self.token_fraction:.1%})")

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "word_fraction": self.word_fraction,
                "token_fraction": self.token_fraction}


@dataclasses.dataclass(frozen=True)
class InitialRows:
    """The word embedding's initial rows and which of them came from the file.

    Attributes:
      matrix: float32 ``[1 + V + B, D]`` (padding, vocabulary, OOV buckets).
      found: bool ``[1 + V + B]``; True for vocabulary rows taken from the file.
    """

    matrix: np.ndarray
    found: np.ndarray


def initial_rows(vectors: WordVectors, vocabulary: Sequence[str], num_oov_buckets: int, seed: int) -> InitialRows:
    """Rows for ``vocabulary`` (normalised words, in id order) from ``vectors``.

    Raises ValueError when no vocabulary word is in the file (a wrong file or casing).
    """
    rows = contract.word_vocab_input_dim(len(vocabulary), num_oov_buckets)
    found = np.zeros(rows, bool)
    sources = np.zeros(rows, np.int64)
    for i, word in enumerate(vocabulary):
        row = vectors.index.get(word)
        if row is not None:
            found[i + 1] = True
            sources[i + 1] = row
    if not found.any():
        raise ValueError(f"none of the {len(vocabulary)} vocabulary words is in {vectors.path} "
                         f"({vectors.lines} words): check the file and preprocessing.lowercase")
    known = vectors.vectors[sources[found]]
    mean, std = known.mean(axis=0), known.std(axis=0)
    matrix = np.random.default_rng(seed).normal(mean, std, size=(rows, vectors.dim)).astype(np.float32)
    matrix[found] = known
    matrix[contract.WORD_PAD_ID] = 0.0
    return InitialRows(matrix, found)


def count_word_ids(file_pattern: Sequence[str], data_accessor: tfx.components.DataAccessor,
                   tf_transform_output: tft.TFTransformOutput, rows: int) -> np.ndarray:
    """How often each word id occurs in the transformed examples, ``[rows]`` int64 (one
    pass, reading the ``word_ids`` feature only)."""
    schema = tf_transform_output.transformed_metadata.schema.__class__()
    schema.CopyFrom(tf_transform_output.transformed_metadata.schema)
    kept = [feature for feature in schema.feature if feature.name == contract.WORD_IDS]
    del schema.feature[:]
    schema.feature.extend(kept)
    dataset = data_accessor.tf_dataset_factory(
        file_pattern, tfxio.TensorFlowDatasetOptions(batch_size=1024, num_epochs=1, shuffle=False), schema)
    counts = tf.zeros([rows], tf.int64)
    for batch in dataset:
        ids = tf.reshape(batch[contract.WORD_IDS], [-1])
        counts += tf.math.bincount(ids, minlength=rows, maxlength=rows, dtype=tf.int64)
    return counts.numpy()


def prepare(cfg: CharwordConfig, tf_transform_output: tft.TFTransformOutput, fn_args: tfx.components.FnArgs
            ) -> Optional[InitialRows]:
    """The initial word rows when ``model.word_vectors`` is set (else None); logs the
    coverage, and the chief writes it to ``<model_run_dir>/contract.WORD_VECTORS_REPORT``."""
    path = cfg.model.word_vectors
    if not path:
        return None
    vocabulary = [word.decode("utf-8", "replace")
                  for word in tf_transform_output.vocabulary_by_name(contract.WORD_VOCAB)]
    started = time.perf_counter()
    vectors = read_word_vectors(path, vocabulary, cfg.preprocessing.lowercase)
    read_seconds = time.perf_counter() - started
    init = initial_rows(vectors, vocabulary, cfg.preprocessing.num_oov_buckets, cfg.training.seed)
    started = time.perf_counter()
    counts = count_word_ids(fn_args.train_files, fn_args.data_accessor, tf_transform_output, len(init.found))
    counts[contract.WORD_PAD_ID] = 0
    coverage = Coverage(path, vectors.dim, vectors.lines, len(vocabulary), int(init.found.sum()),
                        int(counts.sum()), int(counts[init.found].sum()), read_seconds,
                        time.perf_counter() - started)
    logger.info("Word vectors %s (%d words, %d dimensions, read in %.1f s, train tokens counted in %.1f s, mode %s): "
                "%s", path, vectors.lines, vectors.dim, read_seconds, coverage.count_seconds,
                cfg.model.word_vectors_mode, coverage.describe())
    if distribution.is_chief():
        tf.io.gfile.makedirs(fn_args.model_run_dir)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, contract.WORD_VECTORS_REPORT), "w") as handle:
            handle.write(json.dumps({**coverage.to_dict(), "mode": cfg.model.word_vectors_mode}, indent=2))
    return init


class UnfreezeAt(keras.callbacks.Callback):
    """Opens ``gate`` (a :class:`trainer.layers.GradientGate` above pretrained weights,
    ``what``) before training step ``step`` (counted from 0 over the whole fit), then does
    nothing more."""

    def __init__(self, step: int, gate: layers.GradientGate, what: str = "the pretrained word vectors"):
        super().__init__()
        self.step = step
        self.gate = gate
        self.what = what
        self._seen = 0
        self._done = False

    def on_train_batch_begin(self, batch, logs=None):
        if not self._done and self._seen >= self.step:
            self.gate.open_gate()
            self._done = True
            logger.info("Step %d: %s are trainable from now on", self._seen, self.what)
        self._seen += 1


def callbacks(model_cfg: ModelConfig, classifier: keras.Model) -> list:
    """The callbacks training ``classifier`` needs for ``model_cfg``'s word vectors (possibly none)."""
    if model_cfg.word_vectors and model_cfg.word_vectors_mode == "frozen_then_trainable":
        return [UnfreezeAt(model_cfg.word_vectors_unfreeze_step, classifier.get_layer(GATE_LAYER))]
    return []


def word_embedding(model_cfg: ModelConfig, vocab_rows: int, word_ids, init: Optional[InitialRows]):
    """The word branch on the symbolic ``word_ids`` [B, T]: the ``word_embedding`` table
    (random, or ``init`` set up for ``model_cfg.word_vectors_mode``), then a
    ``word_projection`` to ``word_dim`` when the file's dimension differs. Returns word
    vectors [B, T, word_dim]."""
    if init is None:
        return keras.layers.Embedding(vocab_rows, model_cfg.word_dim, name=WORD_EMBEDDING)(word_ids)
    if init.matrix.shape[0] != vocab_rows:
        raise ValueError(f"the initial word rows have {init.matrix.shape[0]} rows, the embedding {vocab_rows}")
    mode = model_cfg.word_vectors_mode
    table = keras.layers.Embedding(vocab_rows, init.matrix.shape[1], trainable=mode != "frozen",
                                   name=WORD_EMBEDDING)
    vectors = table(word_ids)
    table.set_weights([init.matrix])
    if mode == "frozen_then_trainable":
        vectors = layers.GradientGate(name=GATE_LAYER)(vectors)
    if init.matrix.shape[1] != model_cfg.word_dim:
        vectors = keras.layers.Dense(model_cfg.word_dim, use_bias=False, name=WORD_PROJECTION)(vectors)
    return vectors
