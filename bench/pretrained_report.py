"""Benchmark of pretrained word vectors: random init vs frozen vs trainable vs
frozen-then-trainable, for ``word_only`` and ``hybrid``.

  python -m bench.pretrained_report --data ../shared/data/sst2 \\
      --vectors ../shared/data/glove/glove.6B.50d.100k.txt.gz [--out outputs/bench/pretrained]
      [--seeds 3] [--steps 2000] [--variants hybrid,word_only]
      [--modes random,frozen,trainable,frozen_then_trainable] [--config cfg.json]
      [--similarity FILE ...] [--lexicon FILE] [--read-scale 4] [--train-limit N] [--jobs 1]

Every model trains through the project's own Transform and ``run_fn`` with the same step
budget and seeds (``random`` is the plain model, the others set ``model.word_vectors``
and ``model.word_vectors_mode``), and is scored on the dev texts through its exported
``predict_text`` signature. Also measured: training examples/s per arm, the vectors
file's coverage (from the Trainer's ``contract.WORD_VECTORS_REPORT``), how long reading
the file takes with and without the vocabulary filter (and on a file ``--read-scale``
times as long), and, for each arm's first seed, the intrinsic report of
:mod:`embeddings.report` (word similarity, misspelling neighbours). Seeds run one after
the other; ``report.md`` and ``report.json`` under ``--out`` are rewritten after each, so
an interrupted run still leaves the seeds it finished.
"""
import argparse
import gzip
import json
import os
import shlex
import shutil
import sys
import time
from typing import Dict, List, Optional, Sequence

os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import charword  # noqa: E402,F401  pylint: disable=wrong-import-position  (Keras flavour before TensorFlow)
from bench import inputs  # noqa: E402  pylint: disable=wrong-import-position
from bench.phases import PhaseError, PhaseRunner, progress  # noqa: E402  pylint: disable=wrong-import-position
from bench.report import summarize  # noqa: E402  pylint: disable=wrong-import-position
from bench.settings import BenchSettings  # noqa: E402  pylint: disable=wrong-import-position
from charword import contract  # noqa: E402  pylint: disable=wrong-import-position
from charword.config import ConfigError, load_config  # noqa: E402  pylint: disable=wrong-import-position

MODES = ("random", "frozen", "trainable", "frozen_then_trainable")
TARGET_ACCURACY = 0.85   # hybrid with pretrained vectors, mean over seeds
TARGET_GAIN = 0.02       # over random init, same step budget


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.pretrained_report", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="directory with train + dev .tsv/.csv (see bench/inputs.py)")
    parser.add_argument("--vectors", required=True, help="pretrained word vectors (GloVe/word2vec/fastText text)")
    parser.add_argument("--out", default=os.path.join("outputs", "bench", "pretrained"), help="report directory")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3)")
    parser.add_argument("--steps", type=int, default=BenchSettings.train_steps, help="Trainer steps per model")
    parser.add_argument("--variants", default="hybrid,word_only", help="comma-separated model variants")
    parser.add_argument("--modes", default=",".join(MODES), help=f"comma-separated arms among {', '.join(MODES)}")
    parser.add_argument("--config", help="JSON file of CharwordConfig sections (model, training, ...)")
    parser.add_argument("--similarity", action="append", default=[], metavar="FILE",
                        help="word-similarity file for the intrinsic report (repeatable)")
    parser.add_argument("--lexicon", help="misspelling lexicon (misspelling<TAB>correction) for the intrinsic report")
    parser.add_argument("--read-scale", type=int, default=4,
                        help="also time reading a file this many times as long as --vectors (0: skip)")
    parser.add_argument("--train-limit", type=int, help="use at most N training rows (seeded sample)")
    parser.add_argument("--resume", action="store_true",
                        help="keep --out's earlier runs: arms and seeds already trained and scored are not run again, "
                             "and the report covers every scored run found there")
    parser.add_argument("--transform-dir", help="reuse this Transform output of an earlier run on the same data and "
                                                "settings (a copy of its work/transform directory)")
    parser.add_argument("--jobs", type=int, default=1, help="phases at once (more skews timings: smoke runs only)")
    return parser


def read_speed_phase(path: str, vocabulary: List[str], scale: int, work_dir: str) -> dict:
    """Seconds to read ``path`` for the vocabulary only and for every word, and for the
    vocabulary from a file ``scale`` times as long (its lines repeated with suffixed words)."""
    from charword.word_vectors import read_word_vectors  # pylint: disable=import-outside-toplevel
    result = {}
    for name, words in (("vocabulary", vocabulary), ("all_words", None)):
        started = time.perf_counter()
        vectors = read_word_vectors(path, words)
        result[name] = {"seconds": time.perf_counter() - started, "lines": vectors.lines, "kept": len(vectors.index)}
    if scale > 1:
        scaled = os.path.join(work_dir, f"vectors_x{scale}.txt.gz")
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as source:
            lines = source.read().splitlines()
        with gzip.open(scaled, "wb", compresslevel=6) as out:
            for copy in range(scale):
                for line in lines:
                    word, _, rest = line.partition(b" ")
                    out.write(word + (b"_%d" % copy if copy else b"") + b" " + rest + b"\n")
        started = time.perf_counter()
        vectors = read_word_vectors(scaled, vocabulary)
        result["scaled_vocabulary"] = {"seconds": time.perf_counter() - started, "lines": vectors.lines,
                                       "kept": len(vectors.index), "scale": scale}
        os.remove(scaled)
    return result


def intrinsic_phase(model_dirs: Dict[str, str], vectors: str, similarity: Sequence[str], lexicon: Optional[str],
                    out_dir: str) -> dict:
    """The intrinsic report of each model (pretrained vectors included once)."""
    from embeddings import report as intrinsic  # pylint: disable=import-outside-toplevel
    results = {}
    for label, model_dir in model_dirs.items():
        label_dir = os.path.join(out_dir, label.replace("/", "_"))
        done = _read_json(os.path.join(label_dir, intrinsic.REPORT_JSON))
        if done is not None:
            with open(os.path.join(label_dir, intrinsic.REPORT_MD), encoding="utf-8") as handle:
                results[label] = {**done, "markdown": handle.read()}
            continue
        progress(f"  intrinsic report: {label}")
        results[label] = intrinsic.write_report(model_dir, label_dir, similarity, lexicon, vectors)
    return results


RUN_RESULT = "result.json"  # a finished Trainer run: model_dir, wall_s, epoch_rates
RUN_SCORE = "score.json"    # its dev accuracy


def _write_json(path: str, value: dict) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(value, handle, indent=2)


def _train_and_keep(data, cfg, run_dir: str, label: str) -> dict:
    """One Trainer run; its result is also kept in ``run_dir`` so that ``--resume`` skips it."""
    from bench import quality  # pylint: disable=import-outside-toplevel
    result = quality.train_phase(data, cfg, run_dir, label)
    _write_json(os.path.join(run_dir, RUN_RESULT), result)
    return result


def _finished_runs(models_dir: str):
    """``(runs, scores)`` of every evaluated run under ``models_dir``, keyed ``variant/mode/seed``
    (this invocation's and earlier ones')."""
    runs, scores = {}, {}
    for variant in sorted(os.listdir(models_dir)) if os.path.isdir(models_dir) else []:
        for mode in sorted(os.listdir(os.path.join(models_dir, variant))):
            for seed_dir in sorted(os.listdir(os.path.join(models_dir, variant, mode))):
                run_dir = os.path.join(models_dir, variant, mode, seed_dir)
                result, score = (_read_json(os.path.join(run_dir, name)) for name in (RUN_RESULT, RUN_SCORE))
                if result and score:
                    key = f"{variant}/{mode}/{seed_dir[len('seed'):]}"
                    runs[key], scores[key] = result, score
    return runs, scores


def _arm_config(cfg, variant: str, mode: str, seed: int, vectors: str):
    model = {"variant": variant, "word_vectors": None}
    if mode != "random":
        model.update(word_vectors=vectors, word_vectors_mode=mode)
    return cfg.replace(model=model, training={"seed": seed})


def _read_json(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _pct(stats: dict) -> str:
    return f"{stats['mean']:.1%} ± {100 * stats['std']:.1f}" if stats["n"] else "n/a"


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> List[str]:
    return (["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
            + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""])


def build_report(raw: dict) -> dict:
    """Per-arm accuracy and speed summaries and the targets, from the raw results."""
    arms = {}
    for key, run in raw["runs"].items():
        variant, mode, seed = key.split("/")
        arm = arms.setdefault(f"{variant}/{mode}", {"variant": variant, "mode": mode, "accuracy": [],
                                                    "oov_accuracy": [], "examples_per_s": [], "wall_s": []})
        scores = raw["scores"][key]
        arm["accuracy"].append(scores["accuracy"])
        arm["oov_accuracy"].append(scores["oov_accuracy"])
        # Epoch 1 includes tracing; the later epochs show the training speed.
        rates = run["epoch_rates"][1:] or run["epoch_rates"]
        arm["examples_per_s"].append(sum(rates) / len(rates))
        arm["wall_s"].append(run["wall_s"])
    for arm in arms.values():
        for name in ("accuracy", "oov_accuracy", "examples_per_s", "wall_s"):
            arm[name] = summarize(arm[name])
    targets = []
    random = arms.get("hybrid/random")
    pretrained = [arm for arm in arms.values() if arm["variant"] == "hybrid" and arm["mode"] != "random"]
    if pretrained:
        best = max(pretrained, key=lambda arm: arm["accuracy"]["mean"])
        mean = best["accuracy"]["mean"]
        targets.append({"name": f"hybrid with pretrained vectors >= {TARGET_ACCURACY:.1%} dev accuracy",
                        "status": "PASS" if mean >= TARGET_ACCURACY else "MISS",
                        "shown": f"{mean:.1%} ({best['mode']})"})
        if random:
            gain = mean - random["accuracy"]["mean"]
            targets.append({"name": f"hybrid with pretrained vectors >= random init + {100 * TARGET_GAIN:.0f} points",
                            "status": "PASS" if gain >= TARGET_GAIN else "MISS",
                            "shown": f"{100 * gain:+.1f} points ({best['mode']} vs random)"})
    return {"meta": raw["meta"], "data": raw["data"], "arms": arms, "targets": targets,
            "coverage": raw["coverage"], "read_speed": raw["read_speed"], "intrinsic": raw.get("intrinsic")}


def markdown(report: dict) -> str:
    meta, data = report["meta"], report["data"]
    lines = [f"# Pretrained word vectors: {data['name']}", "",
             f"`{meta['command']}`", "",
             f"{data['train_rows']} training rows (+{data['validation_rows']} for early stopping), "
             f"{data['dev_rows']} dev rows; {meta['train_steps']} steps of {meta['batch_size']}, seeds "
             f"{meta['seeds']}; vectors {meta['vectors']}; {meta['cpus']} CPUs, load {meta['load_start']} -> "
             f"{meta['load_end']}; {meta['wall_s'] / 60:.0f} min.", "",
             "## Dev accuracy (mean ± std over seeds)", ""]
    rows = [[arm["variant"], arm["mode"], _pct(arm["accuracy"]), _pct(arm["oov_accuracy"]),
             f"{arm['examples_per_s']['mean']:.0f}", f"{arm['wall_s']['mean']:.0f}"]
            for arm in report["arms"].values()]
    lines += _table(["variant", "word vectors", "dev accuracy", "dev examples with an OOV word",
                     "training examples/s", "run_fn wall s"], rows)
    coverage = report["coverage"]
    if coverage:
        lines += [f"Coverage: {coverage['words_found']} of {coverage['vocabulary_words']} vocabulary words "
                  f"({coverage['word_fraction']:.1%}), {coverage['tokens_found']} of {coverage['train_tokens']} "
                  f"train tokens ({coverage['token_fraction']:.1%}).", ""]
    speed = report["read_speed"]
    lines += ["## Reading the vectors file", ""]
    rows = [[name, value["lines"], value["kept"], f"{value['seconds']:.1f}"] for name, value in speed.items()]
    lines += _table(["read", "lines", "vectors kept", "seconds"], rows)
    lines += ["## Targets", ""] + [f"- {t['status']}: {t['name']}: {t['shown']}" for t in report["targets"]] + [""]
    intrinsic = report.get("intrinsic")
    if intrinsic:
        lines += ["## Intrinsic evaluation (first seed of each arm)", ""]
        for label, result in intrinsic.items():
            lines += [f"### {label}", "", result["markdown"], ""]
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    variants, modes = args.variants.split(","), args.modes.split(",")
    if any(mode not in MODES for mode in modes):
        parser.error(f"--modes must be among {', '.join(MODES)}")
    try:
        cfg = load_config(args.config)
        for variant in variants:
            cfg.replace(model={"variant": variant, "word_vectors": args.vectors})
    except ConfigError as error:
        raise SystemExit(f"configuration: {error}") from None
    settings = BenchSettings().replace(seeds=args.seeds, train_steps=args.steps, train_limit=args.train_limit)
    work_dir = os.path.join(args.out, "work")
    if not args.resume:
        shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir, exist_ok=True)
    started, load_start = time.time(), os.getloadavg()

    progress(f"Reading {args.data}")
    splits = inputs.load_splits(args.data, None, None, None, settings, work_dir)
    progress(f"  train {len(splits.train)} rows (+{len(splits.validation)} for early stopping), dev {len(splits.dev)}")
    sys.argv = sys.argv[:1]  # TFX/Beam parse sys.argv with absl flags; these flags are not theirs
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tensorflow_transform as tft  # pylint: disable=import-outside-toplevel

    from bench import quality  # pylint: disable=import-outside-toplevel
    from harness.transform import written_to  # pylint: disable=import-outside-toplevel
    from pipeline.beam_args import resolve_beam_args  # pylint: disable=import-outside-toplevel
    from trainer.training import epoch_split  # pylint: disable=import-outside-toplevel
    epochs, _ = epoch_split(settings.train_steps, cfg.training)
    cfg = cfg.replace(training={"train_steps": settings.train_steps, "epochs": epochs})

    runs_total = len(variants) * len(modes) * settings.seeds
    phase = PhaseRunner(2 + runs_total + 2 * settings.seeds, os.path.join(args.out, "logs"), settings.poll_s,
                        args.jobs)
    if args.transform_dir:
        data = written_to(args.transform_dir)
        progress(f"Reusing the Transform output in {args.transform_dir}")
    else:
        beam_args = resolve_beam_args(cfg.pipeline, sum(len(text.encode("utf-8")) for text, _ in splits.train))
        data = phase("transform", "Transform (training data)", quality.transform_phase, splits.train,
                     splits.validation, cfg, os.path.join(work_dir, "transform"), beam_args)["data"]
    vocabulary = [w.decode("utf-8", "replace")
                  for w in tft.TFTransformOutput(data.transform_graph_dir).vocabulary_by_name(contract.WORD_VOCAB)]
    raw = {
        "meta": {"command": "python -m bench.pretrained_report " + " ".join(shlex.quote(a) for a in argv),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)), "cpus": os.cpu_count(),
                 "load_start": " ".join(f"{x:.1f}" for x in load_start), "tensorflow": tf.__version__,
                 "seeds": [], "train_steps": settings.train_steps, "batch_size": cfg.training.batch_size,
                 "vectors": args.vectors, "config": cfg.to_dict()},
        "data": {"name": os.path.basename(os.path.normpath(args.data)), "train_rows": len(splits.train),
                 "validation_rows": len(splits.validation), "dev_rows": len(splits.dev),
                 "word_vocab_size": len(vocabulary)},
        "runs": {}, "scores": {}, "coverage": None,
        "read_speed": phase("read_speed", "Reading the vectors file", read_speed_phase, args.vectors, vocabulary,
                            args.read_scale, work_dir),
    }
    models_dir = os.path.join(work_dir, "models")
    for seed in range(1, settings.seeds + 1):
        futures = {}
        for variant in variants:
            for mode in modes:
                key = f"{variant}/{mode}/{seed}"
                run_dir = os.path.join(models_dir, variant, mode, f"seed{seed}")
                if _read_json(os.path.join(run_dir, RUN_RESULT)) is None:
                    futures[key] = phase.submit(f"train_{variant}_{mode}_seed{seed}", f"Trainer {key}",
                                                _train_and_keep, data,
                                                _arm_config(cfg, variant, mode, seed, args.vectors), run_dir, key)
        for future in futures.values():
            future.result()
        unscored = {f"{variant}/{mode}/{seed}": run_dir for variant in variants for mode in modes
                    for run_dir in [os.path.join(models_dir, variant, mode, f"seed{seed}")]
                    if _read_json(os.path.join(run_dir, RUN_RESULT))
                    and not _read_json(os.path.join(run_dir, RUN_SCORE))}
        if unscored:
            evaluation = phase(f"evaluate_seed{seed}", f"Evaluation (dev), seed {seed}", quality.evaluate_phase,
                               {(key, seed): _read_json(os.path.join(run_dir, RUN_RESULT))["model_dir"]
                                for key, run_dir in unscored.items()},
                               data.transform_graph_dir, [str(label) for _, label in splits.dev],
                               {0.0: [text for text, _ in splits.dev]})
            for (key, _), entry in evaluation["models"].items():
                _write_json(os.path.join(unscored[key], RUN_SCORE),
                            {"accuracy": entry["accuracy"][0.0], "oov_accuracy": entry["oov_accuracy"]})
        raw["runs"], raw["scores"] = _finished_runs(models_dir)
        raw["meta"]["seeds"] = sorted({int(key.rsplit("/", 1)[1]) for key in raw["scores"]})
        runs = {key: run for key, run in raw["runs"].items() if key.endswith(f"/{seed}") and key in raw["scores"]}
        raw["coverage"] = raw["coverage"] or next(
            (found for key, run in runs.items() if "/random/" not in key
             for found in [_read_json(os.path.join(os.path.dirname(run["model_dir"]), "model_run",
                                                   contract.WORD_VECTORS_REPORT))] if found), None)
        if seed == 1 and (args.similarity or args.lexicon):
            firsts = {key.rsplit("/", 1)[0]: run["model_dir"] for key, run in runs.items()}
            try:
                raw["intrinsic"] = phase("intrinsic", "Intrinsic evaluation", intrinsic_phase, firsts, args.vectors,
                                         args.similarity, args.lexicon, os.path.join(args.out, "intrinsic"))
            except PhaseError as error:
                progress(f"intrinsic evaluation failed: {error}")
        report = _write(raw, args.out, started)
        progress(f"Report after seed {seed} written to {os.path.join(args.out, 'report.md')}")
    phase.close()
    progress(f"Done in {(time.time() - started) / 60:.1f} min")
    for target in report["targets"]:
        print(f"{target['status']:4}  {target['name']}: {target['shown']}")
    print(f"\nReport: {os.path.join(args.out, 'report.md')}")
    return 0


def _write(raw: dict, out_dir: str, started: float) -> dict:
    """Writes report.json and report.md from the results so far; returns the report."""
    raw["meta"].update(wall_s=time.time() - started, load_end=" ".join(f"{x:.1f}" for x in os.getloadavg()))
    report = build_report(raw)
    with open(os.path.join(out_dir, "report.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2, default=str)
    with open(os.path.join(out_dir, "report.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown(report) + "\n")
    return report


if __name__ == "__main__":
    sys.exit(main())
