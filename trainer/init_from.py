"""A pretrained encoder (:mod:`trainer.language_model`) on disk, and starting a
classifier from it.

An encoder directory holds ``encoder.json`` (the preprocessing and model settings it was
trained with, its LSTM width and its word vocabulary), ``words`` (that vocabulary, one word
a line, as Transform writes it: a run that starts from the encoder uses it as its own)
and ``weights/`` (a TensorFlow checkpoint of the token encoder and of the forward and
backward LSTMs). A classifier
starts from it when everything that shapes the token ids and the token layer is the
same: the preprocessing section, the token-layer fields of the model section and the
word vocabulary, row by row. The token encoder's weights are copied as they are; with
``model.init_from_layers`` ``token_layer_and_bilstm`` the two LSTMs become the forward and
backward halves of the classifier's BiLSTM sentence encoder (``model.sentence_encoder``
``bilstm`` or ``bilstm_max`` with ``model.sentence_units`` equal to the encoder's width);
with ``token_layer`` the sentence encoder starts fresh.
"""
import dataclasses
import json
import os
from typing import Dict, List, NamedTuple, Optional, Sequence

import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import ConfigError, ModelConfig, PreprocessingConfig
from trainer.language_model import BiLanguageModel

MANIFEST = "encoder.json"
VOCABULARY = contract.WORD_VOCAB  # the file name Transform gives its word vocabulary
WEIGHTS = os.path.join("weights", "encoder")
# The model fields that shape the token encoder's weights.
TOKEN_LAYER_FIELDS = ("variant", "word_dim", "char_dim", "char_encoder", "char_filters", "char_lstm_units",
                      "char_output_dim", "char_ngrams", "char_ngram_buckets", "highway_layers", "merge", "token_dim",
                      "oov_routing")


class InitFromError(ConfigError):
    """A pretrained encoder that cannot start this run, naming the difference."""


class EncoderManifest(NamedTuple):
    """What ``encoder.json`` records."""

    preprocessing: Dict
    model: Dict  # the TOKEN_LAYER_FIELDS
    units: int
    vocabulary: List[str]


def _token_layer(model_cfg: ModelConfig) -> Dict:
    values = json.loads(json.dumps(dataclasses.asdict(model_cfg)))  # tuples as lists, as JSON keeps them
    return {name: values[name] for name in TOKEN_LAYER_FIELDS}


def save_encoder(language_model: BiLanguageModel, directory: str, prep_cfg: PreprocessingConfig,
                 model_cfg: ModelConfig, vocabulary: Sequence[str]) -> None:
    """Writes ``language_model``'s encoder and its manifest to ``directory``."""
    tf.io.gfile.makedirs(directory)
    manifest = EncoderManifest(json.loads(json.dumps(dataclasses.asdict(prep_cfg))), _token_layer(model_cfg),
                               language_model.units, list(vocabulary))
    with tf.io.gfile.GFile(os.path.join(directory, MANIFEST), "w") as handle:
        json.dump(manifest._asdict(), handle)
    with tf.io.gfile.GFile(os.path.join(directory, VOCABULARY), "w") as handle:
        handle.write("".join(f"{word}\n" for word in vocabulary))
    tf.train.Checkpoint(token_encoder=language_model.token_encoder, forward=language_model.forward_lstm,
                        backward=language_model.backward_lstm).write(os.path.join(directory, WEIGHTS))


def read_manifest(directory: str) -> EncoderManifest:
    """The manifest of the encoder in ``directory``; a missing or unreadable one names the file."""
    path = os.path.join(directory, MANIFEST)
    try:
        with tf.io.gfile.GFile(path) as handle:
            return EncoderManifest(**json.load(handle))
    except (tf.errors.NotFoundError, ValueError, TypeError) as error:
        raise InitFromError(f"model.init_from {directory}: {path} cannot be read as a pretrained encoder's "
                            f"manifest: {error}") from None


def check_compatible(manifest: EncoderManifest, directory: str, prep_cfg: PreprocessingConfig,
                     model_cfg: ModelConfig, vocabulary: Optional[Sequence[str]] = None) -> None:
    """Raises :class:`InitFromError` naming the first setting or vocabulary row in which
    this run differs from the encoder's (the vocabulary is compared when given)."""
    def refuse(what: str, ours, theirs):
        raise InitFromError(f"model.init_from {directory}: {what} is {ours!r} in this run but {theirs!r} in the "
                            "pretrained encoder; both must be the same")
    run_prep = json.loads(json.dumps(dataclasses.asdict(prep_cfg)))
    for name, theirs in sorted(manifest.preprocessing.items()):
        if run_prep.get(name) != theirs:
            refuse(f"preprocessing.{name}", run_prep.get(name), theirs)
    run_model = _token_layer(model_cfg)
    for name, theirs in sorted(manifest.model.items()):
        if run_model.get(name) != theirs:
            refuse(f"model.{name}", run_model.get(name), theirs)
    if with_bilstm(model_cfg):
        if model_cfg.sentence_encoder not in ("bilstm", "bilstm_max"):
            refuse("model.sentence_encoder", model_cfg.sentence_encoder, "a BiLSTM (bilstm or bilstm_max)")
        if model_cfg.sentence_units != manifest.units:
            refuse("model.sentence_units", model_cfg.sentence_units, manifest.units)
    if vocabulary is None:
        return
    if len(vocabulary) != len(manifest.vocabulary):
        refuse("the word vocabulary's size", len(vocabulary), len(manifest.vocabulary))
    for row, (ours, theirs) in enumerate(zip(vocabulary, manifest.vocabulary)):
        if ours != theirs:
            refuse(f"word vocabulary row {row}", ours, theirs)


def with_bilstm(model_cfg: ModelConfig) -> bool:
    """Whether the classifier's sentence BiLSTM starts from the encoder's LSTMs too."""
    return model_cfg.init_from_layers == "token_layer_and_bilstm"


def restore(classifier: keras.Model, token_encoder: keras.Model, directory: str, bilstm: bool = True) -> None:
    """Copies the encoder's weights into ``token_encoder`` and, with ``bilstm``, the
    classifier's sentence BiLSTM (call :func:`check_compatible` first)."""
    parts = {"token_encoder": token_encoder}
    if bilstm:
        encoder = classifier.get_layer("sentence_encoder").encoder
        parts.update(forward=encoder.forward_layer, backward=encoder.backward_layer)
    status = tf.train.Checkpoint(**parts).read(os.path.join(directory, WEIGHTS))
    status.assert_existing_objects_matched()
    if not bilstm:
        status.expect_partial()  # the encoder's LSTMs are left out on purpose


def check_encoder(directory: str, prep_cfg: PreprocessingConfig, model_cfg: ModelConfig) -> EncoderManifest:
    """The manifest of the encoder in ``directory`` once it is known to fit this run's
    settings and to hold its vocabulary file: the check a run makes before any step."""
    manifest = read_manifest(directory)
    vocabulary = os.path.join(directory, VOCABULARY)
    if not tf.io.gfile.exists(vocabulary):
        raise InitFromError(f"model.init_from {directory}: the vocabulary file {vocabulary} is missing")
    check_compatible(manifest, directory, prep_cfg, model_cfg)
    return manifest


def start_from(classifier: keras.Model, token_encoder: keras.Model, model_cfg: ModelConfig,
               prep_cfg: PreprocessingConfig, vocabulary: Sequence[str]) -> Dict:
    """Checks ``model_cfg.init_from`` against this run (``vocabulary``: the word vocabulary
    Transform used), restores it into the classifier and applies ``init_from_mode``
    (``frozen``: the pretrained layers stop training; ``frozen_then_trainable`` relies on
    the classifier's :data:`trainer.model.INIT_FROM_GATE`). Returns what was loaded, for the run summary."""
    directory = model_cfg.init_from
    manifest = read_manifest(directory)
    check_compatible(manifest, directory, prep_cfg, model_cfg, vocabulary)
    bilstm = with_bilstm(model_cfg)
    restore(classifier, token_encoder, directory, bilstm)
    sentence_encoder = classifier.get_layer("sentence_encoder")
    if model_cfg.init_from_mode == "frozen":
        token_encoder.trainable = False
        if bilstm:
            sentence_encoder.trainable = False
    tensors = len(token_encoder.weights) + (len(sentence_encoder.encoder.weights) if bilstm else 0)
    return {"path": directory, "mode": model_cfg.init_from_mode, "tensors": tensors,
            "layers": model_cfg.init_from_layers,
            "vocabulary_words": len(manifest.vocabulary), "units": manifest.units,
            "unfreeze_step": model_cfg.init_from_unfreeze_step if model_cfg.init_from_mode == "frozen_then_trainable"
            else None}

