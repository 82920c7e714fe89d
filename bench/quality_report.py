"""Turns a quality run's predictions into ``report.json``, ``report.md`` and a plot.

The primary metric is accuracy for two classes and macro-F1 for more (unbalanced
classes make accuracy flatter than it looks); both are reported. Paired tests compare
every arm with the fastText peer on the same examples, pooled over seeds.
"""
import json
import math
import os
from typing import Dict, List, Sequence

from bench.arms import BASELINE, FASTTEXT
from bench.stats import accuracy, macro_f1, paired_test, summarize

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
PLOT_PNG = "robustness.png"
DEFAULT_ARM = "default"
DISTILLED_ARM = "distilled"  # the default model as a teacher's student: held to the same lead
TARGET_MARGIN = 0.02  # the default's lead over fastText, in accuracy (or macro-F1) points / 100
METRICS = {"accuracy": accuracy, "macro_f1": macro_f1}


def _dev_sets(raw: dict) -> List[str]:
    return ["clean", *raw["data"]["misspelled"]]


def _scores(raw: dict, arm: str, seeds: Sequence[int], set_name: str, metric: str) -> dict:
    gold = raw["gold"]["selection" if set_name.startswith("selection") else "dev"]
    return summarize([METRICS[metric](raw["runs"][(arm, seed)]["predictions"][set_name], gold) for seed in seeds
                      if (arm, seed) in raw["runs"]])


def _correct(raw: dict, arm: str, seeds: Sequence[int], set_name: str) -> List[bool]:
    gold = raw["gold"]["dev"]
    return [p == g for seed in seeds for p, g in zip(raw["runs"][(arm, seed)]["predictions"][set_name], gold)]


def _training(raw: dict, arm: str, seeds: Sequence[int]) -> dict:
    trained = [raw["runs"][(arm, seed)]["train"] for seed in seeds if (arm, seed) in raw["runs"]]
    per_example_ms = [1000 * t["wall_s"] / (t["train_examples"] * t.get("passes", 1.0)) for t in trained]
    return {"wall_s": summarize([t["wall_s"] for t in trained]), "ms_per_example": summarize(per_example_ms),
            "passes": summarize([t.get("passes", float("nan")) for t in trained]),
            "stop_reasons": [t.get("stop_reason", "") for t in trained]}


def _oov_slice(raw: dict, arm: str, seeds: Sequence[int], metric: str) -> dict:
    flags = raw["data"]["dev_has_oov"]
    if not flags:
        return {}
    gold = raw["gold"]["dev"]
    out = {}
    for name, wanted in (("has_oov", True), ("in_vocabulary", False)):
        keep = [i for i, flag in enumerate(flags) if flag == wanted]
        out[name] = summarize([METRICS[metric]([raw["runs"][(arm, s)]["predictions"]["clean"][i] for i in keep],
                                               [gold[i] for i in keep]) for s in seeds if (arm, s) in raw["runs"]])
    out["examples"] = sum(flags)
    return out


def build(raw: dict) -> dict:
    """The report (JSON-ready) of a quality run's raw results (:func:`bench.quality.main`)."""
    seeds = raw["meta"]["seeds"]
    arms = [arm for arm in raw["meta"]["arms"] if any((arm, seed) in raw["runs"] for seed in seeds)]
    metric = "accuracy" if len(raw["data"]["labels"]) == 2 else "macro_f1"
    sets = _dev_sets(raw) + ["selection clean", "selection misspelled"]
    results = {arm: {"scores": {m: {s: _scores(raw, arm, seeds, s, m) for s in sets} for m in METRICS},
                     "training": _training(raw, arm, seeds), "oov_slice": _oov_slice(raw, arm, seeds, metric)}
               for arm in arms}
    tests = {}
    if FASTTEXT in arms:
        for arm in arms:
            if arm != FASTTEXT:
                tests[arm] = {s: paired_test(_correct(raw, arm, seeds, s), _correct(raw, FASTTEXT, seeds, s))
                              for s in _dev_sets(raw)}
    report = {"meta": raw["meta"], "data": raw["data"], "metric": metric, "arms": arms, "sets": sets,
              "results": results, "paired_tests": tests}
    report["verdicts"] = verdicts(report)
    report["targets"] = targets(report)
    return report


def _mean(report: dict, arm: str, set_name: str, metric: str = None) -> float:
    return report["results"][arm]["scores"][metric or report["metric"]][set_name]["mean"]


def verdicts(report: dict) -> List[str]:
    """One line per dev set: the default (or first) arm against fastText, and who wins."""
    arm = DEFAULT_ARM if DEFAULT_ARM in report["arms"] else report["arms"][0]
    if FASTTEXT not in report["arms"] or arm == FASTTEXT:
        return []
    lines = []
    for set_name, test in report["paired_tests"][arm].items():
        ours, peer = _mean(report, arm, set_name), _mean(report, FASTTEXT, set_name)
        winner = "level (p >= 0.05)" if test["p_value"] >= 0.05 else (f"{arm} wins" if ours > peer
                                                                     else "fastText wins")
        lines.append(f"{set_name}: {report['metric']} {arm} {100 * ours:.1f} vs fastText {100 * peer:.1f} "
                     f"({100 * (ours - peer):+.1f} points; paired test on the examples only one gets right: "
                     f"{test['only_first']}/{test['only_second']}, p = {test['p_value']:.2g}): {winner}")
    return lines


def targets(report: dict) -> List[dict]:
    """PASS/MISS of the default arm's goals, with the signed margin (positive: better)."""
    if DEFAULT_ARM not in report["arms"]:
        return []
    out = []
    if FASTTEXT in report["arms"]:
        for arm in [a for a in (DEFAULT_ARM, DISTILLED_ARM) if a in report["arms"]]:
            for set_name in _dev_sets(report):
                lead = _mean(report, arm, set_name) - _mean(report, FASTTEXT, set_name)
                p_value = report["paired_tests"][arm][set_name]["p_value"]
                out.append({"target": f"{arm} >= fastText + {100 * TARGET_MARGIN:.0f} points, {set_name}",
                            "margin": lead - TARGET_MARGIN, "p_value": p_value,
                            "status": "PASS" if lead >= TARGET_MARGIN and p_value < 0.05 else "MISS"})
    word_only = [arm for arm in report["arms"] if arm.startswith(BASELINE)]
    if word_only:
        best = max(word_only, key=lambda arm: _mean(report, arm, "clean"))
        lead = _mean(report, DEFAULT_ARM, "clean") - _mean(report, best, "clean")
        out.append({"target": f"default clean >= the best word-only arm's ({best})", "margin": lead,
                    "p_value": None, "status": "PASS" if lead >= 0 else "MISS"})
    return out


# ---------------------------------------------------------------- Markdown

def _pct(s: dict) -> str:
    if not s["n"]:
        return "n/a"
    return f"{s['mean']:.1%}" + (f" ± {100 * s['std']:.1f}" if s["n"] > 1 else "")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> List[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""])


def _number(value: float, digits: int) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    """The human-readable report."""
    meta, data, metric = report["meta"], report["data"], report["metric"]
    dev_sets = _dev_sets(report)
    lines = [f"# Quality: {data['name']}", "", f"`{meta['command']}`", "",
             f"Started {meta['started']}, {meta['wall_s'] / 60:.1f} min on {meta['cpus']} CPU core(s) (load "
             f"{meta['load_start']} at start, {meta['load_end']} at end), TensorFlow {meta['tensorflow']}; seeds "
             f"{meta['seeds']}; values are mean ± std over seeds.", "",
             f"Data: {data['train_rows']} training rows of `{data['train_file']}`; {data['held_out_rows']} held-out "
             f"rows sharing no text with them (early stopping; the selection set is their "
             f"{data['selection_rows']} whole texts, clean and with {data['selection_source']}); dev "
             f"`{data['dev_file']}` ({data['dev_rows']} rows, never trained or tuned on). Classes: "
             f"{', '.join(data['labels'])}. Primary metric: {metric}.", ""]
    stats = data["misspelled"]
    lines += ["Misspelled dev sets (the same texts for every arm, nested across shares): "
              + "; ".join(f"{name}: {s['substituted']} of {s['tokens']} tokens" for name, s in stats.items()), ""]
    if report["verdicts"]:
        lines += ["## Against fastText", ""] + [f"- {line}" for line in report["verdicts"]] + [""]
    for name in (metric, *(m for m in METRICS if m != metric)):
        lines += [f"## Dev {name}", ""]
        lines += markdown_table(["arm", *dev_sets, "selection clean / misspelled"],
                        [[arm] + [_pct(report["results"][arm]["scores"][name][s]) for s in dev_sets]
                         + [" / ".join(_pct(report["results"][arm]["scores"][name][s])
                                       for s in ("selection clean", "selection misspelled"))]
                         for arm in report["arms"]])
    if report["paired_tests"]:
        lines += ["## Paired tests against fastText", "",
                  "Exact McNemar test on the dev examples, pooled over seeds: examples only the arm gets right / "
                  "only fastText gets right, and p.", ""]
        lines += markdown_table(["arm", *dev_sets],
                        [[arm] + [f"{t[s]['only_first']}/{t[s]['only_second']}, p = {t[s]['p_value']:.2g}"
                                  for s in dev_sets] for arm, t in report["paired_tests"].items()])
    lines += ["## Training", ""]
    lines += markdown_table(["arm", "wall s", "passes", "ms per example and pass", "why it stopped (per seed)"],
                    [[arm, f"{r['training']['wall_s']['mean']:.0f}", _number(r['training']['passes']['mean'], 1),
                      f"{r['training']['ms_per_example']['mean']:.2f}", "; ".join(r["training"]["stop_reasons"])]
                     for arm, r in report["results"].items()])
    oov = next((r["oov_slice"] for r in report["results"].values() if r["oov_slice"]), None)
    if oov:
        lines += [f"## OOV slice ({metric}, clean dev)", "",
                  f"{oov['examples']} of {data['dev_rows']} dev texts have a word outside the vocabulary.", ""]
        lines += markdown_table(["arm", "with an OOV word", "in vocabulary"],
                        [[arm, _pct(r["oov_slice"]["has_oov"]), _pct(r["oov_slice"]["in_vocabulary"])]
                         for arm, r in report["results"].items() if r["oov_slice"]])
    if report["targets"]:
        lines += ["## Targets", ""]
        lines += markdown_table(["status", "target", "margin (points)", "p"],
                        [[t["status"], t["target"], f"{100 * t['margin']:+.1f}",
                          "" if t["p_value"] is None else f"{t['p_value']:.2g}"] for t in report["targets"]])
    return "\n".join(lines)


def plot(report: dict, path: str) -> None:
    """The primary metric against the share of misspelled dev tokens, one line per arm."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    dev_sets = _dev_sets(report)
    shares = [0.0] + [float(name.split()[-1]) for name in dev_sets[1:]]
    fig, axis = plt.subplots(figsize=(6.5, 4.2))
    for arm in report["arms"]:
        scores = [report["results"][arm]["scores"][report["metric"]][s] for s in dev_sets]
        axis.errorbar([100 * x for x in shares], [100 * s["mean"] for s in scores],
                      yerr=[100 * s["std"] for s in scores], marker="o", capsize=3, label=arm,
                      linestyle="--" if arm == FASTTEXT else "-")
    kind = "real misspellings" if dev_sets[-1].startswith("real") else "typos"
    axis.set(xlabel=f"dev tokens misspelled (%, {kind})", ylabel=f"dev {report['metric']} (%)",
             title=f"{report['data']['name']}: {report['metric']} as misspellings grow")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _jsonable(value):
    if isinstance(value, dict):
        return {("/".join(map(str, k)) if isinstance(k, tuple) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write(report: dict, out_dir: str) -> Dict[str, str]:
    """Writes the three report files; returns their paths."""
    paths = {"json": os.path.join(out_dir, REPORT_JSON), "markdown": os.path.join(out_dir, REPORT_MD),
             "plot": os.path.join(out_dir, PLOT_PNG)}
    with open(paths["json"], "w", encoding="utf-8") as handle:
        json.dump(_jsonable(report), handle, indent=2)
        handle.write("\n")
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write(markdown(report) + "\n")
    plot(report, paths["plot"])
    return paths

