"""Speed report: what each arm costs to train per example, measured side by side in one
run, and what Transform, the exported model and serving cost.

  python -m bench speed --data ../shared/data/sst2 [--arms default,word_only] [--rounds 3]
      [--steps 400] [--serving-requests 200] [--out DIR]

* Transform: the project's ``preprocessing_fn`` on the training rows on Beam (fresh, not
  reused), whitespace tokens per second.
* Trainer: in each round every arm, in rotating order, trains ``--steps`` steps with the
  real ``run_fn`` on the same transformed data; training examples per second after
  warm-up (:class:`trainer.training.EpochThroughput`). Each arm's time per example is
  compared with the first arm's in the same round; the report gives the median ratio.
* Model: SavedModel size on disk, and serving latency of ``predict_text`` through
  ``charword serve`` (one client; 1 and 32 sentences a request).
"""
import argparse
import json
import os
import shlex
import shutil
import statistics
import sys
import time
from typing import List, Optional

from bench import arms as arm_registry
from bench import data
from bench.processes import PhaseRunner, progress
from bench.quality_report import markdown_table
from charword.config import ConfigError, load_config

SPLIT_SEED = 13


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench speed", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", required=True, help="as for python -m bench quality")
    parser.add_argument("--eval-data", help="explicit dev file (then --data is the training file)")
    parser.add_argument("--text-column", help="text column")
    parser.add_argument("--label-column", help="label column")
    parser.add_argument("--arms", default="default,word_only", help="comma-separated registered arms; the first is "
                                                                    "the one the others are compared with")
    parser.add_argument("--arm", action="append", default=[], metavar="NAME=JSON", help="one more arm (repeatable)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of every arm")
    parser.add_argument("--steps", type=int, default=400, help="training steps per arm and round")
    parser.add_argument("--serving-requests", type=int, default=200, help="requests per serving configuration; "
                                                                          "0 skips serving")
    parser.add_argument("--train-lexicon", help="misspellings of the training noise (as in the quality report)")
    parser.add_argument("--config", help="JSON file of CharwordConfig sections under every arm")
    parser.add_argument("--out", help="report directory (default: outputs/bench/speed/<data name>)")
    return parser


def _directory_mb(path: str) -> float:
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names) / 2**20


def _serving(model_dir: str, requests: int) -> List[dict]:
    from bench import serving_latency  # pylint: disable=import-outside-toplevel
    return serving_latency.measure(model_dir, [1, 32], [1], requests, max_seconds=120)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    from bench import charword_arm  # pylint: disable=import-outside-toplevel  (TensorFlow)
    try:
        arms = dict(arm_registry.parse_arm(spec) for spec in [*args.arms.split(","), *args.arm] if spec)
        base = load_config(args.config)
    except ConfigError as error:
        raise SystemExit(f"bench speed: {error}") from None
    arms.pop(arm_registry.FASTTEXT, None)
    name = os.path.splitext(os.path.basename(os.path.normpath(args.data)))[0]
    out = args.out or os.path.join("outputs", "bench", "speed", name)
    work = os.path.join(out, "work")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    started = time.time()
    splits = data.load_splits(args.data, args.eval_data, args.text_column, args.label_column, work, SPLIT_SEED)
    tokens = sum(len(text.split()) for text, _ in splits.train + splits.validation)
    sys.argv = sys.argv[:1]
    phase = PhaseRunner(1 + len(arms) * (args.rounds + 1), os.path.join(out, "logs"), poll_s=0.5)
    first_cfg = arm_registry.arm_config(base, next(iter(arms.values())), 1, args.train_lexicon, None)
    transform_started = time.perf_counter()
    graph = phase("transform", "Transform (training and held-out rows)", charword_arm.transform_step, splits.train,
                  splits.validation, first_cfg, os.path.join(work, "transform"), ())["data"]
    transform_s = time.perf_counter() - transform_started

    rates = {arm: [] for arm in arms}
    models = {}
    names = list(arms)
    for round_index in range(args.rounds):
        order = names[round_index % len(names):] + names[:round_index % len(names)]
        for arm in order:
            cfg = arm_registry.arm_config(base, arms[arm], 1, args.train_lexicon, None).replace(
                training={"train_steps": args.steps})
            label = f"{arm} round {round_index + 1}"
            run = phase(f"train_{arm}_{round_index}", f"Trainer {label}", charword_arm.train_step, graph, cfg,
                        os.path.join(work, arm, f"round{round_index}"), label)
            rates[arm].append(statistics.median(run["epoch_rates"]))
            models[arm] = run["model_dir"]
    reference = names[0]
    ratios = {arm: statistics.median(rates[reference][r] / rates[arm][r] for r in range(args.rounds))
              for arm in names}
    serving = {arm: phase(f"serving_{arm}", f"Serving {arm}", _serving, models[arm], args.serving_requests)
               for arm in names} if args.serving_requests else {}
    phase.close()

    report = {"command": "python -m bench speed " + " ".join(shlex.quote(a) for a in argv),
              "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)), "cpus": os.cpu_count(),
              "load_end": " ".join(f"{x:.1f}" for x in os.getloadavg()),
              "transform": {"rows": len(splits.train) + len(splits.validation), "tokens": tokens,
                            "wall_s": transform_s, "tokens_per_s": tokens / transform_s},
              "trainer": {"steps": args.steps, "rounds": args.rounds, "examples_per_s": rates,
                          "time_per_example_vs_first": ratios},
              "model_mb": {arm: _directory_mb(path) for arm, path in models.items()}, "serving": serving,
              "memory": phase.costs}
    lines = [f"# Speed: {name}", "", f"`{report['command']}`", "",
             f"Started {report['started']} on {report['cpus']} CPU core(s); load {report['load_end']} at the end.", "",
             f"Transform: {tokens:,} tokens of {report['transform']['rows']:,} rows in {transform_s:.0f} s "
             f"({report['transform']['tokens_per_s']:,.0f} tokens/s, Beam start-up included).", "",
             f"Trainer: {args.steps} steps per arm and round, {args.rounds} rounds in rotating order; training "
             "examples/s after warm-up; time per example relative to "
             f"`{reference}` in the same round (median over rounds).", ""]
    lines += markdown_table(["arm", "examples/s per round", f"time per example vs {reference}", "SavedModel MB",
                     "serving p50 ms, 1 / 32 sentences"],
                    [[arm, ", ".join(f"{r:.0f}" for r in rates[arm]), f"{ratios[arm]:.2f}x",
                      f"{report['model_mb'][arm]:.1f}",
                      " / ".join(f"{r['p50_ms']:.1f}" for r in serving.get(arm, [])) or "-"] for arm in names])
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    progress(f"Done in {(time.time() - started) / 60:.1f} min")
    print("\n".join(lines))
    return 0
