"""The portable-runner Transform and multi-worker training benchmarks: their arithmetic,
and (slow) a smoke run of each on a few rows."""
import csv
import json
import os
import sys

import pytest

from bench import multi_worker_training, portable_transform
from tests import process_group
from tests.conftest import learnable_pairs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = {"preprocessing": {"max_tokens": 10, "max_chars": 16},
        "model": {"word_dim": 16, "char_output_dim": 16, "token_dim": 24, "sentence_units": 16,
                  "char_filters": [[1, 8], [2, 8]]},
        "training": {"batch_size": 8, "epochs": 2, "eval_steps": 2, "train_steps": 6}}


def test_transform_report_takes_ratios_against_the_direct_runner_in_the_same_rounds():
    walls = {"direct": [10.0, 14.0], "direct x2": [20.0, 20.0], "portable x1": [12.0, 12.0],
             "portable x2": [6.0, 10.0]}
    table, summary = portable_transform.report(walls, rows=1200, cluster_start_s=3.04, command="cmd")
    assert summary["setups"]["direct"]["mean_s"] == 12.0 and summary["setups"]["direct"]["rows_per_s"] == 100.0
    assert summary["setups"]["portable x2"]["std_s"] == pytest.approx(2.83, abs=0.01)
    assert "| portable x2 | 8.0 ± 2.8 | 150 | 1.50x | 1.40-1.67x |" in table
    assert "| direct x2 | 20.0 ± 0.0 | 60 | 0.60x | 0.50-0.70x |" in table
    assert summary["cluster_start_s"] == 3.0 and "3.0 s" in table


def test_training_report_uses_the_steady_epochs_and_compares_with_one_task():
    assert multi_worker_training.steady_rate([10.0, 200.0, 300.0, 400.0]) == 300.0
    assert multi_worker_training.steady_rate([50.0]) == 50.0
    table, summary = multi_worker_training.report({1: [100.0, 120.0], 2: [150.0, 150.0]}, {1: [30.0, 34.0],
                                                  2: [50.0, 50.0]}, batch=32, steps=300, command="cmd")
    assert summary["tasks"][2]["mean"] == 150.0
    assert "| 2 | 2 | 64 | 150 ± 0 | 1.36x | 1.25-1.50x | 50 ± 0 |" in table
    assert "| 1 | 1 | 32 | 110 ± 14 | 1.00x | 1.00-1.00x | 32 ± 3 |" in table


@pytest.fixture
def tiny_tsv(tmp_path):
    path = tmp_path / "tiny.tsv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(["sentence", "label"])
        writer.writerows((text, int(label == "positive")) for text, label in learnable_pairs(80, 5))
    return str(path)


def _bench(module: str, args, tmp_path) -> dict:
    out = tmp_path / "out"
    result = process_group.run([sys.executable, "-m", module, *args, "--out", str(out)], cwd=REPO,
                               timeout_s=1500)
    assert result.returncode == 0, result.output[-3000:]
    with open(out / "report.json", encoding="utf-8") as handle:
        return json.load(handle)


@pytest.mark.slow
def test_portable_transform_benchmark_runs_every_set_up(tiny_tsv, tmp_path):
    report = _bench("bench.portable_transform", ["--data", tiny_tsv, "--rows", "40", "--rounds", "1"], tmp_path)
    assert report["rows"] == 40
    assert sorted(report["setups"]) == sorted(portable_transform.SETUPS)
    assert all(len(setup["wall_s"]) == 1 and setup["wall_s"][0] > 0 for setup in report["setups"].values())


@pytest.mark.slow
def test_multi_worker_training_benchmark_runs_one_and_two_tasks(tiny_tsv, tmp_path):
    config = tmp_path / "tiny.json"
    config.write_text(json.dumps(TINY))
    report = _bench("bench.multi_worker_training", ["--data", tiny_tsv, "--rows", "60", "--steps", "6",
                                                    "--rounds", "1", "--config", str(config)], tmp_path)
    assert sorted(report["tasks"]) == ["1", "2"]
    assert all(task["mean"] > 0 for task in report["tasks"].values())
