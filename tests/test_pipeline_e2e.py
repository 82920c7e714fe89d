"""The full local TFX pipeline on demo data (LocalDagRunner, Beam DirectRunner).

The tests run in order against one output directory, as a user's successive runs
would: bless and push, re-run from cache against the baseline, a worse model that is
refused, and data with anomalies that stops before training.
"""
import csv
import hashlib
import os

import pytest

from charword.cli import DEMO_DATA
from charword.config import CharwordConfig
from components.anomaly_gate import DataAnomaliesError
from pipeline.local_run import run_local

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _write_rows(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return str(path)


def _serving_snapshot(push_dir):
    """{version: sha256 of saved_model.pb} of everything under the push directory."""
    snapshot = {}
    for version in sorted(os.listdir(push_dir)) if os.path.isdir(push_dir) else []:
        with open(os.path.join(push_dir, version, "saved_model.pb"), "rb") as handle:
            snapshot[version] = hashlib.sha256(handle.read()).hexdigest()
    return snapshot


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    with open(DEMO_DATA, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:1501]
    cfg = CharwordConfig().replace(
        pipeline=dict(output_dir=str(root / "outputs"), direct_running_mode="in_memory"),
        preprocessing=dict(max_tokens=24, max_chars=16),
        model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32),
        training=dict(train_steps=200, epochs=4, eval_steps=8),
        evaluation=dict(min_accuracy=0.65, max_accuracy_drop=0.05))
    return {"cfg": cfg, "data": _write_rows(root / "reviews.csv", rows), "rows": rows, "root": root}


def _component_states(summary):
    return {run.component: run.state for run in summary.components}


def test_first_run_blesses_and_pushes(workspace):
    summary = run_local(workspace["cfg"], workspace["data"])
    workspace["first"] = summary
    states = _component_states(summary)
    assert all(state == "ran" for state in states.values()), states
    assert summary.blessed and summary.servable and summary.pushed
    assert summary.pushed_to.startswith(workspace["cfg"].pipeline.push_dir)
    assert os.path.exists(os.path.join(summary.pushed_to, "saved_model.pb"))
    assert {"overall", "has_oov=0", "has_oov=1"} <= set(summary.metrics)
    assert summary.metrics["overall"]["sparse_categorical_accuracy"] >= 0.65
    assert "macro_auc" in summary.metrics["overall"]
    assert os.path.exists(os.path.join(workspace["cfg"].pipeline.pinned_schema_dir, "schema.pbtxt"))


def test_second_run_reuses_cache_and_compares_with_the_baseline(workspace):
    summary = run_local(workspace["cfg"], workspace["data"])
    states = _component_states(summary)
    for component in ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer"):
        assert states[component] == "cached", states
    assert states["Evaluator"] == "ran"
    assert summary.baseline_model is not None
    assert summary.blessed  # the same model is not worse than itself


def test_a_clearly_worse_model_is_not_blessed_and_nothing_is_pushed(workspace):
    cfg = workspace["cfg"]
    before = _serving_snapshot(cfg.pipeline.push_dir)
    worse = cfg.replace(training=dict(train_steps=2, epochs=1, learning_rate=1e-7))
    summary = run_local(worse, workspace["data"])
    assert summary.blessed is False and summary.pushed is False
    assert any("sparse_categorical_accuracy" in failure for failure in summary.validation_failures)
    assert _serving_snapshot(cfg.pipeline.push_dir) == before


def test_anomalous_data_stops_before_training_and_pushes_nothing(workspace):
    cfg = workspace["cfg"]
    before = _serving_snapshot(cfg.pipeline.push_dir)
    # Integer labels where the pinned schema has the string classes positive/negative.
    rows = [(text, 1 if label == "positive" else 0) for text, label in workspace["rows"]]
    bad_data = _write_rows(workspace["root"] / "relabelled.csv", rows)
    with pytest.raises(DataAnomaliesError) as error:
        run_local(cfg, bad_data)
    message = str(error.value)
    assert "'label'" in message and "SchemaDiff.pb" in message
    assert _serving_snapshot(cfg.pipeline.push_dir) == before
