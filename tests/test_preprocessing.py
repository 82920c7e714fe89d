"""tf.Transform preprocessing on real Beam runs: alignment, padding, vocabulary, skew."""
import collections
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from charword import contract
from charword.config import CharwordConfig
from preprocessing import text_ops
from tests.bert_helpers import numpy_sentence_vector, wordpiece_ids, write_checkpoint
from tests.transform_helpers import transform
from trainer import class_weights

CFG = CharwordConfig().replace(preprocessing=dict(max_tokens=6, max_chars=10, vocab_size=50,
                                                  frequency_threshold=2, num_oov_buckets=3))
PREP = CFG.preprocessing

TRAIN = [
    ("the film was good", "positive"),
    ("the film was bad", "negative"),
    ("a good good film!", "positive"),
    ("bad acting , bad film", "negative"),
    ("the acting was good", "positive"),
    ("rareword appears once", "negative"),
]
EVAL = [
    ("Café naïve résumé", "positive"),
    ("日本語 テキスト", "negative"),
    ("great 👍🎬 film", "positive"),
    ("one two three four five six seven eight nine", "negative"),
    ("supercalifragilisticexpialidocious film", "positive"),
    ("", "negative"),
    ("   \t ", "positive"),
]


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    return transform(TRAIN, EVAL, CFG, tmp_path_factory.mktemp("tft"))


@pytest.fixture(scope="module")
def layer(transformed):
    return tft.TFTransformOutput(transformed[0]).transform_features_layer()


def apply_layer(layer, texts):
    out = layer({contract.RAW_TEXT: tf.constant(texts), contract.RAW_LABEL: tf.constant(["positive"] * len(texts))})
    return {name: value.numpy() for name, value in out.items()}


def python_tokens(text):
    return [t.decode("utf-8") for t in text_ops.tokenize(tf.constant([text]), lowercase=True)[0].numpy()]


def test_tokenizer_rules_split_punctuation_symbols_and_normalise():
    assert python_tokens("Great!  ﬁlm,Ａbc") == ["great", "!", "film", ",", "abc"]
    assert python_tokens("日本 👍good") == ["日", "本", "👍", "good"]
    assert python_tokens("") == [] and python_tokens(" \t\n ") == []


@pytest.mark.parametrize("text", ["Café naïve résumé", "日本語", "great 👍🎬 film", "the film was good"])
def test_char_ids_of_token_i_decode_to_token_i(layer, text):
    out = apply_layer(layer, [text])
    tokens = python_tokens(text)
    assert 0 < len(tokens) <= PREP.max_tokens
    for i, token in enumerate(tokens):
        assert text_ops.decode_char_ids(out[contract.CHAR_IDS][0, i]) == token.encode("utf-8")
        assert out[contract.WORD_IDS][0, i] != contract.WORD_PAD_ID
    assert (out[contract.WORD_IDS][0, len(tokens):] == contract.WORD_PAD_ID).all()
    assert (out[contract.CHAR_IDS][0, len(tokens):] == contract.CHAR_PAD_ID).all()


def test_long_text_keeps_first_max_tokens_and_counts_the_rest(layer):
    text = "one two three four five six seven eight nine"
    out = apply_layer(layer, [text])
    assert out[contract.WORD_IDS].shape == (1, PREP.max_tokens)
    assert (out[contract.WORD_IDS][0] != 0).all()
    assert text_ops.decode_char_ids(out[contract.CHAR_IDS][0, -1]) == b"six"
    assert out[contract.TOKEN_COUNT][0] == 9 and out[contract.DROPPED_TOKEN_COUNT][0] == 3


def test_long_token_is_cut_to_max_chars_keeping_both_markers(layer):
    out = apply_layer(layer, ["supercalifragilisticexpialidocious film"])
    row = out[contract.CHAR_IDS][0, 0]
    assert row.shape == (PREP.max_chars,)
    assert row[0] == contract.BEGIN_OF_WORD_ID and row[-1] == contract.END_OF_WORD_ID
    assert text_ops.decode_char_ids(row) == b"supercalifragilisticexpialidocious"[: PREP.max_chars - 2]
    assert out[contract.TRUNCATED_TOKEN_COUNT][0] == 1


def test_empty_and_whitespace_text_become_all_padding(layer):
    out = apply_layer(layer, ["", "  \t "])
    assert (out[contract.WORD_IDS] == 0).all() and (out[contract.CHAR_IDS] == 0).all()
    assert (out[contract.TOKEN_COUNT] == 0).all() and (out[contract.HAS_OOV] == 0).all()


def test_vocabulary_frequent_words_get_ids_rare_words_share_oov_buckets(transformed, layer):
    vocab = [w.decode() for w in tft.TFTransformOutput(transformed[0]).vocabulary_by_name(contract.WORD_VOCAB)]
    assert {"film", "good", "bad", "the", "was", "acting"} <= set(vocab)
    assert "rareword" not in vocab  # seen once, below frequency_threshold=2
    out = apply_layer(layer, ["good film rareword unseenword"])
    ids = out[contract.WORD_IDS][0]
    assert ids[0] == vocab.index("good") + 1 and ids[1] == vocab.index("film") + 1
    oov_range = range(len(vocab) + 1, len(vocab) + 1 + PREP.num_oov_buckets)
    assert ids[2] in oov_range and ids[3] in oov_range
    assert (ids[4:] == contract.WORD_PAD_ID).all()
    assert out[contract.OOV_COUNT][0] == 2 and out[contract.HAS_OOV][0] == 1


def _rows_key(rows):
    return sorted(tuple(np.concatenate([np.ravel(row[name]) for name in sorted(row)]).tolist()) for row in rows)


def test_beam_output_equals_serving_layer_output(transformed, layer):
    """No training/serving skew: the TFT layer reproduces the Beam run row for row."""
    _, train_rows, eval_rows = transformed
    pairs = TRAIN + EVAL
    served = layer({contract.RAW_TEXT: tf.constant([t for t, _ in pairs]),
                    contract.RAW_LABEL: tf.constant([label for _, label in pairs])})
    served_rows = [{name: value.numpy()[i] for name, value in served.items()} for i in range(len(pairs))]
    assert len(train_rows) + len(eval_rows) == len(pairs)
    assert _rows_key(served_rows) == _rows_key(train_rows + eval_rows)


@pytest.fixture(scope="module", params=["transform", pytest.param("model", marks=pytest.mark.slow)])
def sentence_transformed(request, tmp_path_factory):
    """Transform with the sentence path (tiny checkpoint) placed in Transform or (slow: the
    WordPiece ids are also covered by tests/test_bert.py) in the model."""
    root = tmp_path_factory.mktemp(f"sentence_{request.param}")
    weights = write_checkpoint(str(root / "checkpoint"))
    cfg = CFG.replace(model=dict(sentence_path="gated", sentence_checkpoint=str(root / "checkpoint"),
                                 sentence_placement=request.param, sentence_max_pieces=8))
    return request.param, weights, transform(TRAIN, EVAL, cfg, root)


def test_beam_sentence_feature_equals_serving_layer_output(sentence_transformed):
    """No skew for the sentence path: the TFT layer recomputes the feature Beam wrote (WordPiece
    ids exactly, the encoder's vector to 1e-5), and both equal the independent references."""
    placement, weights, (graph_dir, train_rows, eval_rows) = sentence_transformed
    name = contract.SENTENCE_VECTOR if placement == "transform" else contract.PIECE_IDS
    other = set(contract.SENTENCE_INPUTS) - {name}
    assert all(name in row and not other & set(row) for row in train_rows + eval_rows)
    texts = [text for text, _ in TRAIN + EVAL]
    served = apply_layer(tft.TFTransformOutput(graph_dir).transform_features_layer(), texts)
    by_tokens = {}
    for row in train_rows + eval_rows:
        by_tokens.setdefault((row[contract.WORD_IDS].tobytes(), row[contract.CHAR_IDS].tobytes()), []).append(row[name])
    for i, text in enumerate(texts):
        beam = by_tokens[(served[contract.WORD_IDS][i].tobytes(), served[contract.CHAR_IDS][i].tobytes())]
        pieces = wordpiece_ids(text, max_pieces=8)
        if placement == "model":
            assert served[name][i].tolist() == pieces + [0] * (8 - len(pieces)), text
            assert any(np.array_equal(b, served[name][i]) for b in beam), text
        else:
            np.testing.assert_allclose(served[name][i], numpy_sentence_vector(weights, pieces, heads=2), atol=1e-4)
            assert any(np.allclose(b, served[name][i], atol=1e-5) for b in beam), text


@pytest.mark.parametrize("labels", [(0, 1), pytest.param(("negative", "positive"), marks=pytest.mark.slow),
                                    ("cat", "dog", "bird")])
def test_label_vocabulary_handles_integer_and_string_classes(tmp_path, labels):
    """Label ids index the ``labels`` vocabulary; ``label_counts`` counts the train
    split's labels (not the eval split's), and the balanced class weights follow the
    vocabulary's order."""
    texts = ["alpha beta", "gamma delta", "epsilon zeta", "eta theta"]
    pairs = [(text, labels[i % len(labels)]) for i, text in enumerate(texts)]
    graph_dir, train_rows, _ = transform(pairs, pairs[:1], CFG, tmp_path / "tft")
    output = tft.TFTransformOutput(graph_dir)
    classes = [c.decode() for c in output.vocabulary_by_name(contract.LABEL_VOCAB)]
    assert sorted(classes) == sorted(str(label) for label in labels)
    ids = sorted(int(row[contract.LABEL_ID]) for row in train_rows)
    assert ids == sorted(classes.index(str(label)) for _, label in pairs)
    counts = collections.Counter(str(label) for _, label in pairs)
    assert class_weights.label_counts(output) == counts
    weights = class_weights.weights_for(output, "balanced")
    assert list(weights) == classes
    assert weights == pytest.approx({label: len(pairs) / (len(counts) * counts[label]) for label in classes})
    assert class_weights.weights_for(output, "none") is None
    os.remove(output.vocabulary_file_by_name(contract.LABEL_COUNTS))  # as an older Transform wrote it
    with pytest.raises(ValueError, match=f"{re.escape(graph_dir)}.*no 'label_counts'.*run Transform again"):
        class_weights.weights_for(output, "balanced")
