"""End to end: ``charword pretrain`` on the demo texts, its words starting from a small
word-vectors file, pushes an encoder whose held-out perplexity fell during training and
that ``charword embed`` and ``inspect`` read; ``charword run --init-from`` starts a
classifier without the vectors file from it, uses its vocabulary and says so."""
import glob
import json
import os

import numpy as np
import pytest

from charword import contract
from cli.main import main
from tests.conftest import demo_subset
from trainer import init_from

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _word_vectors(path, words, dim=8):
    """A GloVe-style text file of random ``dim``-d vectors for ``words``."""
    rows = np.random.default_rng(0).normal(size=(len(words), dim))
    path.write_text("".join(f"{word} {' '.join(f'{x:.4f}' for x in row)}\n" for word, row in zip(words, rows)),
                    encoding="utf-8")
    return str(path)


def test_pretrain_then_fine_tune_from_the_pushed_encoder(tmp_path, capsys):
    data = str(demo_subset(tmp_path / "demo.csv", 600))
    out = str(tmp_path / "out")
    pretrain_summary = tmp_path / "pretrain.json"
    vectors = _word_vectors(tmp_path / "vectors.txt", ["the", "film", "plot", "was", "terrible", "delight", "movie"])
    assert main(["pretrain", "--data", data, "--output-dir", out, "--max-epochs", "4", "--num-sampled", "64",
                 "--word-vectors", vectors, "--summary-json", str(pretrain_summary)]) == 0
    pretrained = json.loads(pretrain_summary.read_text(encoding="utf-8"))
    assert pretrained["word_vectors"]["words_found"] == 7 and pretrained["word_vectors"]["dim"] == 8
    language_model = pretrained["language_model"]
    assert language_model["perplexity"] < 0.6 * language_model["untrained_perplexity"], language_model
    assert pretrained["pushed"] and pretrained["pushed_to"].startswith(os.path.join(out, "serving", "charword-encoder"))
    encoder = pretrained["pushed_to"]
    for name in (init_from.MANIFEST, init_from.VOCABULARY, contract.SAVED_MODEL_FILE):
        assert os.path.exists(os.path.join(encoder, name)), name
    printed = capsys.readouterr().out
    assert "charword pretrain summary" in printed and "language model: held-out perplexity" in printed
    assert f"--init-from {encoder}" in printed

    assert main(["embed", "a wonderful film", "--model-dir", encoder]) == 0
    embedded = capsys.readouterr().out
    assert "'a wonderful film': 3 token(s), 128-dimensional vectors" in embedded  # forward + backward states

    projector = tmp_path / "projector"
    assert main(["inspect", "--model-dir", encoder, "--out", str(projector), "--projector-words", "50"]) == 0
    assert (projector / "merged.tsv").exists() and "map.png: not drawn" in capsys.readouterr().out

    run_summary = tmp_path / "run.json"
    assert main(["run", "--data", data, "--output-dir", out, "--max-epochs", "2", "--init-from", encoder,
                 "--summary-json", str(run_summary)]) == 0
    summary = json.loads(run_summary.read_text(encoding="utf-8"))
    assert summary["init_from"]["path"] == encoder and summary["init_from"]["tensors"] > 0
    assert summary["init_from"]["mode"] == "trainable"
    assert "started from the pretrained encoder" in capsys.readouterr().out
    # blessed or not (two passes over 600 rows), the run's transform graph holds the encoder's vocabulary
    run_vocabulary, = glob.glob(os.path.join(out, "pipeline_root", "charword", "Transform", "transform_graph", "*",
                                             "transform_fn", "assets", contract.WORD_VOCAB))
    with open(run_vocabulary, encoding="utf-8") as mine, \
            open(os.path.join(encoder, init_from.VOCABULARY), encoding="utf-8") as theirs:
        assert mine.read() == theirs.read()
