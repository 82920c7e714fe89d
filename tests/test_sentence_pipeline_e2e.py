"""The whole local pipeline with a sentence path: a tiny BERT checkpoint written by the test,
``model.sentence_path`` gated (vector materialised by Transform), demo data. The model is
blessed, proven servable and pushed; the model server then answers ``predict_text`` and
``embed_sentence``, whose vectors equal an independent numpy forward pass."""
import os

import httpx
import numpy as np
import pytest

from charword import contract
from charword.config import CharwordConfig
from pipeline import layout
from pipeline.local_run import run_local
from preprocessing.bert.checkpoint import load_checkpoint
from tests.bert_helpers import numpy_sentence_vector, wordpiece_ids, write_checkpoint
from tests.conftest import demo_subset
from tests.test_serving import NAME, PREDICT, ThreadServer, ready, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_gated_sentence_path_blesses_pushes_and_serves(tmp_path):
    checkpoint = str(tmp_path / "checkpoint")
    write_checkpoint(checkpoint)
    data = demo_subset(tmp_path / "reviews.csv", 1500)
    cfg = CharwordConfig().replace(
        pipeline=dict(output_dir=str(tmp_path / "outputs"), model_name=NAME, direct_running_mode="in_memory"),
        preprocessing=dict(max_tokens=24, max_chars=16),
        model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32, sentence_path="gated",
                   sentence_checkpoint=checkpoint, sentence_max_pieces=16, sentence_fusion_dim=32),
        training=dict(train_steps=200, eval_steps=8),
        evaluation=dict(min_accuracy=0.65, max_accuracy_drop=0.05))

    summary = run_local(cfg, str(data))
    assert summary.blessed and summary.servable and summary.pushed, summary
    assert summary.metrics["overall"]["sparse_categorical_accuracy"] >= 0.65
    assert os.path.exists(os.path.join(summary.pushed_to, contract.SAVED_MODEL_FILE))

    server = ThreadServer(layout.push_dir(cfg.pipeline))
    try:
        wait_for(lambda: ready(server.url), 180, "the pushed model to load")
        texts = ["the movie was wonderful .", "this film was terrible and dull .", "Café naïve !"]
        rows = httpx.post(f"{server.url}{PREDICT}", json={"instances": texts[:2]}, timeout=60).json()["predictions"]
        assert [row[contract.LABEL] for row in rows] == ["positive", "negative"]
        body = {"signature_name": contract.EMBED_SENTENCE, "instances": texts}
        served = np.array(httpx.post(f"{server.url}{PREDICT}", json=body, timeout=60).json()["predictions"])
    finally:
        server.stop()
    weights = load_checkpoint(checkpoint).weights
    for row, text in enumerate(texts):
        expected = numpy_sentence_vector(weights, wordpiece_ids(text, max_pieces=16), heads=2)
        np.testing.assert_allclose(served[row], expected, atol=1e-4, err_msg=text)
