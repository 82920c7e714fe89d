"""The pipeline on Beam's portable runner: a job service and an external SDK worker pool
in their own processes (:mod:`pipeline.beam_cluster`), the Job and Fn APIs Flink,
Spark and Dataflow v2 run Python through.

``charword run`` is started from its own working directory with a relative output
directory while the workers run elsewhere, so any path, main-session object or
unpicklable function the workers get from the driver fails here as it would on a
cluster. The run's Transform output must equal the DirectRunner's on the same staged
data.
"""
import contextlib
import csv
import glob
import json
import os
import subprocess
import sys
from typing import Dict, List, Tuple

import psutil
import pytest
import tensorflow as tf
from tfx import v1 as tfx
from tfx.orchestration import pipeline as pipeline_py

from charword import staging
from charword.config import CharwordConfig
from charword.demo_data import DEMO_DATA
from pipeline import beam_cluster, layout
from pipeline.pipeline import create_pipeline, staged_splits_config
from tests import process_group

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = dict(preprocessing=dict(max_tokens=24, max_chars=16),
                model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32),
                training=dict(train_steps=200, eval_steps=8),
                evaluation=dict(min_accuracy=0.65, max_accuracy_drop=0.05))


def _run_cli(args: List[str], cwd: str, timeout: int) -> subprocess.CompletedProcess:
    """``python -m cli ARGS`` in ``cwd``, everything it starts killed on the way out."""
    return process_group.run([sys.executable, "-m", "cli", *args], cwd=cwd,
                             env=dict(os.environ, PYTHONPATH=PROJECT_ROOT), timeout_s=timeout)


def _transform_outputs(pipeline_root: str) -> Tuple[Dict[str, List[tuple]], Dict[str, bytes]]:
    """The Transform component's output under ``pipeline_root``: each split's examples
    (canonical and sorted, as sharding may order them differently) and the
    vocabulary files."""
    examples = {}
    for split in ("train", "eval"):
        files = sorted(glob.glob(os.path.join(pipeline_root, "Transform", "transformed_examples", "*",
                                              f"Split-{split}", "*")))
        assert files, f"no transformed {split} examples under {pipeline_root}"
        rows = []
        for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            rows.append(tuple(sorted((name, tuple(feature.int64_list.value) or tuple(feature.float_list.value)
                                      or tuple(feature.bytes_list.value))
                                     for name, feature in example.features.feature.items())))
        examples[split] = sorted(rows)
    assets = glob.glob(os.path.join(pipeline_root, "Transform", "transform_graph", "*", "transform_fn", "assets",
                                    "*"))
    vocabularies = {}
    for path in assets:
        with open(path, "rb") as handle:
            vocabularies[os.path.basename(path)] = handle.read()
    return examples, vocabularies


def _direct_runner_transform(cfg: CharwordConfig, data_dir: str, work_dir: str) -> str:
    """Runs the pipeline up to Transform on the DirectRunner; returns its pipeline root."""
    pipeline_root = os.path.join(work_dir, "pipeline_root")
    pipeline = create_pipeline(
        cfg, data_root=data_dir, num_classes=2, pipeline_root=pipeline_root, input_config=staged_splits_config(),
        metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
            os.path.join(work_dir, "metadata.sqlite")),
        beam_args=("--direct_running_mode=in_memory", "--direct_num_workers=1"))
    tfx.orchestration.LocalDagRunner().run(pipeline, run_options=pipeline_py.RunOptions(to_nodes=["Transform"]))
    return pipeline_root


@pytest.fixture
def cluster(tmp_path):
    with beam_cluster.local_cluster(str(tmp_path / "cluster")) as running:
        yield running


def test_charword_run_on_the_portable_runner_pushes_and_transforms_as_the_direct_runner(cluster, tmp_path):
    driver_dir = tmp_path / "driver"
    driver_dir.mkdir()
    with open(DEMO_DATA, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[:1001]
    with open(driver_dir / "reviews.csv", "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    (driver_dir / "config.json").write_text(json.dumps(SETTINGS))

    result = _run_cli(["run", "--data", "reviews.csv", "--config", "config.json", "--output-dir", "outputs",
                       "--summary-json", "summary.json",
                       *(f"--beam-arg={arg}" for arg in cluster.beam_args(workers=2))],
                      cwd=str(driver_dir), timeout=1500)
    assert result.returncode == 0, result.stdout[-5000:]
    summary = json.loads((driver_dir / "summary.json").read_text())
    assert {c["component"]: c["state"] for c in summary["components"]}["Transform"] == "ran"
    assert summary["blessed"] and summary["servable"] and summary["pushed"], summary
    with open(os.path.join(cluster.state_dir, "worker-pool.log"), encoding="utf-8") as log:
        assert log.read().count("Starting worker") >= 2  # each stage was split over two workers
    zombies = []  # workers end with their job; the pool must not keep them as zombies
    for child in psutil.Process(cluster.pids[1]).children():
        with contextlib.suppress(psutil.NoSuchProcess):
            zombies += [child.pid] if child.status() == psutil.STATUS_ZOMBIE else []
    assert zombies == []

    cfg = CharwordConfig().replace(**SETTINGS, pipeline=dict(output_dir=str(driver_dir / "outputs")))
    portable_examples, portable_vocabularies = _transform_outputs(layout.pipeline_root(cfg.pipeline))
    staged_splits = os.path.join(layout.staged_data_dir(cfg.pipeline), staging.SPLITS_DIR)
    direct_root = _direct_runner_transform(cfg, staged_splits, str(tmp_path / "direct"))
    direct_examples, direct_vocabularies = _transform_outputs(direct_root)
    assert sorted(portable_vocabularies) == sorted(direct_vocabularies) and direct_vocabularies
    assert portable_vocabularies == direct_vocabularies
    assert {split: len(rows) for split, rows in portable_examples.items()} == \
        {split: len(rows) for split, rows in direct_examples.items()}
    assert portable_examples == direct_examples
