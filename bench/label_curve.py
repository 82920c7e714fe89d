"""Label curve: what pretraining buys. The default model from random initialisation
against the same model started from a pretrained encoder (``charword pretrain``, then
``model.init_from``), trained on growing numbers of labelled rows, with fastText beside.

  python -m bench label-curve --data ../shared/data/sst2 --init-from ENCODER_DIR \\
      --train-lexicon ../shared/data/misspellings/train_lexicon.tsv \\
      --dev-lexicon ../shared/data/misspellings/dev_lexicon.tsv [--label-rows 500,1000,5000,all] [--seeds 3]
      [--out DIR]

Each size is one quality run (:mod:`bench.quality`, ``--train-limit`` rows, the same
sample for every arm and seed) of the arms ``default`` (random initialisation),
``pretrained`` and ``fasttext``, written under ``--out``/rows-<N> with its own cache.
Writes ``curve.md``, ``curve.json`` and ``curve.png`` (accuracy against labelled rows,
clean and at real 10% and 20% misspellings) under ``--out``, and checks the targets:
with 1,000 labels pretrained ≥ random + 5 points clean; with all labels ≥ + 1 clean and
≥ + 2 at 20%.
"""
import argparse
import json
import os
import sys
from typing import Dict, List, Optional

from bench import quality
from bench.processes import progress

SETS = ("clean", "real 0.1", "real 0.2")
ARMS = {"default": "random init", "pretrained": "pretrained", "fasttext": "fastText"}
# (labelled rows, dev set, least gain of pretrained over random init, in points)
TARGETS = ((1000, "clean", 5.0), ("all", "clean", 1.0), ("all", "real 0.2", 2.0))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench label-curve", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", required=True, help="as for python -m bench quality")
    parser.add_argument("--init-from", required=True, help="the pretrained encoder (a pushed version folder)")
    parser.add_argument("--label-rows", default="500,1000,5000,all", help="comma-separated sizes; all: every row")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--train-lexicon")
    parser.add_argument("--dev-lexicon")
    parser.add_argument("--out", default=os.path.join("outputs", "bench", "label_curve"))
    return parser


def _size_name(rows) -> str:
    return f"rows-{rows}"


def run_sizes(args: argparse.Namespace, sizes: List) -> Dict[str, dict]:
    """One quality run per size; their reports by size name."""
    reports = {}
    for rows in sizes:
        out = os.path.join(args.out, _size_name(rows))
        progress(f"Label curve: {rows} labelled rows -> {out}")
        argv = ["--data", args.data, "--arms", "default,fasttext", "--seeds", str(args.seeds), "--out", out,
                "--arm", "pretrained=" + json.dumps({"model": {"init_from": os.path.abspath(args.init_from)}})]
        argv += ["--train-lexicon", args.train_lexicon] if args.train_lexicon else []
        argv += ["--dev-lexicon", args.dev_lexicon] if args.dev_lexicon else []
        argv += ["--train-limit", str(rows)] if rows != "all" else []
        quality.main(argv)
        with open(os.path.join(out, "report.json"), encoding="utf-8") as handle:
            reports[str(rows)] = json.load(handle)
    return reports


def curve(reports: Dict[str, dict]) -> dict:
    """Per size and arm, the mean and std of accuracy on each of :data:`SETS`, and the targets."""
    points = {size: {"train_rows": report["data"]["train_rows"] + report["data"]["held_out_rows"],
                     "scores": {arm: {name: report["results"][arm]["scores"]["accuracy"][name] for name in SETS}
                                for arm in ARMS if arm in report["results"]}}
              for size, report in reports.items()}
    points = dict(sorted(points.items(), key=lambda item: item[1]["train_rows"]))
    targets = []
    for size, set_name, gain in TARGETS:
        if str(size) in points:
            scores = points[str(size)]["scores"]
            delta = 100 * (scores["pretrained"][set_name]["mean"] - scores["default"][set_name]["mean"])
            targets.append({"rows": size, "set": set_name, "target": gain, "gain": delta,
                            "verdict": "PASS" if delta >= gain else f"MISS by {gain - delta:.1f}"})
    return {"points": points, "targets": targets}


def markdown(result: dict, command: str) -> str:
    lines = ["# Label curve: pretrained encoder against random initialisation", "", f"`{command}`", "",
             "Accuracy on the dev set (mean ± std over seeds), clean and with 10% / 20% of its tokens replaced by "
             "real misspellings of the dev lexicon.", "",
             "| labelled rows | " + " | ".join(f"{ARMS[arm]} {name}" for name in SETS for arm in ARMS) + " |",
             "|---|" + "---|" * (len(SETS) * len(ARMS))]
    for size, point in result["points"].items():
        cells = [f"{100 * point['scores'][arm][name]['mean']:.1f} ± {100 * point['scores'][arm][name]['std']:.1f}"
                 if arm in point["scores"] else "-" for name in SETS for arm in ARMS]
        lines.append(f"| {size} ({point['train_rows']}) | " + " | ".join(cells) + " |")
    lines += ["", "| target | pretrained − random init | verdict |", "|---|---|---|"]
    lines += [f"| {t['rows']} rows, {t['set']}: ≥ +{t['target']:g} points | {t['gain']:+.1f} | {t['verdict']} |"
              for t in result["targets"]]
    return "\n".join(lines) + "\n"


def plot(result: dict, path: str) -> None:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    figure, axes = plt.subplots(1, len(SETS), figsize=(4.2 * len(SETS), 3.6), sharey=True)
    rows = [point["train_rows"] for point in result["points"].values()]
    for axis, name in zip(axes, SETS):
        for arm, label in ARMS.items():
            means = [100 * p["scores"][arm][name]["mean"] for p in result["points"].values() if arm in p["scores"]]
            stds = [100 * p["scores"][arm][name]["std"] for p in result["points"].values() if arm in p["scores"]]
            if means:
                axis.errorbar(rows[: len(means)], means, yerr=stds, marker="o", capsize=3, label=label)
        axis.set_xscale("log")
        axis.set_title(name)
        axis.set_xlabel("labelled rows")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("dev accuracy (%)")
    axes[0].legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    sizes = [size if size == "all" else int(size) for size in args.label_rows.split(",") if size]
    result = curve(run_sizes(args, sizes))
    os.makedirs(args.out, exist_ok=True)
    text = markdown(result, "python -m bench label-curve " + " ".join(argv))
    with open(os.path.join(args.out, "curve.md"), "w", encoding="utf-8") as handle:
        handle.write(text)
    with open(os.path.join(args.out, "curve.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    plot(result, os.path.join(args.out, "curve.png"))
    print(text)
    return 0
