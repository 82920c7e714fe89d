"""Runs the Trainer as a multi-worker cluster of processes on this machine.

Each task is a process with its own ``TF_CONFIG`` (``{chief, worker...}`` on free
127.0.0.1 ports), as Vertex AI or a TFJob start one per machine, and runs TFX's generic
Trainer executor on the same artefacts, as every replica of TFX's Vertex AI Trainer
does (``python -m tfx.scripts.run_executor``): the executor builds the ``FnArgs``, calls
``run_fn`` and then checks that the model directory exists. Tests and benchmarks use it;
``python -m standalone.multi_worker`` is one task.
"""
import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from typing import List, Optional

import charword  # noqa: F401  (sets the Keras flavour before TensorFlow loads)
from charword.net import free_ports
from standalone.transform import TransformedData

_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULT_ENV = "CHARWORD_TRAINING_RESULT"


class ClusterTrainingError(RuntimeError):
    """A task failed or timed out; the message names its log and ends with its tail."""


def tf_configs(tasks: int) -> List[Optional[dict]]:
    """One ``TF_CONFIG`` per task: a chief and ``tasks - 1`` workers; ``[None]`` for one task."""
    if tasks == 1:
        return [None]
    addresses = [f"127.0.0.1:{port}" for port in free_ports(tasks)]
    cluster = {"chief": addresses[:1], "worker": addresses[1:]}
    return [{"cluster": cluster, "task": {"type": "chief", "index": 0}}] + [
        {"cluster": cluster, "task": {"type": "worker", "index": i}} for i in range(tasks - 1)]


def _tail(path: str, lines: int = 30) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


def train_on_cluster(data: TransformedData, config: dict, work_dir: str, tasks: int = 2,
                     train_steps: Optional[int] = None, timeout_s: float = 900.0) -> List[dict]:
    """Runs the Trainer in ``tasks`` processes (chief first) and returns each one's
    :class:`trainer.training.TrainingResult` as a dict, in task order. The model goes to
    ``work_dir/model/Format-Serving`` as a Trainer component's would.

    ``config`` is :meth:`CharwordConfig.to_dict`. Logs go to ``work_dir/logs/``. When a
    task fails or ``timeout_s`` passes, every task's process group is killed and
    :class:`ClusterTrainingError` names the first failure.
    """
    work_dir = os.path.abspath(work_dir)  # the tasks and the executor's artefacts must agree on paths
    os.makedirs(os.path.join(work_dir, "logs"), exist_ok=True)
    examples_dir = os.path.join(work_dir, "examples")  # Transform's layout: one Split-<name> folder per split
    os.makedirs(examples_dir, exist_ok=True)
    for split, pattern in (("train", data.train_pattern), ("eval", data.eval_pattern)):
        os.symlink(os.path.abspath(os.path.dirname(pattern)), os.path.join(examples_dir, f"Split-{split}"))
    config_path = os.path.join(work_dir, "config.json")
    with open(config_path, "w", encoding="utf-8") as handle:
        json.dump(config, handle)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
    processes, logs, results = [], [], []
    try:
        for index, tf_config in enumerate(tf_configs(tasks)):
            name = "chief" if index == 0 else f"worker-{index - 1}"
            logs.append(os.path.join(work_dir, "logs", f"{name}.log"))
            results.append(os.path.join(work_dir, "logs", f"{name}.json"))
            task_env = {key: value for key, value in env.items() if key != "TF_CONFIG"}
            if tf_config:
                task_env["TF_CONFIG"] = json.dumps(tf_config)
            with open(logs[-1], "w", encoding="utf-8") as log:
                processes.append(subprocess.Popen(
                    [sys.executable, "-m", "standalone.multi_worker", "--graph", data.transform_graph_dir,
                     "--examples", examples_dir, "--config", config_path, "--work-dir", work_dir,
                     "--result", results[-1], *(["--train-steps", str(train_steps)] if train_steps else [])],
                    env=task_env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True))
        deadline = time.time() + timeout_s
        while any(p.poll() is None for p in processes):
            failed = [i for i, p in enumerate(processes) if p.returncode not in (None, 0)]
            if failed:
                raise ClusterTrainingError(f"task {failed[0]} exited with code {processes[failed[0]].returncode} "
                                           f"(log {logs[failed[0]]}):\n{_tail(logs[failed[0]])}")
            if time.time() > deadline:
                raise ClusterTrainingError(f"the cluster did not finish within {timeout_s:.0f} s (logs in "
                                           f"{os.path.dirname(logs[0])}):\n{_tail(logs[0])}")
            time.sleep(0.5)
        for index, process in enumerate(processes):
            if process.returncode != 0:
                raise ClusterTrainingError(f"task {index} exited with code {process.returncode} "
                                           f"(log {logs[index]}):\n{_tail(logs[index])}")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    loaded = []
    for path in results:
        with open(path, encoding="utf-8") as handle:
            loaded.append(json.load(handle))
    return loaded


def recording_run_fn(fn_args):
    """The Trainer's ``run_fn``, its :class:`trainer.training.TrainingResult` written as
    JSON to the file named by ``$CHARWORD_TRAINING_RESULT`` (the executor drops it)."""
    from trainer import task  # pylint: disable=import-outside-toplevel
    result = task.run_fn(fn_args)
    path = os.environ[RESULT_ENV]
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(dataclasses.asdict(result), handle)
    os.replace(path + ".tmp", path)
    return result


def main(argv: Optional[List[str]] = None) -> int:
    """One task: TFX's generic Trainer executor on a standalone Transform output."""
    parser = argparse.ArgumentParser(prog="python -m standalone.multi_worker", description=main.__doc__)
    parser.add_argument("--graph", required=True, help="transform graph directory")
    parser.add_argument("--examples", required=True, help="transformed examples: Split-train/ and Split-eval/")
    parser.add_argument("--config", required=True, help="CharwordConfig.to_dict() as a JSON file")
    parser.add_argument("--work-dir", required=True, help="the Trainer's output directory, shared by all tasks")
    parser.add_argument("--result", required=True, help="where this task writes its TrainingResult (JSON)")
    parser.add_argument("--train-steps", type=int)
    args = parser.parse_args(argv)
    import logging  # pylint: disable=import-outside-toplevel

    from tfx.components.trainer.executor import GenericExecutor  # pylint: disable=import-outside-toplevel
    from tfx.types import artifact_utils, standard_artifacts  # pylint: disable=import-outside-toplevel

    from charword.config import CharwordConfig  # pylint: disable=import-outside-toplevel
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    with open(args.config, encoding="utf-8") as handle:
        config = json.load(handle)
    training = CharwordConfig.from_dict(config).training
    examples = standard_artifacts.Examples()
    examples.uri = args.examples
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    graph = standard_artifacts.TransformGraph()
    graph.uri = args.graph
    model, model_run = standard_artifacts.Model(), standard_artifacts.ModelRun()
    model.uri, model_run.uri = os.path.join(args.work_dir, "model"), os.path.join(args.work_dir, "model_run")
    os.environ[RESULT_ENV] = args.result
    GenericExecutor().Do(
        {"examples": [examples], "transform_graph": [graph]}, {"model": [model], "model_run": [model_run]},
        {"train_args": json.dumps({"num_steps": args.train_steps or training.train_steps}),
         "eval_args": json.dumps({"num_steps": training.eval_steps}), "custom_config": json.dumps(config),
         "run_fn": "standalone.multi_worker.recording_run_fn"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
