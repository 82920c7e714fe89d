"""Pretrained word vectors in the Trainer: initial rows, coverage, and what training does
to the rows in each mode."""
import collections
import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata.proto import metadata_store_pb2

import charword
from charword import contract
from charword.config import CharwordConfig
from charword.word_vectors import read_word_vectors
from cli.main import main as cli_main
from pipeline import run_summary
from standalone.fn_args import make_fn_args
from standalone.transform import rows_from_pairs, transform_rows
from tests.conftest import demo_subset, learnable_pairs
from trainer import pretrained, task
from trainer.model import build_models

DIM = 6
# Words of conftest.learnable_pairs; "Wonderful" (first) and "wonderful" (second) test
# that the first occurrence wins after lower-casing. "absent" is not in the data.
FILE_WORDS = ("the", "movie", "was", "Wonderful", "wonderful", "terrible", "awful", ".", "absent")


def _vectors_file(path):
    rng = np.random.default_rng(7)
    lines = [f"{len(FILE_WORDS)} {DIM}"] + [word + " " + " ".join(f"{v:.5f}" for v in rng.normal(size=DIM))
                                            for word in FILE_WORDS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _cfg(vectors, **model):
    return CharwordConfig().replace(
        preprocessing=dict(max_tokens=8, max_chars=16, frequency_threshold=1, num_oov_buckets=4),
        model={"word_dim": DIM, "char_dim": 4, "char_output_dim": 8, "token_dim": 8, "sentence_units": 8,
               "char_filters": ((1, 4), (3, 4)), "char_ngram_buckets": 1000, "word_bigram_buckets": 1000,
               "word_vectors": vectors, **model},
        training=dict(batch_size=8, train_steps=12, eval_steps=2, learning_rate=0.05))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """One Transform run of a small sentiment set, and a vectors file for some of its words."""
    work = tmp_path_factory.mktemp("pretrained")
    vectors = _vectors_file(work / "vectors.vec")
    train = learnable_pairs(120, 1, typo_rate=0.0)
    data = transform_rows(rows_from_pairs(train), rows_from_pairs(learnable_pairs(24, 2, typo_rate=0.0)),
                          _cfg(vectors), str(work))
    return {"work": work, "vectors": vectors, "data": data, "train": train, "runs": {}}


def _train(setup, name, **model):
    """The run_fn arguments of a training run with these model settings (each trained
    once per module: the coverage test and the frozen case share one)."""
    if name not in setup["runs"]:
        cfg = _cfg(setup["vectors"], **model)
        fn_args = make_fn_args(setup["data"], cfg, str(setup["work"] / name))
        task.run_fn(fn_args)
        setup["runs"][name] = fn_args
    return setup["runs"][name]


def _word_rows(model_dir, words):
    """The word-branch vectors the exported model gives ``words`` (one text, one token each)."""
    out = charword.load_model(model_dir).signatures[contract.EMBED_TOKENS](text=tf.constant([" ".join(words)]))
    return out[contract.WORD_EMBEDDINGS].numpy()[0, :len(words)]


def _file_rows(setup, words):
    vectors = read_word_vectors(setup["vectors"])
    return np.stack([vectors.get(word) for word in words])


FOUND = ["the", "movie", "was", "wonderful", "terrible", "awful", "."]


def test_initial_rows_take_found_vectors_zero_padding_and_noise_elsewhere(tmp_path):
    vectors = read_word_vectors(_vectors_file(tmp_path / "v.txt"))
    vocabulary = ["wonderful", "plot", "the", "absent-not", "awful"]
    init = pretrained.initial_rows(vectors, vocabulary, num_oov_buckets=3, seed=1)
    assert init.matrix.shape == (1 + 5 + 3, DIM) and init.matrix.dtype == np.float32
    np.testing.assert_array_equal(init.found, [False, True, False, True, False, True, False, False, False])
    np.testing.assert_array_equal(init.matrix[0], np.zeros(DIM))
    for word, row in (("wonderful", 1), ("the", 3), ("awful", 5)):
        np.testing.assert_array_equal(init.matrix[row], vectors.get(word))
    others = init.matrix[[2, 4, 6, 7, 8]]
    assert np.all(others != 0) and len({tuple(r) for r in others}) == 5
    again = pretrained.initial_rows(vectors, vocabulary, num_oov_buckets=3, seed=1)
    np.testing.assert_array_equal(again.matrix, init.matrix)


def test_no_vocabulary_word_in_the_file_is_an_error(tmp_path):
    vectors = read_word_vectors(_vectors_file(tmp_path / "v.txt"))
    with pytest.raises(ValueError, match=r"none of the 2 vocabulary words is in .*v\.txt"):
        pretrained.initial_rows(vectors, ["zebra", "quixotic"], num_oov_buckets=2, seed=0)


def test_word_dimension_differing_from_the_file_adds_a_projection(tmp_path):
    cfg = _cfg(_vectors_file(tmp_path / "v.txt"), word_dim=10, word_vectors_mode="frozen")
    init = pretrained.initial_rows(read_word_vectors(cfg.model.word_vectors), ["the", "movie"], 4, seed=0)
    models = build_models(cfg.model, cfg.preprocessing, 2, 2, init)
    table = models.classifier.get_layer("word_embedding")
    assert not table.trainable and table.get_weights()[0].shape == (7, DIM)
    assert models.classifier.get_layer("word_projection").trainable
    out = models.branch_encoder({contract.WORD_IDS: np.array([[1, 2, 0]]), contract.CHAR_IDS: np.ones((1, 3, 5))})
    assert out[contract.WORD_EMBEDDINGS].shape == (1, 3, 10)
    with pytest.raises(ValueError, match="model.word_vectors and word_init go together"):
        build_models(cfg.model, cfg.preprocessing, 2, 2)


@pytest.mark.slow
def test_coverage_counts_vocabulary_words_and_train_tokens(setup):
    fn_args = _train(setup, "frozen_0", word_vectors_mode="frozen", word_vectors_unfreeze_step=0)
    with open(os.path.join(fn_args.model_run_dir, contract.WORD_VECTORS_REPORT), encoding="utf-8") as handle:
        coverage = json.load(handle)
    tokens = collections.Counter(token for text, _ in setup["train"] for token in text.split())
    in_file = set(FOUND)
    assert coverage["vocabulary_words"] == len(tokens)
    assert coverage["words_found"] == len(in_file & set(tokens))
    assert coverage["train_tokens"] == sum(tokens.values())
    assert coverage["tokens_found"] == sum(n for word, n in tokens.items() if word in in_file)
    assert coverage["dim"] == DIM and coverage["file_words"] == len(FILE_WORDS) and coverage["mode"] == "frozen"
    found = run_summary.read_model_run_report(metadata_store_pb2.Artifact(uri=fn_args.model_run_dir),
                                             contract.WORD_VECTORS_REPORT)
    assert found == coverage
    assert run_summary.read_model_run_report(metadata_store_pb2.Artifact(uri=str(setup["work"])),
                                            contract.WORD_VECTORS_REPORT) is None
    text = run_summary.format_summary(run_summary.RunSummary(
        components=[], metrics={}, blessed=None, validation_failures=[], servable=None, servable_reason="",
        pushed=False, pushed_to=None, evaluation_uri=None, baseline_model=None, word_vectors=found))
    assert (f"word vectors: {setup['vectors']} ({DIM}-d, frozen): {coverage['words_found']} of "
            f"{coverage['vocabulary_words']} vocabulary words") in text


@pytest.mark.slow
@pytest.mark.parametrize("mode,unfreeze_step,changes", [
    ("frozen", 0, False),
    ("frozen_then_trainable", 1000, False),  # never unfrozen: zero gradients leave Adam's update exactly 0
    ("trainable", 0, True),
    ("frozen_then_trainable", 4, True),
])
def test_found_rows_after_training(setup, caplog, mode, unfreeze_step, changes):
    caplog.set_level(logging.INFO, logger="trainer")
    fn_args = _train(setup, f"{mode}_{unfreeze_step}", word_vectors_mode=mode,
                     word_vectors_unfreeze_step=unfreeze_step)
    trained, original = _word_rows(fn_args.serving_model_dir, FOUND), _file_rows(setup, FOUND)
    if changes:
        assert np.abs(trained - original).max() > 1e-3
    else:
        np.testing.assert_array_equal(trained, original)
    unfrozen = "Step 4: the pretrained word vectors are trainable from now on" in caplog.text
    assert unfrozen == (mode == "frozen_then_trainable" and changes)


@pytest.mark.slow
@pytest.mark.e2e
def test_pipeline_trains_from_word_vectors_given_by_one_flag(tmp_path, capsys):
    """``charword run --word-vectors PATH``: the summary shows the coverage, and the Trainer
    writes projector files and the map next to its TensorBoard logs when asked."""
    vectors = tmp_path / "vectors.txt"
    rng = np.random.default_rng(0)
    words = ["the", "movie", "film", "was", "great", "terrible", "wonderful", "boring", "!", "."]
    vectors.write_text("".join(f"{w} " + " ".join(f"{v:.3f}" for v in rng.normal(size=8)) + "\n" for w in words),
                       encoding="utf-8")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"training": {"projector_words": 200}}), encoding="utf-8")
    out = tmp_path / "outputs"
    data = str(demo_subset(tmp_path / "reviews.csv", 600))
    code = cli_main(["run", "--data", data, "--output-dir", str(out), "--train-steps", "60", "--config", str(config),
                     "--word-vectors", str(vectors), "--summary-json", str(tmp_path / "summary.json")])
    printed = capsys.readouterr().out
    assert code == 0
    assert f"word vectors: {vectors} (8-d, frozen_then_trainable): " in printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 0 < summary["word_vectors"]["words_found"] <= len(words)
    assert 0 < summary["word_vectors"]["token_fraction"] < 1
    runs = [root for root, _, files in os.walk(out) if contract.WORD_VECTORS_REPORT in files]
    assert len(runs) == 1
    for name in ("projector_config.pbtxt", "metadata.tsv", "word.tsv", "char.tsv", "merged.tsv", "map.png"):
        assert os.path.getsize(os.path.join(runs[0], name)) > 0, name
