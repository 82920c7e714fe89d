"""Per-component wall time of one full local pipeline run.

  python -m bench.pipeline_timing --data PATH [--text-column C --label-column L]
      [--train-steps N] [--out DIR]

Runs :func:`pipeline.local_run.run_local` (LocalDagRunner, Beam DirectRunner with the
project's settings) in a fresh output directory under ``outputs/bench/pipeline/``, so
nothing is cached, and prints the per-component wall times from ML Metadata as a
Markdown table; ``timing.md`` and ``timing.json`` are written beside the run.
"""
import argparse
import json
import logging
import os
import sys
import time
import warnings
from typing import List, Optional

os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import charword  # noqa: E402,F401  pylint: disable=wrong-import-position  (Keras flavour before TensorFlow)
from bench.phases import progress  # noqa: E402  pylint: disable=wrong-import-position
from charword.config import load_config  # noqa: E402  pylint: disable=wrong-import-position
from charword.demo_data import DEMO_DATA  # noqa: E402  pylint: disable=wrong-import-position


def timing_table(summary, total_s: float) -> str:
    """Markdown table of the components in execution order, with the run's total."""
    lines = ["| component | state | wall s | share |", "|---|---|---|---|"]
    component_total = sum(c.seconds for c in summary.components) or 1.0
    for component in summary.components:
        lines.append(f"| {component.component} | {component.state} | {component.seconds:.1f} | "
                     f"{component.seconds / component_total:.0%} |")
    lines.append(f"| **sum of components** | | {component_total:.1f} | 100% |")
    lines.append(f"| **run_local total (staging + LocalDagRunner; imports excluded)** | | {total_s:.1f} | |")
    return "\n".join(lines)


def _quiet_logs() -> None:
    warnings.simplefilter("ignore")
    from absl import logging as absl_logging  # pylint: disable=import-outside-toplevel
    absl_logging.set_verbosity(absl_logging.ERROR)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.pipeline_timing", description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=DEMO_DATA, help="CSV/TSV file or directory (default: the demo data)")
    parser.add_argument("--text-column", help="text column (default: text)")
    parser.add_argument("--label-column", help="label column (default: label)")
    parser.add_argument("--train-steps", type=int, help="Trainer steps (default: the project's)")
    parser.add_argument("--out", help="fresh output directory (default: outputs/bench/pipeline/<name>-<time>)")
    args = parser.parse_args(argv)
    sys.argv = sys.argv[:1]  # TFX's Beam executors parse sys.argv with absl flags
    _quiet_logs()

    name = os.path.splitext(os.path.basename(os.path.normpath(args.data)))[0]
    out = args.out or os.path.join("outputs", "bench", "pipeline", f"{name}-{time.strftime('%Y%m%d-%H%M%S')}")
    if os.path.exists(out) and os.listdir(out):
        raise SystemExit(f"{out} is not empty; the timing run needs a fresh directory")
    cfg = load_config(None, {"pipeline": {"output_dir": out},
                             "data": {"text_column": args.text_column, "label_column": args.label_column},
                             "training": {"train_steps": args.train_steps}})

    from pipeline.local_run import run_local  # pylint: disable=import-outside-toplevel
    started = time.perf_counter()
    summary = run_local(cfg, args.data, progress=progress)
    total = time.perf_counter() - started
    table = timing_table(summary, total)
    header = (f"Pipeline timing: `{args.data}`, {cfg.training.train_steps} Trainer steps, fresh output "
              f"`{out}`, {os.cpu_count()} CPU core(s), load average at end "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"{header}\n\n{table}")
    with open(os.path.join(out, "timing.md"), "w", encoding="utf-8") as handle:
        handle.write(f"{header}\n\n{table}\n")
    with open(os.path.join(out, "timing.json"), "w", encoding="utf-8") as handle:
        json.dump({"data": args.data, "total_s": total, "train_steps": cfg.training.train_steps,
                   "components": [vars(c) for c in summary.components], "pushed": summary.pushed,
                   "blessed": summary.blessed}, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
