"""Turns the benchmark's raw results into ``report.json``, ``report.md`` and plots.

Pure Python (plus matplotlib for the PNG): no TensorFlow here. Accuracies stay
fractions in the JSON and are shown as percentages in the Markdown.
"""
import json
import math
import os
import statistics
from typing import Dict, List, Optional, Sequence

from bench.misspelled import mcnemar, set_name
from bench.settings import BASELINE_ARM, NEW_DEFAULT_ARM, BenchSettings

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
ROBUSTNESS_PNG = "robustness.png"


def summarize(values: Sequence[float]) -> dict:
    """Mean, sample standard deviation (0 for one value), min, max and the values."""
    values = [float(v) for v in values if not math.isnan(v)]
    if not values:
        return {"mean": float("nan"), "std": float("nan"), "min": float("nan"), "max": float("nan"), "n": 0,
                "values": []}
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values), "values": values}


def _rate_key(rate: float) -> str:
    return f"{rate:g}"


def build(raw: dict, settings: BenchSettings) -> dict:
    """The report (JSON-ready) from the phases' raw results."""
    models = raw["evaluation"]["models"]
    variants = [v for v in settings.variants if any(key[0] == v for key in models)]
    seeds = sorted({seed for _, seed in models})
    rates = list(settings.typo_rates)

    def per_seed(variant, pick):
        return [pick(models[(variant, seed)]) for seed in seeds if (variant, seed) in models]

    quality = {}
    robustness = {"rates": rates, "typo_stats": {_rate_key(r): raw["typo_stats"][r] for r in rates},
                  "token_oov_rate": {_rate_key(r): v for r, v in raw["evaluation"]["oov"]["token_oov_rate"].items()},
                  "accuracy": {}, "kept_fraction": {}, "oov_slice": {}}
    oov = raw["evaluation"]["oov"]
    robustness["oov_slice"]["examples_with_oov"] = oov["examples_with_oov"]
    robustness["oov_slice"]["examples"] = oov["examples"]
    for variant in variants:
        runs = [raw["train_runs"][(variant, seed)] for seed in seeds if (variant, seed) in raw["train_runs"]]
        quality[variant] = {
            "dev_accuracy": summarize(per_seed(variant, lambda m: m["accuracy"][0.0])),
            "train_wall_s": summarize([r["wall_s"] for r in runs]),
            "train_examples_per_s": summarize([statistics.median(r["epoch_rates"][1:] or r["epoch_rates"])
                                               for r in runs if r["epoch_rates"]]),
        }
        if all("selection" in m for m in per_seed(variant, lambda m: m)):
            quality[variant]["selection"] = {kind: summarize(per_seed(variant, lambda m, k=kind: m["selection"][k]))
                                             for kind in ("clean", "misspelled")}
        robustness["accuracy"][variant] = {
            _rate_key(r): summarize(per_seed(variant, lambda m, r=r: m["accuracy"][r])) for r in rates}
        clean = robustness["accuracy"][variant]["0"]["mean"]
        robustness["kept_fraction"][variant] = {
            _rate_key(r): robustness["accuracy"][variant][_rate_key(r)]["mean"] / clean for r in rates}
        robustness["oov_slice"][variant] = {
            "oov_accuracy": summarize(per_seed(variant, lambda m: m["oov_accuracy"])),
            "in_vocab_accuracy": summarize(per_seed(variant, lambda m: m["in_vocab_accuracy"]))}
    report = {"meta": raw["meta"], "data": raw["data"], "quality": quality, "robustness": robustness,
              "selection_source": raw.get("selection_source"),
              "speed": raw["speed"], "memory": raw["memory"],
              "misspelled": _misspelled(raw, variants, seeds, settings)}
    report["targets"] = targets(report, settings)
    return report


def _misspelled(raw: dict, variants: List[str], seeds: List[int], settings: BenchSettings) -> Optional[dict]:
    """Accuracy on the real-misspelling dev sets per arm (and kept fraction of clean),
    nearest-word hits, and McNemar of every arm against word_only per seed and pooled."""
    stats = raw.get("misspelled_stats") or {}
    if not stats:
        return None
    models = raw["evaluation"]["models"]
    names = [set_name(r) for r in settings.misspelled_rates]
    out = {"stats": stats, "sets": names, "accuracy": {}, "kept_fraction": {}, "nearest": {}, "mcnemar": {}}
    for variant in variants:
        runs = [models[(variant, seed)] for seed in seeds if (variant, seed) in models]
        clean = summarize([run["accuracy"][0.0] for run in runs])
        out["accuracy"][variant] = {"clean": clean, **{name: summarize([run["misspelled"][name] for run in runs])
                                                       for name in names}}
        out["kept_fraction"][variant] = {name: out["accuracy"][variant][name]["mean"] / clean["mean"]
                                         for name in names}
        hits = [run["nearest"]["merged token vectors"] for run in runs if run.get("nearest")]
        if hits:
            out["nearest"][variant] = {"hits_at_5": summarize([h["hits_at_5"] for h in hits]),
                                       "hits_at_1": summarize([h["hits_at_1"] for h in hits]),
                                       "pairs_used": hits[0]["pairs_used"], "pairs": hits[0]["pairs"]}
        if variant != BASELINE_ARM and all((BASELINE_ARM, seed) in models for seed in seeds):
            tests = {}
            for name in ["clean"] + names:
                first = [c == "1" for seed in seeds for c in models[(variant, seed)]["correct"][name]]
                second = [c == "1" for seed in seeds for c in models[(BASELINE_ARM, seed)]["correct"][name]]
                per_seed = [mcnemar([c == "1" for c in models[(variant, seed)]["correct"][name]],
                                    [c == "1" for c in models[(BASELINE_ARM, seed)]["correct"][name]])
                            for seed in seeds]
                tests[name] = {"pooled": mcnemar(first, second), "per_seed": per_seed}
            out["mcnemar"][variant] = tests
    return out


def _target(name: str, goal: str, measured: Optional[float], margin: Optional[float], shown: str,
            note: str = "") -> dict:
    passed = None if margin is None or math.isnan(margin) else margin >= 0
    return {"name": name, "goal": goal, "measured": measured, "shown": shown, "margin": margin,
            "status": "n/a" if passed is None else ("PASS" if passed else "MISS"), "note": note}


def targets(report: dict, settings: BenchSettings) -> List[dict]:
    """PASS/MISS with the signed margin (positive = better than the goal)."""
    goals = settings.targets
    quality, robust, speed = report["quality"], report["robustness"], report["speed"]
    acc = {v: q["dev_accuracy"]["mean"] for v, q in quality.items()}
    out = []
    hybrid = acc.get("hybrid")
    if hybrid is not None:
        out.append(_target("hybrid dev accuracy", f">= {goals.hybrid_min_accuracy:.0%}", hybrid,
                           hybrid - goals.hybrid_min_accuracy, f"{hybrid:.1%}",
                           f"margin {100 * (hybrid - goals.hybrid_min_accuracy):+.1f} points"))
        if "word_only" in acc:
            diff = hybrid - acc["word_only"]
            out.append(_target("hybrid vs word_only dev accuracy", ">= word_only", diff, diff,
                               f"{hybrid:.1%} vs {acc['word_only']:.1%}", f"margin {100 * diff:+.1f} points"))
    kept = robust["kept_fraction"]
    key = _rate_key(goals.robust_rate)
    if "hybrid" in kept:
        value = kept["hybrid"][key]
        note = f"margin {100 * (value - goals.robust_min_kept):+.1f} points"
        if "word_only" in kept:
            note += f"; word_only keeps {kept['word_only'][key]:.1%}"
        if "char_only" in kept:
            note += f", char_only {kept['char_only'][key]:.1%}"
        out.append(_target(f"hybrid accuracy kept at p={key}", f">= {goals.robust_min_kept:.0%} of clean", value,
                           value - goals.robust_min_kept, f"{value:.1%}", note))
    chars = speed.get("char_encoder")
    if chars:
        ratio = chars["hybrid_classifier"]["cnn_over_bilstm"]
        out.append(_target("CNN vs BiLSTM char encoder, training examples/s (hybrid classifier)",
                           f">= {goals.cnn_over_bilstm_min:g}x", ratio, ratio - goals.cnn_over_bilstm_min,
                           f"{ratio:.2f}x", f"margin {ratio - goals.cnn_over_bilstm_min:+.2f}x; encoder alone: "
                           f"{chars['char_encoder_only']['cnn_over_bilstm']:.2f}x"
                           f"; per CPU-second {chars['hybrid_classifier']['cnn_over_bilstm_per_cpu_s']:.2f}x "
                           f"(encoder alone {chars['char_encoder_only']['cnn_over_bilstm_per_cpu_s']:.2f}x)"))
    overhead = speed.get("trainer_overhead")
    if overhead:
        value = overhead["overhead"]
        out.append(_target("Trainer (run_fn) overhead vs plain Keras fit", f"<= {goals.trainer_max_overhead:.0%}",
                           value, goals.trainer_max_overhead - value, f"{value:+.1%}",
                           f"margin {100 * (goals.trainer_max_overhead - value):+.1f} points"
                           f"; input pipeline {overhead['input_pipeline_share']:+.1%}, strategy + callbacks "
                           f"{overhead['strategy_callbacks_share']:+.1%}"))
    out.extend(_misspelling_targets(report, goals))
    transform = speed.get("transform")
    if transform and "scaling_2_over_1" in transform:
        value = transform["scaling_2_over_1"]
        out.append(_target("Transform tokens/s, 2 vs 1 DirectRunner workers", f">= {goals.transform_min_scaling:g}x",
                           value, value - goals.transform_min_scaling, f"{value:.2f}x",
                           f"margin {value - goals.transform_min_scaling:+.2f}x"))
    return out


def _misspelling_targets(report: dict, goals) -> List[dict]:
    misspelled = report.get("misspelled")
    if not misspelled or NEW_DEFAULT_ARM not in misspelled["accuracy"]:
        return []
    out = []
    acc = misspelled["accuracy"]
    new = acc[NEW_DEFAULT_ARM]
    for rate, over in ((goals.misspelled_rate, goals.misspelled_over_word_only),
                       (goals.heavy_rate, goals.heavy_over_word_only)):
        name = set_name(rate)
        if BASELINE_ARM in acc and name in new:
            diff = new[name]["mean"] - acc[BASELINE_ARM][name]["mean"]
            note = f"margin {100 * (diff - over):+.1f} points"
            if "word_only+noise" in acc:
                note += f"; vs word_only+noise {100 * (new[name]['mean'] - acc['word_only+noise'][name]['mean']):+.1f}"
            out.append(_target(f"{NEW_DEFAULT_ARM} vs {BASELINE_ARM}, {rate:.0%} of dev tokens misspelled (real)",
                               f">= +{100 * over:.0f} points", diff, diff - over,
                               f"{new[name]['mean']:.1%} vs {acc[BASELINE_ARM][name]['mean']:.1%}", note))
    name = set_name(goals.misspelled_rate)
    if name in new:
        kept = misspelled["kept_fraction"][NEW_DEFAULT_ARM][name]
        out.append(_target(f"{NEW_DEFAULT_ARM} keeps its clean accuracy at {goals.misspelled_rate:.0%} misspelled",
                           f">= {goals.misspelled_min_kept:.0%}", kept, kept - goals.misspelled_min_kept,
                           f"{kept:.1%}", f"margin {100 * (kept - goals.misspelled_min_kept):+.1f} points"))
    if BASELINE_ARM in acc:
        diff = new["clean"]["mean"] - acc[BASELINE_ARM]["clean"]["mean"]
        out.append(_target(f"{NEW_DEFAULT_ARM} vs {BASELINE_ARM}, clean dev", ">= word_only", diff, diff,
                           f"{new['clean']['mean']:.1%} vs {acc[BASELINE_ARM]['clean']['mean']:.1%}",
                           f"margin {100 * diff:+.1f} points"))
    nearest = misspelled["nearest"].get(NEW_DEFAULT_ARM)
    if nearest:
        hits = nearest["hits_at_5"]["mean"]
        others = ", ".join(f"{arm} {n['hits_at_5']['mean']:.1%}" for arm, n in misspelled["nearest"].items()
                           if arm != NEW_DEFAULT_ARM)
        out.append(_target("correct word among the 5 nearest of a misspelling's merged vector (dev lexicon)",
                           f">= {goals.nearest_min_hits:.0%}", hits, hits - goals.nearest_min_hits, f"{hits:.1%}",
                           f"{nearest['pairs_used']} pairs whose word is in the vocabulary; {others}"))
    return out


# ---------------------------------------------------------------- Markdown

def _pct(s: dict) -> str:
    if not s["n"]:
        return "n/a"
    if s["n"] == 1:
        return f"{s['mean']:.1%}"
    return f"{s['mean']:.1%} ± {100 * s['std']:.1f} ({s['min']:.1%}–{s['max']:.1%})"


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def markdown(report: dict) -> str:
    """The human-readable report."""
    meta, data, quality, robust, speed = (report[k] for k in ("meta", "data", "quality", "robustness", "speed"))
    lines = [f"# Hybrid char+word benchmark: {data['name']}", "",
             f"`{meta['command']}`", "",
             f"Started {meta['started']}, {meta['wall_s'] / 60:.1f} min on {meta['cpus']} CPU core(s) "
             f"(load average {meta['load_start']} at start, {meta['load_end']} at end; other work on the machine "
             "slows every timing). TensorFlow " + meta["tensorflow"] + ".", "",
             f"Data: train `{data['train_file']}` ({data['train_rows']} rows used for training of "
             f"{data['train_rows_available']} available, {data['validation_rows']} held out for early stopping), dev "
             f"`{data['dev_file']}` ({data['dev_rows']} rows, never seen in training). Columns "
             f"`{data['text_column']}` / `{data['label_column']}`; classes {', '.join(data['labels'])}.", "",
             f"Training: every variant gets {meta['train_steps']} steps of batch {meta['batch_size']} "
             f"({meta['train_steps'] * meta['batch_size'] / max(1, data['train_rows']):.2f} epochs), seeds "
             f"{meta['seeds']}, through the project's Transform (`harness.transform.transform_rows`) and Trainer "
             "(`trainer.task.run_fn`, early stopping on the held-out rows); accuracy is measured on the exported "
             "SavedModel's `predict_text` signature (raw text in). Values: mean ± std (min–max) over seeds.", ""]

    lines += ["## 1. Quality (dev accuracy)", ""]
    lines += _table(["variant", "dev accuracy", "seeds", "Trainer wall s (mean)", "training ex/s (median epoch)"],
                    [[v, _pct(q["dev_accuracy"]), q["dev_accuracy"]["n"], f"{q['train_wall_s']['mean']:.0f}",
                      f"{q['train_examples_per_s']['mean']:.0f}"] for v, q in quality.items()])

    selected = {v: q["selection"] for v, q in quality.items() if "selection" in q}
    if selected:
        lines += [f"Selection set: the {data['validation_rows']} held-out training rows (early stopping uses them; "
                  f"never the dev set), clean and with {report['selection_source']}. Settings are chosen on these "
                  "columns, so that the dev numbers below stay honest.", ""]
        lines += _table(["variant", "selection, clean", "selection, misspelled"],
                        [[v, _pct(s["clean"]), _pct(s["misspelled"])] for v, s in selected.items()])

    rates = robust["rates"]
    lines += ["## 2. Robustness to typos", "",
              "A fraction p of the eligible dev tokens (>= 2 characters with a letter) gets exactly one "
              "character edit (adjacent swap, drop, QWERTY-neighbour insert or substitute); the same perturbed dev "
              "set for every model, nested across p. Plot: `robustness.png`.", ""]
    stats = robust["typo_stats"]
    lines += _table(["p", "tokens perturbed", "swap / drop / insert / substitute", "dev token OOV rate"],
                    [[f"{r:g}", f"{stats[f'{r:g}']['perturbed']} of {stats[f'{r:g}']['eligible']}",
                      " / ".join(str(stats[f"{r:g}"][k]) for k in ("swap", "drop", "insert", "substitute")),
                      f"{robust['token_oov_rate'][f'{r:g}']:.1%}"] for r in rates])
    lines += _table(["variant"] + [f"p={r:g}" for r in rates] + [f"kept at p={r:g}" for r in rates if r > 0],
                    [[v] + [_pct(robust["accuracy"][v][f"{r:g}"]) for r in rates]
                     + [f"{robust['kept_fraction'][v][f'{r:g}']:.1%}" for r in rates if r > 0]
                     for v in robust["accuracy"]])
    oov = robust["oov_slice"]
    lines += [f"Clean dev examples with >= 1 OOV word (transform graph's `has_oov`, OOV relative to the trained "
              f"word vocabulary): {oov['examples_with_oov']} of {oov['examples']}.", ""]
    lines += _table(["variant", "accuracy, has_oov=1", "accuracy, has_oov=0"],
                    [[v, _pct(oov[v]["oov_accuracy"]), _pct(oov[v]["in_vocab_accuracy"])]
                     for v in robust["accuracy"]])

    lines += _misspelled_markdown(report)
    lines += ["## 3. Speed (measured side by side in this run)", ""]
    chars = speed.get("char_encoder")
    if chars:
        lines += [f"Char encoders at equal output size (`char_output_dim` = {chars['char_output_dim']}), training "
                  f"examples/s of `model.fit` on {chars['batch_size']}-example batches held in memory; "
                  f"{len(next(iter(chars['hybrid_classifier'].values()))['rounds'])} rounds of "
                  f"{chars['timed_steps']} steps, each timing CNN and BiLSTM back to back (order alternating). "
                  "Ratio: median of the per-round ratios; ex/s: median per encoder.", ""]
        lines += _table(["model", "CNN ex/s", "BiLSTM ex/s", "CNN / BiLSTM (median)", "per-round ratios",
                         "CNN / BiLSTM per CPU-second (per round)", "params CNN / BiLSTM"],
                        [[scope.replace("_", " "), f"{e['cnn']['examples_per_s']:.0f}",
                          f"{e['bilstm']['examples_per_s']:.0f}", f"{e['cnn_over_bilstm']:.2f}x",
                          ", ".join(f"{r:.2f}" for r in e["round_ratios"]),
                          f"{e['cnn_over_bilstm_per_cpu_s']:.2f}x ("
                          + ", ".join(f"{r:.2f}" for r in e["round_ratios_per_cpu_s"]) + ")",
                          f"{e['cnn']['params']:,} / {e['bilstm']['params']:,}"]
                         for scope, e in chars.items() if isinstance(e, dict)])
    over = speed.get("trainer_overhead")
    if over:
        lines += ["Trainer overhead: the real `run_fn` (tfxio reading of gzipped TFRecords, distribution strategy "
                  "scope, TensorBoard + EarlyStopping callbacks) vs plain `model.fit` of the same model built "
                  "with `build_models`, same compile, epochs, steps, validation steps and the same per-epoch "
                  "throughput callback, on the same batches streamed through run_fn's own dataset "
                  "(`trainer.data.make_dataset`) or materialised in memory; order rotating per round, "
                  f"{over['epochs']} epochs x {over['steps_per_epoch']} steps (+{over['validation_steps']} "
                  "validation steps) each, epoch 1 (tracing) left out, median epoch:", ""]
        sides = [("run_fn", "run_fn (TFX Trainer code path)"),
                 ("keras_streamed", "plain Keras fit, run_fn's streamed dataset"),
                 ("keras_in_memory", "plain Keras fit, in-memory batches")]
        lines += _table(["trainer", "training ex/s", "ms / step (incl. validation share)", "epochs measured"],
                        [[name, f"{over[key]['examples_per_s']:.0f}", f"{over[key]['step_ms']:.1f}",
                          len(over[key]["epoch_rates"])] for key, name in sides])
        lines += [f"Overhead of run_fn over in-memory Keras: {over['overhead']:+.1%}"
                  f" (input pipeline {over['input_pipeline_share']:+.1%}, strategy + callbacks "
                  f"{over['strategy_callbacks_share']:+.1%}).", ""]
    transform = speed.get("transform")
    if transform:
        lines += [f"Transform throughput on the same sample of {transform['tokens']:,} whitespace tokens "
                  f"({transform['rows']:,} texts); wall time includes pipeline (and worker) start-up:", ""]
        lines += _table(["preprocessing", "wall s", "tokens/s", "CPU s: main process / per worker", "produces"],
                        [[run["label"], f"{run['wall_s']:.1f}", f"{run['tokens_per_s']:,.0f}",
                          f"{run['cpu_s']:.0f} / " + (", ".join(f"{c:.0f}" for c in run["worker_cpu_s"]) or "-"),
                          run["produces"]]
                         for run in transform["runs"].values()])
        if "scaling_2_over_1" in transform:
            lines += [f"2 vs 1 worker: {transform['scaling_2_over_1']:.2f}x.", ""]

    lines += ["## 4. Memory (each phase in its own process)", "",
              "Peak RSS: the process's kernel high-water mark (includes the TensorFlow/TFX libraries every such "
              "process loads); process tree: largest sampled sum over the process and its children (Beam "
              f"workers). The parent process itself holds {report['meta']['parent_rss_mb']:.0f} MB after imports.",
              ""]
    lines += _table(["phase", "wall s", "CPU s", "peak RSS MB", "peak process-tree RSS MB"],
                    [[name, f"{c['wall_s']:.0f}", f"{c['cpu_s'] + sum(c['worker_cpu_s']):.0f}",
                      f"{c['peak_rss_mb']:.0f}", f"{c['peak_tree_rss_mb']:.0f}"]
                     for name, c in report["memory"].items()])

    lines += ["## 5. Targets (goals, not assertions)", ""]
    lines += _table(["status", "target", "goal", "measured", "margin / note"],
                    [[t["status"], t["name"], t["goal"], t["shown"], t["note"]] for t in report["targets"]])
    return "\n".join(lines)


def _misspelled_markdown(report: dict) -> List[str]:
    misspelled = report.get("misspelled")
    if not misspelled:
        return []
    names, stats = misspelled["sets"], misspelled["stats"]
    first = stats[names[0]]
    lines = ["## 2b. Real misspellings (dev lexicon, never trained or tuned on)", "",
             f"Dev words replaced by a human misspelling of them from the dev lexicon ({first['pairs']} pairs, "
             f"{first['corrections']} correct words), so that a share of all {first['tokens']} dev tokens (words "
             f"and punctuation marks) is misspelled; the lexicon covers {first['eligible']} tokens "
             f"({first['eligible'] / max(1, first['tokens']):.1%}). Same texts for every model, nested across shares.",
             ""]
    lines += _table(["set", "tokens misspelled"],
                    [[name, f"{stats[name]['substituted']} of {stats[name]['tokens']} "
                            f"({stats[name]['substituted'] / max(1, stats[name]['tokens']):.1%})"] for name in names])
    header = ["arm", "clean"] + names + [f"kept at {n.split()[-1]}" for n in names]
    rows = []
    for arm, by_set in misspelled["accuracy"].items():
        rows.append([arm, _pct(by_set["clean"])] + [_pct(by_set[n]) for n in names]
                    + [f"{misspelled['kept_fraction'][arm][n]:.1%}" for n in names])
    lines += _table(header, rows)
    if misspelled["nearest"]:
        lines += ["Nearest words: for each dev-lexicon pair whose correct word is in the vocabulary, is the correct "
                  "word among the 5 (1) nearest vocabulary words of the misspelling's merged token vector "
                  "(`embed_tokens`, cosine)?", ""]
        lines += _table(["arm", "hits@5", "hits@1", "pairs used"],
                        [[arm, _pct(n["hits_at_5"]), _pct(n["hits_at_1"]), f"{n['pairs_used']} of {n['pairs']}"]
                         for arm, n in misspelled["nearest"].items()])
    if misspelled["mcnemar"]:
        lines += [f"Paired test against {BASELINE_ARM} (exact McNemar; pooled over seeds, then per seed: "
                  "examples only the arm gets right / only word_only gets right, p):", ""]
        rows = []
        for arm, tests in misspelled["mcnemar"].items():
            for name, test in tests.items():
                pooled = test["pooled"]
                rows.append([arm, name, f"{pooled['only_first']} / {pooled['only_second']}", f"{pooled['p_value']:.3g}",
                             "; ".join(f"{t['only_first']}/{t['only_second']} p={t['p_value']:.2g}"
                                       for t in test["per_seed"])])
        lines += _table(["arm", "set", "pooled: only arm / only word_only", "pooled p", "per seed"], rows)
    return lines


def plot(report: dict, path: str) -> None:
    """Accuracy vs typo rate (left) and as a fraction of clean accuracy (right)."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    robust = report["robustness"]
    rates = robust["rates"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for variant, by_rate in robust["accuracy"].items():
        means = [by_rate[f"{r:g}"]["mean"] for r in rates]
        stds = [by_rate[f"{r:g}"]["std"] for r in rates]
        left.errorbar(rates, means, yerr=stds, marker="o", capsize=3, label=variant)
        right.plot(rates, [robust["kept_fraction"][variant][f"{r:g}"] for r in rates], marker="o", label=variant)
    left.set(xlabel="typo rate p (fraction of eligible tokens)", ylabel="dev accuracy",
             title=f"{report['data']['name']}: accuracy vs typos")
    right.set(xlabel="typo rate p", ylabel="fraction of clean accuracy", title="accuracy kept")
    for axis in (left, right):
        axis.grid(alpha=0.3)
        axis.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _jsonable(value):
    if isinstance(value, dict):
        return {(k if isinstance(k, str) else "/".join(str(p) for p in k) if isinstance(k, tuple) else f"{k:g}"
                 if isinstance(k, float) else str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write(report: dict, out_dir: str) -> Dict[str, str]:
    """Writes the three report files; returns their paths."""
    paths = {"json": os.path.join(out_dir, REPORT_JSON), "markdown": os.path.join(out_dir, REPORT_MD),
             "plot": os.path.join(out_dir, ROBUSTNESS_PNG)}
    with open(paths["json"], "w", encoding="utf-8") as handle:
        json.dump(_jsonable(report), handle, indent=2)
        handle.write("\n")
    with open(paths["markdown"], "w", encoding="utf-8") as handle:
        handle.write(markdown(report) + "\n")
    plot(report, paths["plot"])
    return paths

