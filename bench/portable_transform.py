"""Transform on Beam's portable runner (1 and 2 external SDK workers) against the
DirectRunner, on the same rows, in one run.

  python -m bench.portable_transform --data ../shared/data/sst2/train.tsv [--rows 20000]
      [--rounds 3] [--out DIR]

Each round runs :func:`harness.transform.transform_rows` (the project's
``preprocessing_fn``: analyse the train rows, transform train and eval, write the
transform graph and gzipped TFRecords) once per set-up, in rotating order:

  direct       DirectRunner in_memory (in the driver process, as small local runs use)
  direct x2    DirectRunner multi_processing with 2 worker processes
  portable x1  PortableRunner -> local job service -> 1 external SDK worker
  portable x2  the same with --sdk_worker_parallelism=2

The job service and worker pool (:mod:`pipeline.beam_cluster`) start once, before the
first round; their start-up is reported apart. Every timed run includes its own Beam
start-up (and, on the portable runner, starting the SDK worker processes, which import
TensorFlow). Writes ``report.md`` and ``report.json`` under ``--out``.
"""
import argparse
import json
import logging
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
from charword.config import CharwordConfig  # noqa: E402  pylint: disable=wrong-import-position
from harness.transform import rows_from_pairs, transform_rows  # noqa: E402  pylint: disable=wrong-import-position
from pipeline import beam_cluster  # noqa: E402  pylint: disable=wrong-import-position
from pipeline.beam_args import PORTABLE_JOB_TIMEOUT_S  # noqa: E402  pylint: disable=wrong-import-position

SETUPS = ("direct", "direct x2", "portable x1", "portable x2")


def beam_args(setup: str, cluster: beam_cluster.Cluster) -> Tuple[str, ...]:
    if setup == "direct":
        return ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    if setup == "direct x2":
        return ("--direct_running_mode=multi_processing", "--direct_num_workers=2")
    workers = int(setup.rsplit("x", 1)[1])
    return (*cluster.beam_args(workers), f"--job_server_timeout={PORTABLE_JOB_TIMEOUT_S}")


def _mean_std(values: Sequence[float]) -> Tuple[float, float]:
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def report(walls: Dict[str, List[float]], rows: int, cluster_start_s: float, command: str) -> Tuple[str, dict]:
    """Markdown table and JSON of the timings; ratios are against ``direct`` in the same rounds."""
    base = walls["direct"]
    lines = [f"Transform of {rows:,} rows, rounds: {len(base)} (mean ± std over rounds)", "",
             "| set-up | wall s | rows/s | vs direct (mean ratio of walls) | per-round ratio range |",
             "|---|---:|---:|---:|---:|"]
    summary = {"rows": rows, "rounds": len(base), "cluster_start_s": round(cluster_start_s, 1), "command": command,
               "setups": {}}
    for setup in SETUPS:
        mean, std = _mean_std(walls[setup])
        ratios = [b / w for b, w in zip(base, walls[setup])]
        lines.append(f"| {setup} | {mean:.1f} ± {std:.1f} | {rows / mean:,.0f} | {statistics.mean(base) / mean:.2f}x "
                     f"| {min(ratios):.2f}-{max(ratios):.2f}x |")
        summary["setups"][setup] = {"wall_s": [round(w, 2) for w in walls[setup]], "mean_s": round(mean, 2),
                                    "std_s": round(std, 2), "rows_per_s": round(rows / mean, 1)}
    lines += ["", f"Job service + worker pool start-up (once, not in the walls): {cluster_start_s:.1f} s",
              f"Command: `{command}`"]
    return "\n".join(lines), summary


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.portable_transform", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="CSV/TSV file, e.g. ../shared/data/sst2/train.tsv")
    parser.add_argument("--text-column", default="sentence")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--rows", type=int, default=20000, help="rows sampled from --data (default: 20000)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of all set-ups (default: 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", default=os.path.join("outputs", "bench", "portable_transform"))
    args = parser.parse_args(argv)
    for noisy in ("apache_beam", "absl", "tensorflow"):  # worker logs come back through the job service
        logging.getLogger(noisy).setLevel(logging.ERROR)
    command = "python -m bench.portable_transform " + " ".join(argv if argv is not None else sys.argv[1:])
    os.makedirs(args.out, exist_ok=True)
    work_dir = tempfile.mkdtemp(dir=args.out, prefix="work-")
    train, evaluation = sample_rows(args.data, args.text_column, args.label_column, args.rows, args.seed, work_dir)
    cfg = CharwordConfig()
    progress(f"{len(train)} train + {len(evaluation)} eval rows; starting the job service and worker pool")
    started = time.perf_counter()
    walls: Dict[str, List[float]] = {setup: [] for setup in SETUPS}
    with beam_cluster.local_cluster(os.path.join(work_dir, "cluster")) as cluster:
        cluster_start_s = time.perf_counter() - started
        for round_index in range(args.rounds):
            order = SETUPS[round_index % len(SETUPS):] + SETUPS[:round_index % len(SETUPS)]
            for setup in order:
                out_dir = tempfile.mkdtemp(dir=work_dir, prefix=setup.replace(" ", "-") + "-")
                begun = time.perf_counter()
                transform_rows(rows_from_pairs(train), rows_from_pairs(evaluation), cfg, out_dir,
                               beam_args(setup, cluster))
                walls[setup].append(time.perf_counter() - begun)
                progress(f"round {round_index + 1}/{args.rounds}: {setup}: {walls[setup][-1]:.1f} s")
    table, summary = report(walls, len(train) + len(evaluation), cluster_start_s, command)
    with open(os.path.join(args.out, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    with open(os.path.join(args.out, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
