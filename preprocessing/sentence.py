"""The sentence path's Transform features (``model.sentence_path`` other than ``none``).

WordPiece ids of the raw text are computed in the transform graph
(:mod:`preprocessing.bert.wordpiece`). With ``model.sentence_placement`` ``transform``
the frozen encoder runs there too and the pooled vector is the feature
``sentence_vector`` [dim] (computed once per example by Beam, and by the same graph at
serving); with ``model`` the ids are the feature ``piece_ids`` [max_pieces] and the
encoder runs in the model. The checkpoint's weights and vocabulary are stored in the
transform graph, so serving never reads the checkpoint directory.
"""
import functools
from typing import Dict

import tensorflow as tf
import tensorflow_transform as tft

from charword import contract
from charword.config import ModelConfig
from preprocessing.bert.checkpoint import load_checkpoint
from preprocessing.bert.encoder import BertModule
from preprocessing.bert.wordpiece import WordPieceTokenizer


# One tokenizer and one encoder per checkpoint in a process: tf.Transform traces
# preprocessing_fn many times, and each new encoder would be traced (and its weights
# copied) again.
@functools.lru_cache(maxsize=2)
def _tokenizer(path: str, max_pieces: int) -> WordPieceTokenizer:
    return WordPieceTokenizer(load_checkpoint(path), max_pieces)


@functools.lru_cache(maxsize=2)
def _encoder(path: str) -> BertModule:
    return BertModule(load_checkpoint(path))


def sentence_features(text: tf.Tensor, model_cfg: ModelConfig) -> Dict[str, tf.Tensor]:
    """``{sentence_vector: [B, dim]}``, ``{piece_ids: [B, max_pieces]}`` or ``{}`` (no
    sentence path) for raw text ``[B]``; call inside ``preprocessing_fn``."""
    if model_cfg.sentence_path == "none":
        return {}
    path = model_cfg.sentence_checkpoint
    tokenizer = tft.make_and_track_object(lambda: _tokenizer(path, model_cfg.sentence_max_pieces),
                                          name="sentence_wordpiece")
    piece_ids = tokenizer(text)
    if model_cfg.sentence_placement == "model":
        return {contract.PIECE_IDS: piece_ids}
    encoder = tft.make_and_track_object(lambda: _encoder(path), name="sentence_encoder")
    return {contract.SENTENCE_VECTOR: encoder(piece_ids)}
