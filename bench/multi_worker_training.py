"""Training examples/s of ``run_fn`` as a 2-process MultiWorkerMirroredStrategy cluster
against 1 process, on the same transformed data, in one run.

  python -m bench.multi_worker_training --data ../shared/data/sst2/train.tsv [--rows 20000]
      [--steps 300] [--rounds 3] [--out DIR]

The rows are transformed once (DirectRunner). Each round then runs
:func:`harness.multi_worker.train_on_cluster` with 1 task (no ``TF_CONFIG``: the
single-machine strategy) and with 2 tasks (a chief and a worker on 127.0.0.1), in
rotating order, with the same per-replica batch and steps, so the 2-task run does twice
the examples per step. The figure per run is the chief's median examples/s over its
epochs after the first (tf.function tracing and the first collective set-up fall in the
first); the run's wall time (process start and TensorFlow import included) is reported
too. Both tasks share this machine's cores, so the ratio measures what the collective
all-reduce costs here, not what separate machines gain. Writes ``report.md`` and
``report.json`` under ``--out``.
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import charword  # noqa: E402,F401  pylint: disable=wrong-import-position  (Keras flavour before TensorFlow)
from bench.inputs import sample_rows  # noqa: E402  pylint: disable=wrong-import-position
from bench.phases import progress  # noqa: E402  pylint: disable=wrong-import-position
from charword.config import load_config  # noqa: E402  pylint: disable=wrong-import-position
from harness.multi_worker import train_on_cluster  # noqa: E402  pylint: disable=wrong-import-position
from harness.transform import rows_from_pairs, transform_rows  # noqa: E402  pylint: disable=wrong-import-position

TASKS = (1, 2)


def steady_rate(examples_per_s: Sequence[float]) -> float:
    """Median examples/s over the epochs after the first (all of them if there is one)."""
    return statistics.median(examples_per_s[1:] or examples_per_s)


def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def report(rates: Dict[int, List[float]], walls: Dict[int, List[float]], batch: int, steps: int,
           command: str) -> Tuple[str, dict]:
    """Markdown table and JSON; ratios are against 1 task in the same rounds."""
    lines = [f"run_fn, {steps} steps of {batch} examples per replica ({len(rates[1])} rounds; mean ± std over rounds; "
             f"{os.cpu_count()} CPU cores shared by all tasks)", "",
             "| tasks | replicas | global batch | examples/s | vs 1 task | per-round ratio range | run wall s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    summary = {"steps": steps, "batch_per_replica": batch, "rounds": len(rates[1]), "cpu_count": os.cpu_count(),
               "command": command, "tasks": {}}
    for tasks in TASKS:
        mean, std = _mean_std(rates[tasks])
        wall, wall_std = _mean_std(walls[tasks])
        ratios = [r / b for r, b in zip(rates[tasks], rates[1])]
        lines.append(f"| {tasks} | {tasks} | {batch * tasks} | {mean:,.0f} ± {std:,.0f} | "
                     f"{mean / statistics.mean(rates[1]):.2f}x | {min(ratios):.2f}-{max(ratios):.2f}x | "
                     f"{wall:.0f} ± {wall_std:.0f} |")
        summary["tasks"][tasks] = {"examples_per_s": [round(r, 1) for r in rates[tasks]], "mean": round(mean, 1),
                                   "std": round(std, 1), "wall_s": [round(w, 1) for w in walls[tasks]]}
    lines += ["", f"Command: `{command}`"]
    return "\n".join(lines), summary


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.multi_worker_training", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="CSV/TSV file, e.g. ../shared/data/sst2/train.tsv")
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--rows", type=int, default=20000, help="rows sampled from --data (default: 20000)")
    parser.add_argument("--steps", type=int, default=300, help="training steps per run (default: 300)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of 1 and 2 tasks (default: 3)")
    parser.add_argument("--config", help="JSON configuration (model and training sections apply)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("outputs", "bench", "multi_worker_training"))
    args = parser.parse_args(argv)
    command = "python -m bench.multi_worker_training " + " ".join(argv if argv is not None else sys.argv[1:])
    os.makedirs(args.out, exist_ok=True)
    work_dir = tempfile.mkdtemp(dir=args.out, prefix="work-")
    cfg = load_config(args.config, {})
    train, evaluation = sample_rows(args.data, args.text_column, args.label_column, args.rows, args.seed, work_dir)
    progress(f"transforming {len(train)} train + {len(evaluation)} eval rows")
    data = transform_rows(rows_from_pairs(train), rows_from_pairs(evaluation), cfg, os.path.join(work_dir, "data"))
    rates: Dict[int, List[float]] = {tasks: [] for tasks in TASKS}
    walls: Dict[int, List[float]] = {tasks: [] for tasks in TASKS}
    for round_index in range(args.rounds):
        for tasks in (TASKS if round_index % 2 == 0 else TASKS[::-1]):
            run_dir = tempfile.mkdtemp(dir=work_dir, prefix=f"tasks{tasks}-")
            begun = time.perf_counter()
            chief = train_on_cluster(data, cfg.to_dict(), run_dir, tasks=tasks, train_steps=args.steps,
                                     timeout_s=3600)[0]
            walls[tasks].append(time.perf_counter() - begun)
            rates[tasks].append(steady_rate(chief["examples_per_s"]))
            progress(f"round {round_index + 1}/{args.rounds}: {tasks} task(s), {chief['replicas']} replica(s): "
                     f"{rates[tasks][-1]:.0f} examples/s, {walls[tasks][-1]:.0f} s")
    table, summary = report(rates, walls, cfg.training.batch_size, args.steps, command)
    with open(os.path.join(args.out, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    with open(os.path.join(args.out, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
