"""Pipeline faults with real processes: a concurrent run is refused, and a run killed
in the middle of training is recovered by the next run from the cache."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from charword.config import CharwordConfig
from pipeline import layout
from pipeline.local_run import PipelineBusyError, run_local
from tests.conftest import demo_subset

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _wait_for(condition, timeout, process, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        assert process.poll() is None, f"the run ended (exit {process.returncode}) before {what}"
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _trainer_started(cfg):
    run_dir = os.path.join(layout.pipeline_root(cfg.pipeline), "Trainer", "model_run")
    return os.path.isdir(run_dir) and any(files for _, _, files in os.walk(run_dir))


def test_concurrent_run_is_refused_and_a_killed_trainer_is_recovered(tmp_path):
    data = demo_subset(tmp_path / "reviews.csv", 1000)
    cfg = CharwordConfig().replace(
        pipeline=dict(output_dir=str(tmp_path / "outputs"), direct_running_mode="in_memory"),
        preprocessing=dict(max_tokens=24, max_chars=16),
        model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32),
        training=dict(train_steps=300, eval_steps=4),
        evaluation=dict(min_accuracy=0.55))
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(cfg.to_dict()))

    first = subprocess.Popen([sys.executable, "-m", "cli", "run", "--data", str(data),
                              "--config", str(config_file)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        lock = os.path.join(cfg.pipeline.output_dir, f"{cfg.pipeline.name}.lock")
        _wait_for(lambda: os.path.exists(lock) and f"pid {first.pid}" in open(lock).read(), 300, first,
                  "the first run took the lock")
        with pytest.raises(PipelineBusyError, match="another run of pipeline 'charword' is in progress"):
            run_local(cfg, str(data))

        _wait_for(lambda: _trainer_started(cfg), 600, first, "the Trainer started")
        time.sleep(5)
        os.killpg(first.pid, signal.SIGKILL)  # the whole run, Beam workers included
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    assert first.returncode == -signal.SIGKILL
    assert not os.path.exists(layout.push_dir(cfg.pipeline)) or not os.listdir(layout.push_dir(cfg.pipeline))

    summary = run_local(cfg, str(data))
    states = {run.component: run.state for run in summary.components}
    for upstream in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform"):
        assert states[upstream] == "cached", states
    assert states["Trainer"] == "ran"
    assert summary.blessed and summary.pushed
    assert os.path.exists(os.path.join(summary.pushed_to, "saved_model.pb"))
