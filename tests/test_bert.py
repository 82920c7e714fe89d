"""The BERT checkpoint converter and in-graph WordPiece against independent references:
a numpy forward pass and a Python WordPiece (tests/bert_helpers.py), on a tiny random
checkpoint written by the test; the real MiniLM checkpoint in a slow test."""
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from preprocessing.bert.checkpoint import CheckpointError, load_checkpoint
from preprocessing.bert.encoder import BertModule
from preprocessing.bert.wordpiece import WordPieceTokenizer
from tests import bert_helpers
from tests.bert_helpers import TINY_VOCAB, numpy_sentence_vector, wordpiece_ids, write_checkpoint

MINILM = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "models", "all-MiniLM-L6-v2"))
SENTENCES = ["The film was good!", "a dull plot, unbelievable acting .", "Café naïve résumé", "",
             "great great great great great great great great great great great great great great great",
             "xyzzy 日本 movie?"]


def _encode(checkpoint, texts, max_pieces=16):
    ids = WordPieceTokenizer(checkpoint, max_pieces)(tf.constant(texts))
    return ids.numpy(), BertModule(checkpoint)(ids).numpy()


@pytest.mark.parametrize("options", [
    dict(),                                                   # sentence-transformers: mean pooling, normalised
    dict(sentence_transformers=False),                        # plain BERT: [CLS] hidden state
    dict(hidden_act="gelu_new", seed=3),
    dict(hidden_act="relu", sentence_transformers=False, seed=4),
])
def test_tiny_checkpoint_matches_numpy_forward_pass(tmp_path, options):
    weights = write_checkpoint(str(tmp_path), **options)
    checkpoint = load_checkpoint(str(tmp_path))
    mean = options.get("sentence_transformers", True)
    assert (checkpoint.pooling, checkpoint.normalize) == (("mean", True) if mean else ("cls", False))
    ids, vectors = _encode(checkpoint, SENTENCES)
    assert vectors.shape == (len(SENTENCES), 8)
    for row, text in enumerate(SENTENCES):
        pieces = wordpiece_ids(text)
        expected = numpy_sentence_vector(weights, pieces, heads=2, activation=options.get("hidden_act", "gelu"),
                                         pooling="mean" if mean else "cls", normalize=mean)
        np.testing.assert_allclose(vectors[row], expected, atol=1e-4, err_msg=text)


def test_sentence_vector_does_not_depend_on_the_batch(tmp_path):
    write_checkpoint(str(tmp_path))
    checkpoint = load_checkpoint(str(tmp_path))
    _, batched = _encode(checkpoint, SENTENCES, max_pieces=16)
    for row, text in enumerate(SENTENCES):
        _, alone = _encode(checkpoint, [text], max_pieces=12 if row != 4 else 16)
        np.testing.assert_allclose(alone[0], batched[row], atol=1e-5)


@pytest.mark.parametrize("max_pieces", [4, 16])
def test_in_graph_wordpiece_ids_equal_python_wordpiece(tmp_path, max_pieces):
    write_checkpoint(str(tmp_path))
    ids = WordPieceTokenizer(load_checkpoint(str(tmp_path)), max_pieces)(tf.constant(SENTENCES)).numpy()
    assert ids.shape == (len(SENTENCES), max_pieces)
    for row, text in enumerate(SENTENCES):
        expected = wordpiece_ids(text, max_pieces=max_pieces)
        assert ids[row].tolist() == expected + [0] * (max_pieces - len(expected)), text


def test_wordpiece_ids_of_hand_checked_sentences(tmp_path):
    """Accents stripped, a word split into pieces, an unknown word, truncation, empty text."""
    write_checkpoint(str(tmp_path))
    tokenizer = WordPieceTokenizer(load_checkpoint(str(tmp_path)), 6)
    ids = tokenizer(tf.constant(["Café naïve!", "unbelievable films", "xyzzy plot", "the film was good , great", ""]))
    pieces = [[TINY_VOCAB[i] for i in row if i] for row in ids.numpy()]
    assert pieces == [["[CLS]", "cafe", "naive", "!", "[SEP]"],
                      ["[CLS]", "un", "##believ", "##able", "film", "[SEP]"],  # "##s" dropped by truncation
                      ["[CLS]", "[UNK]", "plot", "[SEP]"],
                      ["[CLS]", "the", "film", "was", "good", "[SEP]"],
                      ["[CLS]", "[SEP]"]]


def test_checkpoint_is_read_through_tf_gfile(tmp_path):
    """A ``ram://`` copy loads like the local one: every read goes through tf.io.gfile
    (which is what makes ``gs://`` work)."""
    write_checkpoint(str(tmp_path))
    remote = "ram://bert_ckpt_test"
    for root, _, files in os.walk(tmp_path):
        for name in files:
            relative = os.path.relpath(os.path.join(root, name), tmp_path)
            tf.io.gfile.makedirs(os.path.dirname(f"{remote}/{relative}"))
            tf.io.gfile.copy(os.path.join(root, name), f"{remote}/{relative}", overwrite=True)
    local, copied = load_checkpoint(str(tmp_path)), load_checkpoint(remote)
    assert copied.vocab == local.vocab and copied.pooling == local.pooling == "mean"
    np.testing.assert_array_equal(_encode(copied, SENTENCES)[1], _encode(local, SENTENCES)[1])


def _rewrite_json(path, **changes):
    with open(path, encoding="utf-8") as handle:
        values = json.load(handle)
    values.update(changes)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(values, handle)


def test_wrong_shape_names_the_tensor_and_both_shapes(tmp_path):
    weights = bert_helpers.random_weights(bert_helpers.TINY_SIZES, len(TINY_VOCAB))
    weights["encoder.layer.1.intermediate.dense.weight"] = np.zeros((12, 8), np.float32)
    write_checkpoint(str(tmp_path), weights=weights)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor 'encoder\.layer\.1\.intermediate\.dense"
                                              r"\.weight' has shape \[12, 8\], config\.json implies \[16, 8\]"):
        load_checkpoint(str(tmp_path))


def test_missing_tensor_is_named(tmp_path):
    weights = bert_helpers.random_weights(bert_helpers.TINY_SIZES, len(TINY_VOCAB))
    del weights["encoder.layer.0.attention.self.key.bias"]
    write_checkpoint(str(tmp_path), weights=weights)
    with pytest.raises(CheckpointError, match=r"missing tensor 'encoder\.layer\.0\.attention\.self\.key\.bias'"):
        load_checkpoint(str(tmp_path))


@pytest.mark.parametrize("changes, message", [
    (dict(hidden_act="swish"), r"config\.json: hidden_act 'swish' is not supported"),
    (dict(num_attention_heads=3), r"config\.json: hidden_size 8 is not a multiple of num_attention_heads 3"),
    (dict(num_hidden_layers=0), r"config\.json: num_hidden_layers must be an integer > 0, got 0"),
    (dict(vocab_size=99), r"vocab\.txt: 38 pieces, but .*config\.json has vocab_size 99"),
    (dict(position_embedding_type="relative_key"), r"position_embedding_type 'relative_key' is not supported"),
])
def test_bad_config_names_the_field(tmp_path, changes, message):
    write_checkpoint(str(tmp_path))
    _rewrite_json(os.path.join(tmp_path, "config.json"), **changes)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(str(tmp_path))


def test_unsupported_pooling_and_missing_special_token_are_named(tmp_path):
    write_checkpoint(str(tmp_path / "a"))
    _rewrite_json(os.path.join(tmp_path, "a", "1_Pooling", "config.json"), pooling_mode_max_tokens=True)
    with pytest.raises(CheckpointError, match=r"1_Pooling/config\.json: pooling_mode_max_tokens is not supported"):
        load_checkpoint(str(tmp_path / "a"))
    write_checkpoint(str(tmp_path / "b"), vocab=TINY_VOCAB[:2] + ("[CLX]",) + TINY_VOCAB[3:])
    with pytest.raises(CheckpointError, match=r"vocab\.txt: the cls_token '\[CLS\]' is not in the vocabulary"):
        load_checkpoint(str(tmp_path / "b"))


def test_truncated_weights_file_names_the_tensor(tmp_path):
    write_checkpoint(str(tmp_path))
    path = os.path.join(tmp_path, "model.safetensors")
    with open(path, "rb") as handle:
        blob = handle.read()
    with open(path, "wb") as handle:
        handle.write(blob[:-100])
    with pytest.raises(CheckpointError, match=r"model\.safetensors: tensor '[\w.]+' of shape \[.*\] and dtype "
                                              r"[FI](32|64) needs \d+ bytes"):
        load_checkpoint(str(tmp_path))


def test_max_pieces_beyond_the_position_table_is_refused(tmp_path):
    write_checkpoint(str(tmp_path))
    with pytest.raises(CheckpointError, match=r"max_pieces 17 must be in \[3, 16\] \(max_position_embeddings\)"):
        WordPieceTokenizer(load_checkpoint(str(tmp_path)), 17)


@pytest.mark.slow
def test_minilm_matches_numpy_forward_pass():
    if not os.path.exists(os.path.join(MINILM, "model.safetensors")):
        pytest.skip(f"all-MiniLM-L6-v2 not found at {MINILM}")
    checkpoint = load_checkpoint(MINILM)
    assert (checkpoint.pooling, checkpoint.normalize, checkpoint.lowercase) == ("mean", True, True)
    texts = ["A gripping, beautifully acted film.", "Dull and far too long; I wanted my money back!",
             "Café naïve résumé", ""]
    ids, vectors = _encode(checkpoint, texts, max_pieces=64)
    vocab = checkpoint.vocab
    for row, text in enumerate(texts):
        pieces = wordpiece_ids(text, vocab=vocab, max_pieces=64)
        assert ids[row][: len(pieces)].tolist() == pieces
        expected = numpy_sentence_vector(checkpoint.weights, pieces, heads=12)
        np.testing.assert_allclose(vectors[row], expected, atol=1e-4, err_msg=text)
