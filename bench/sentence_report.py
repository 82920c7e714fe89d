"""What a pretrained sentence encoder fused with the char+word token path buys, and costs.

  python -m bench.sentence_report --data ../shared/data/sst2 \\
      --checkpoint ../shared/models/all-MiniLM-L6-v2 \\
      --lexicon ../shared/data/misspellings/dev_lexicon.tsv [--train-limit 20000] [--seeds 3]

One Transform (sentence vector materialised, ``model.sentence_placement`` transform) of
a seeded sample of the training rows feeds every model, so they see the same examples:

  token path      the hybrid char+word model alone (``model.sentence_path`` none)
  sentence path   an MLP head on the frozen sentence vector (bench/sentence_phases.py)
  fused gated     both, fused by the learned gate (``model.sentence_path`` gated)
  fused concat    both, concatenated and projected (fewer seeds)

Dev accuracy clean and with real misspellings (a ``--misspelled`` share of the dev
tokens replaced from the ``--lexicon``, the same texts for every model). Costs, each
measured side by side on ``--sample-rows`` training rows: Transform time with no sentence
path, with WordPiece ids only (placement model) and with the vector (placement
transform); training examples/s with the vector as a feature, with the frozen encoder in
the model and with the encoder fine-tuned; model size on disk; and serving p50/p99 for
1 and 32 sentences per request (bench/serving_latency.py, one client). Each phase runs
in its own process (bench/phases.py). Writes report.md and report.json under ``--out``.
"""
import argparse
import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional

from bench import quality
from bench import sentence_phases as phases
from bench.inputs import load_splits
from bench.phases import PhaseRunner, progress
from bench.report import summarize
from bench.settings import BenchSettings
from charword import contract
from charword.config import CharwordConfig, load_config
from charword.misspellings import by_correction, read_lexicon, substitute

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLEAN, MISSPELLED = "clean", "misspelled"
TOKEN, SENTENCE, GATED, CONCAT = "token path", "sentence path (MLP head)", "fused gated", "fused concat"
TARGET_FUSED, TARGET_MARGIN, TARGET_P99_MS = 0.88, 0.01, 50.0
NO_PATH, FROM_TRANSFORM = "no sentence path", "vector from Transform"
MAIN_TRANSFORM = "Transform (sentence vector materialised)"
# The side-by-side Transform runs: what they write -> the speed run whose config they use.
SAMPLE_TRANSFORMS = {"no sentence path": NO_PATH, "WordPiece ids (placement model)": "frozen encoder in the model",
                     "sentence vector (placement transform)": FROM_TRANSFORM}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train and dev files (SST-2 layout)")
    parser.add_argument("--checkpoint", required=True, help="Hugging Face BERT-family checkpoint directory")
    parser.add_argument("--lexicon", required=True, help="misspelling<TAB>correction TSV for the dev texts")
    parser.add_argument("--out", default=os.path.join("outputs", "bench", "sentence"))
    parser.add_argument("--train-limit", type=int, default=5000, help="seeded sample of training rows")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--concat-seeds", type=int, default=0)
    parser.add_argument("--steps", type=int, default=600, help="training steps of every model")
    parser.add_argument("--misspelled", type=float, default=0.1, help="share of dev tokens misspelled")
    parser.add_argument("--sample-rows", type=int, default=500, help="rows of the side-by-side cost runs")
    parser.add_argument("--speed-steps", type=int, default=60, help="steps of each training-speed run (3 epochs)")
    parser.add_argument("--serving-requests", type=int, default=100)
    parser.add_argument("--config", help="JSON config file (model, preprocessing, training sections)")
    return parser


def _configs(args: argparse.Namespace) -> Dict[str, CharwordConfig]:
    base = load_config(args.config)
    base = base.replace(training=dict(train_steps=args.steps, epochs=min(base.training.epochs, args.steps)))
    fused = dict(sentence_checkpoint=os.path.abspath(args.checkpoint))
    return {TOKEN: base, GATED: base.replace(model=dict(sentence_path="gated", **fused)),
            CONCAT: base.replace(model=dict(sentence_path="concat", **fused))}


def _speed_configs(fused: CharwordConfig, steps: int) -> Dict[str, tuple]:
    """Training-speed runs: name -> (config, the sample Transform it reads)."""
    speed = fused.replace(training=dict(train_steps=steps, epochs=3, eval_steps=2))
    in_model = speed.replace(model=dict(sentence_placement="model"))
    return {NO_PATH: (speed.replace(model=dict(sentence_path="none")), "no sentence path"),
            FROM_TRANSFORM: (speed, "sentence vector (placement transform)"),
            "frozen encoder in the model": (in_model, "WordPiece ids (placement model)"),
            "fine-tuned encoder in the model": (in_model.replace(model=dict(sentence_tuning="trainable")),
                                                "WordPiece ids (placement model)")}


def _serving(model_dir: str, requests: int, out: str) -> List[dict]:
    subprocess.run([sys.executable, "-m", "bench.serving_latency", "--model-dir", model_dir, "--clients", "1",
                    "--batches", "1,32", "--requests", str(requests), "--max-seconds", "120", "--output", out],
                   cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    with open(out, encoding="utf-8") as handle:
        return json.load(handle)["results"]


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    out = os.path.abspath(args.out)
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    cfgs = _configs(args)
    settings = BenchSettings(train_limit=args.train_limit)
    splits = load_splits(args.data, None, None, None, settings, work)
    dev_texts = [text for text, _ in splits.dev]
    dev_labels = [str(label) for _, label in splits.dev]
    lexicon = by_correction(read_lexicon(args.lexicon), lowercase=True)
    misspelled, counts = substitute(dev_texts, args.misspelled, seed=1, lexicon=lexicon)
    progress(f"{len(splits.train)} training rows (seeded sample of {splits.train_rows_available}), "
             f"{len(splits.validation)} held out for early stopping, {len(splits.dev)} dev; "
             f"{counts['substituted']} of {counts['tokens']} dev tokens misspelled")

    seeds = range(1, args.seeds + 1)
    trained = [(TOKEN, s) for s in seeds] + [(GATED, s) for s in seeds] + [(CONCAT, s)
                                                                          for s in range(1, args.concat_seeds + 1)]
    speed_cfgs = _speed_configs(cfgs[GATED], args.speed_steps)
    phase = PhaseRunner(len(SAMPLE_TRANSFORMS) + len(speed_cfgs) + 3 + len(trained) + args.seeds,
                        os.path.join(out, "logs"), 0.5)
    # Costs first (short phases, so a problem shows early), then the quality runs.
    sample = splits.train[: args.sample_rows]
    sample_data = {}
    for name, speed_name in SAMPLE_TRANSFORMS.items():
        slug = name.split()[0].lower()
        sample_data[name] = phase(f"sample_transform_{slug}", f"Transform of {len(sample)} rows: {name}",
                                  quality.transform_phase, sample, splits.validation[:200], speed_cfgs[speed_name][0],
                                  os.path.join(work, f"sample_{slug}"), ())["data"]
    speed = {}
    for i, (name, (cfg, transform_name)) in enumerate(speed_cfgs.items()):
        speed[name] = phase(f"speed_{i}", f"training speed: {name}", phases.fit_speed_phase,
                            sample_data[transform_name], cfg, os.path.join(work, f"speed_{i}"), name)
    progress("serving latency (one client)")
    serving = {name: _serving(speed[name]["model_dir"], args.serving_requests,
                              os.path.join(out, f"serving_{i}.json"))
               for i, name in enumerate((NO_PATH, FROM_TRANSFORM))}

    main_data = phase("transform", MAIN_TRANSFORM, quality.transform_phase,
                      splits.train, splits.validation, cfgs[GATED], os.path.join(work, "transform"), ())["data"]
    features = phase("dev_features", "dev features (serving layer)", phases.dev_features_phase,
                     main_data.transform_graph_dir, {CLEAN: dev_texts, MISSPELLED: misspelled},
                     os.path.join(work, "dev_features.npz"))
    models, runs = {}, {}
    for name, seed in trained:
        cfg = cfgs[name].replace(training=dict(seed=seed))
        label = f"{name} seed {seed}"
        runs[label] = phase(f"train_{name.split()[-1]}_{seed}", label, quality.train_phase, main_data, cfg,
                            os.path.join(work, f"{name.split()[-1]}_{seed}"), label)
        inputs = contract.MODEL_INPUTS + ((contract.SENTENCE_VECTOR,) if name != TOKEN else ())
        models[label] = (runs[label]["model_dir"], inputs)
    heads = {}
    for seed in seeds:
        cfg = cfgs[GATED].replace(training=dict(seed=seed))
        heads[f"{SENTENCE} seed {seed}"] = phase(
            f"head_{seed}", f"{SENTENCE} seed {seed}", phases.sentence_head_phase, main_data, cfg,
            cfg.model.sentence_fusion_dim, features["path"], dev_labels, f"{SENTENCE} seed {seed}")
    scored = phase("evaluate", "dev accuracy of the exported models", phases.evaluate_phase, models,
                   main_data.transform_graph_dir, features["path"], dev_labels, CLEAN, dev_texts[:200])
    phase.close()

    report = _report(args, splits, counts, runs, heads, scored, phase.costs, speed, serving,
                     features["texts_per_s"], len(sample), time.perf_counter() - started)
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    text = markdown(report)
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    print(text)
    progress(f"Done in {report['meta']['minutes']:.0f} min: {out}/report.md and report.json")
    return 0


def _report(args, splits, counts, runs, heads, scored, costs, speed, serving, dev_rate, sample_rows,
            seconds) -> dict:
    accuracy = {}
    for label, entry in list(scored.items()) + list(heads.items()):
        name = label.rsplit(" seed ", 1)[0]
        for condition, value in entry["accuracy"].items():
            accuracy.setdefault(name, {}).setdefault(condition, []).append(value)
    quality_rows = {name: {c: summarize(v) for c, v in conds.items()} for name, conds in accuracy.items()}
    fit_rates = {}
    for label, run in runs.items():
        fit_rates.setdefault(label.rsplit(" seed ", 1)[0], []).extend(run["epoch_rates"][1:])
    transform_costs = {label.split(": ", 1)[1]: cost for label, cost in costs.items()
                       if label.startswith("Transform of ")}
    return {
        "meta": {"minutes": seconds / 60, "checkpoint": os.path.abspath(args.checkpoint), "steps": args.steps,
                 "seeds": args.seeds, "concat_seeds": args.concat_seeds, "cpu_cores": os.cpu_count()},
        "data": {"train_rows": len(splits.train), "train_rows_available": splits.train_rows_available,
                 "validation_rows": len(splits.validation), "dev_rows": len(splits.dev), "misspelled": counts,
                 "misspelled_fraction": args.misspelled, "lexicon": os.path.abspath(args.lexicon)},
        "quality": quality_rows,
        "predict_text_agreement": {label: entry["predict_text_agreement"] for label, entry in scored.items()},
        "main_transform": costs.get(MAIN_TRANSFORM, {}),
        "dev_serving_layer_texts_per_s": dev_rate,
        "fit_examples_per_s_main": {name: summarize(v) for name, v in fit_rates.items()},
        "sample_rows": sample_rows,
        "sample_transform": transform_costs,
        "speed": {name: {"examples_per_s": summarize(run["epoch_rates"][1:]), "size_mb": run["size_mb"]}
                  for name, run in speed.items()},
        "serving": serving,
    }


def _pct(s: dict) -> str:
    if not s or not s["n"]:
        return "n/a"
    return f"{s['mean']:.1%}" + (f" ± {100 * s['std']:.1f} (n={s['n']})" if s["n"] > 1 else " (n=1)")


def _table(header, rows) -> List[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""])


def targets(report: dict) -> List[tuple]:
    """(target, result, PASS/MISS) rows."""
    quality_rows = report["quality"]
    fused = quality_rows.get(GATED, {})
    alone = quality_rows.get(SENTENCE, {})
    rows = []
    if fused:
        clean = fused[CLEAN]["mean"]
        rows.append((f"fused >= {TARGET_FUSED:.0%} SST-2 dev", f"{clean:.1%}", "PASS" if clean >= TARGET_FUSED else
                     "MISS"))
        gap = fused[MISSPELLED]["mean"] - alone[MISSPELLED]["mean"]
        rows.append((f"fused >= sentence path alone + {100 * TARGET_MARGIN:.0f} point under misspellings",
                     f"{fused[MISSPELLED]['mean']:.1%} vs {alone[MISSPELLED]['mean']:.1%} ({100 * gap:+.1f} points)",
                     "PASS" if gap >= TARGET_MARGIN else "MISS"))
    one = [r for r in report["serving"].get(FROM_TRANSFORM, []) if r["sentences_per_request"] == 1]
    if one:
        rows.append((f"serving p99 for 1 sentence <= {TARGET_P99_MS:.0f} ms (CPU)", f"{one[0]['p99_ms']:.1f} ms",
                     "PASS" if one[0]["p99_ms"] <= TARGET_P99_MS else "MISS"))
    return rows


def markdown(report: dict) -> str:
    meta, data = report["meta"], report["data"]
    lines = ["# Sentence encoder fused with the token path", "",
             f"{data['train_rows']} training rows (seeded sample of {data['train_rows_available']}), "
             f"{data['validation_rows']} held out for early stopping, {data['dev_rows']} dev rows; "
             f"{meta['steps']} steps of 32 per model; seeds 1..{meta['seeds']} (fused concat: "
             f"{meta['concat_seeds']}); {meta['cpu_cores']} CPU cores; {meta['minutes']:.0f} min in all. "
             f"Misspelled dev: {data['misspelled']['substituted']} of {data['misspelled']['tokens']} tokens "
             f"({data['misspelled']['substituted'] / data['misspelled']['tokens']:.1%}) replaced from the lexicon.", ""]
    lines += _table(["model", "dev accuracy", f"dev, {data['misspelled_fraction']:.0%} misspelled"],
                    [(name, _pct(rows.get(CLEAN)), _pct(rows.get(MISSPELLED)))
                     for name, rows in report["quality"].items()])
    lines += _table(["target", "result", ""], targets(report))
    agreement = report["predict_text_agreement"]
    lines += [f"predict_text (raw text in) agrees with the scored classifier on "
              f"{min(agreement.values()):.0%}-{max(agreement.values()):.0%} of 200 dev texts.", ""]
    main = report["main_transform"]
    lines += [f"Transform of {data['train_rows'] + data['validation_rows']} rows with the sentence vector: "
              f"{main.get('wall_s', float('nan')):.0f} s wall, {main.get('cpu_s', float('nan')):.0f} CPU s. "
              "Serving layer (batches of 256): "
              + ", ".join(f"{c} {r:.1f} texts/s" for c, r in report["dev_serving_layer_texts_per_s"].items()) + ".",
              ""]
    lines += [f"Side by side on {report['sample_rows']} rows (the second and third training epochs count):", ""]
    lines += _table(["Transform writes", "wall s", "CPU s", "peak RSS MB"],
                    [(name, f"{c['wall_s']:.0f}", f"{c['cpu_s']:.0f}", f"{c['peak_rss_mb']:.0f}")
                     for name, c in report["sample_transform"].items()])
    lines += _table(["training", "examples/s", "SavedModel MB"],
                    [(name, f"{s['examples_per_s']['mean']:.0f} ± {s['examples_per_s']['std']:.0f}",
                      f"{s['size_mb']:.0f}") for name, s in report["speed"].items()])
    lines += _table(["model served", "sentences/request", "requests", "p50 ms", "p99 ms", "sentences/s"],
                    [(name, r["sentences_per_request"], r["requests"], f"{r['p50_ms']:.1f}", f"{r['p99_ms']:.1f}",
                      f"{r['sentences_per_s']:.0f}") for name, rows in report["serving"].items() for r in rows])
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
