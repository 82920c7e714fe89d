"""Benchmark report of the hybrid char+word model vs word-only and char-only.

  python -m bench.hybrid_report --data ../shared/data/sst2 [--out outputs/bench/sst2]
      [--train-limit N] [--seeds 3] [--steps S] [--speed-tokens T]
      [--text-column C --label-column L] [--eval-data DEV] [--config cfg.json] [--jobs 1]

Trains every variant through the project's own Transform (``harness.transform.transform_rows``)
and Trainer (``trainer.task.run_fn``), then writes ``report.md``, ``report.json`` and
``robustness.png`` under ``--out``: dev accuracy per variant over seeds, accuracy under
character typos and on OOV examples, speed ratios measured side by side (char CNN vs
BiLSTM, run_fn vs plain Keras, Transform with 1 vs 2 Beam workers vs Keras
TextVectorization), peak memory per phase, and PASS/MISS against the targets in
:class:`bench.settings.Targets`. Knobs live in :class:`bench.settings.BenchSettings`;
model and training settings come from the project's ``CharwordConfig`` (``--config``).
"""
import argparse
import dataclasses
import json
import os
import shlex
import shutil
import sys
import time
from typing import List, Optional

os.environ.setdefault("PYTHONWARNINGS", "ignore")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import charword  # noqa: E402,F401  pylint: disable=wrong-import-position  (Keras flavour before TensorFlow)
from bench import inputs, typos  # noqa: E402  pylint: disable=wrong-import-position
from bench.misspelled import real_sets  # noqa: E402  pylint: disable=wrong-import-position
from bench.phases import PhaseRunner, progress  # noqa: E402  pylint: disable=wrong-import-position
from bench.settings import ARMS, BenchSettings, arm_config  # noqa: E402  pylint: disable=wrong-import-position
from charword.config import CharwordConfig, ConfigError, load_config  # noqa: E402  pylint: disable=wrong-import-position
from pipeline.beam_args import resolve_beam_args  # noqa: E402  pylint: disable=wrong-import-position


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.hybrid_report", description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True,
                        help="directory with train + dev|validation|eval|test .tsv/.csv, or one file (split)")
    parser.add_argument("--eval-data", help="explicit dev file (then --data is the training file)")
    parser.add_argument("--out", help="report directory (default: outputs/bench/<data name>)")
    parser.add_argument("--text-column", help="text column (default: first of text, sentence, review, ...)")
    parser.add_argument("--label-column", help="label column (default: first of label, sentiment, class, ...)")
    parser.add_argument("--train-limit", type=int, help="use at most N training rows (seeded sample)")
    parser.add_argument("--seeds", type=int, help=f"seeds per variant (default {BenchSettings.seeds})")
    parser.add_argument("--steps", type=int, help=f"Trainer steps per model (default {BenchSettings.train_steps})")
    parser.add_argument("--speed-tokens", type=int,
                        help=f"Transform-throughput sample in tokens (default {BenchSettings.transform_tokens:,})")
    parser.add_argument("--speed-steps", type=int,
                        help=f"timed steps per char-encoder round (default {BenchSettings.speed_timed_steps})")
    parser.add_argument("--overhead-steps", type=int,
                        help=f"steps per epoch of the run_fn-vs-Keras fits "
                             f"(default {BenchSettings.overhead_steps_per_epoch})")
    parser.add_argument("--config", help="JSON file of CharwordConfig sections (model, training, ...)")
    parser.add_argument("--arms", help="comma-separated arms to train (default: "
                                       f"{','.join(BenchSettings.variants)}; all: {','.join(ARMS)})")
    parser.add_argument("--train-lexicon", help="misspelling lexicon (misspelling<TAB>correction) of the training "
                                                "noise; without it the noise is synthetic typos only")
    parser.add_argument("--dev-lexicon", help="misspelling lexicon the dev set is scored with (never trained or tuned "
                                              "on): real-misspelling accuracies, McNemar, nearest-word hits")
    parser.add_argument("--word-vectors", help="pretrained word vectors of the +vectors arms")
    parser.add_argument("--resume", action="store_true",
                        help="reuse the Transform and the finished Trainer runs an interrupted run of the same command "
                             "left in --out (each phase records its result.json when it finishes)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="phases run at once (default 1; more overlaps them and skews timings: smoke runs only)")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                        help="any other BenchSettings field, value as JSON (repeatable), e.g. --set speed_rounds=1")
    return parser


def _settings(args: argparse.Namespace) -> BenchSettings:
    extra = {}
    for item in args.set:
        name, _, value = item.partition("=")
        if name not in {f.name for f in dataclasses.fields(BenchSettings)} or name == "targets":
            raise SystemExit(f"--set {item}: no such BenchSettings field")
        parsed = json.loads(value)
        extra[name] = tuple(parsed) if isinstance(parsed, list) else parsed
    arms = tuple(args.arms.split(",")) if args.arms else None
    return BenchSettings().replace(seeds=args.seeds, train_steps=args.steps, train_limit=args.train_limit,
                                   transform_tokens=args.speed_tokens, speed_timed_steps=args.speed_steps,
                                   overhead_steps_per_epoch=args.overhead_steps, variants=arms,
                                   train_lexicon=args.train_lexicon, dev_lexicon=args.dev_lexicon,
                                   word_vectors=args.word_vectors, **extra)


def _project_config(args: argparse.Namespace) -> CharwordConfig:
    """The ``--config`` file over the defaults; a bad file stops the run before any work."""
    try:
        return load_config(args.config)
    except ConfigError as error:
        raise SystemExit(f"--config: {error}") from None


def _with_step_budget(cfg: CharwordConfig, train_steps: int) -> CharwordConfig:
    """``cfg`` training for ``train_steps`` steps, in as many epochs as ``run_fn`` splits them into."""
    from trainer.training import epoch_split  # pylint: disable=import-outside-toplevel  (loads TensorFlow)
    epochs, _ = epoch_split(train_steps, cfg.training)
    return cfg.replace(training={"train_steps": train_steps, "epochs": epochs})


def _data_name(data: str) -> str:
    return os.path.splitext(os.path.basename(os.path.normpath(data)))[0] or "data"


def _submit_training(phase: PhaseRunner, quality, data, cfg: CharwordConfig, settings: BenchSettings,
                     work_dir: str) -> dict:
    """One Trainer run per (arm, seed), same step budget; futures of their results."""
    runs = {}
    for seed in range(1, settings.seeds + 1):
        for variant in settings.variants:
            run_cfg = arm_config(cfg, ARMS[variant], settings.train_lexicon, settings.word_vectors).replace(
                training={"seed": seed})
            label = f"{variant} seed {seed}"
            runs[(variant, seed)] = phase.submit(
                f"train_{variant}_seed{seed}", f"Trainer {label}", quality.train_phase, data, run_cfg,
                os.path.join(work_dir, "models", variant, f"seed{seed}"), label)
    return runs


TRANSFORM_SPEED_LABELS = {workers: f"Speed: Transform, {workers} Beam worker(s)" for workers in (1, 2)}
TEXT_VECTORIZATION_LABEL = "Speed: Keras TextVectorization"


def _submit_transform_speed(phase: PhaseRunner, speed, splits, cfg: CharwordConfig, settings: BenchSettings,
                            work_dir: str) -> dict:
    """Transform with 1 and 2 Beam workers and Keras TextVectorization on one token sample;
    futures. They need no trained model, so they are queued first."""
    sample = inputs.token_sample(splits.train, settings.transform_tokens, settings.split_seed)
    pending = {"sample": sample}
    for workers, label in TRANSFORM_SPEED_LABELS.items():
        pending[f"beam_{workers}"] = phase.submit(
            f"speed_transform_{workers}", label, speed.transform_phase, sample, splits.validation[:200], cfg,
            os.path.join(work_dir, "speed", f"transform_{workers}"),
            (f"--direct_running_mode={settings.transform_speed_mode}", f"--direct_num_workers={workers}"))
    pending["keras_text_vectorization"] = phase.submit(
        "speed_text_vectorization", TEXT_VECTORIZATION_LABEL, speed.text_vectorization_phase,
        [text for text, _ in sample], cfg)
    return pending


def _submit_training_speed(phase: PhaseRunner, speed, cfg: CharwordConfig, settings: BenchSettings, work_dir: str,
                           data) -> dict:
    """Char encoders and Trainer overhead on the transformed training data; futures."""
    return {
        "char_encoder": phase.submit("speed_char_encoders", "Speed: CNN vs BiLSTM char encoder",
                                     speed.char_encoder_phase, data, cfg, settings, os.path.join(work_dir, "speed")),
        "trainer_overhead": phase.submit("speed_trainer_overhead", "Speed: run_fn vs plain Keras",
                                         speed.trainer_overhead_phase, data, cfg, settings,
                                         os.path.join(work_dir, "speed", "overhead")),
    }


def _collect_speed(pending: dict, costs: dict, settings: BenchSettings) -> dict:
    """Speed results once their phases are done; Transform runs get tokens/s and CPU seconds."""
    runs = {}
    for workers, label in TRANSFORM_SPEED_LABELS.items():
        runs[f"beam_{workers}"] = {
            "label": f"tf.Transform on Beam, {settings.transform_speed_mode}, {workers} worker(s)",
            "produces": "word + char ids, counts, vocabularies, TFRecords", **pending[f"beam_{workers}"].result(),
            "cpu_s": costs[label]["cpu_s"], "worker_cpu_s": costs[label]["worker_cpu_s"]}
    value = pending["keras_text_vectorization"].result()
    runs["keras_text_vectorization"] = {
        "label": "Keras TextVectorization adapt + call (in process)",
        "produces": f"word ids only, in memory ({value['vocabulary_size']:,} words)", **value,
        "cpu_s": costs[TEXT_VECTORIZATION_LABEL]["cpu_s"], "worker_cpu_s": []}
    tokens = sum(len(text.split()) for text, _ in pending["sample"])
    for run in runs.values():
        run["tokens_per_s"] = tokens / run["wall_s"]
    return {"char_encoder": pending["char_encoder"].result(),
            "trainer_overhead": pending["trainer_overhead"].result(),
            "transform": {"tokens": tokens, "rows": len(pending["sample"]), "runs": runs,
                          "scaling_2_over_1": runs["beam_2"]["tokens_per_s"] / runs["beam_1"]["tokens_per_s"]}}


def selection_set(validation: List[tuple], settings: BenchSettings) -> dict:
    """The held-out training rows (never trained on, not the dev set) clean and with
    ``settings.selection_rate`` of their tokens misspelled: from the training lexicon when
    there is one (the dev lexicon stays unseen), else synthetic typos. Settings are
    chosen on it, so that the dev numbers stay honest."""
    texts = [text for text, _ in validation]
    labels = [str(label) for _, label in validation]
    rate = settings.selection_rate
    if settings.train_lexicon:
        sets, _ = real_sets(texts, settings.train_lexicon, (rate,), settings.misspelling_seed)
        misspelled, source = next(iter(sets.values())), f"{rate:.0%} of tokens misspelled from the training lexicon"
    else:
        misspelled, _ = typos.perturb_texts(texts, rate, settings.typo_seed)
        source = f"one-edit typos on {rate:.0%} of eligible tokens"
    return {"labels": labels, "clean": texts, "misspelled": misspelled, "source": source}


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    settings = _settings(args)
    cfg = _project_config(args)
    out_dir = args.out or os.path.join("outputs", "bench", _data_name(args.data))
    work_dir = os.path.join(out_dir, "work")
    if not args.resume:
        shutil.rmtree(work_dir, ignore_errors=True)
    os.makedirs(work_dir, exist_ok=True)
    started, load_start = time.time(), os.getloadavg()

    progress(f"Reading {args.data}")
    splits = inputs.load_splits(args.data, args.eval_data, args.text_column, args.label_column, settings, work_dir)
    progress(f"  train {len(splits.train)} rows (+{len(splits.validation)} for early stopping), dev "
             f"{len(splits.dev)} rows, columns {splits.text_column}/{splits.label_column}, classes "
             f"{', '.join(splits.labels)}")
    dev_texts = [text for text, _ in splits.dev]
    texts_by_rate, typo_stats = {}, {}
    for rate in settings.typo_rates:
        texts_by_rate[rate], typo_stats[rate] = typos.perturb_texts(dev_texts, rate, settings.typo_seed)
    misspelled, misspelled_stats = {}, {}
    if settings.dev_lexicon:
        misspelled, misspelled_stats = real_sets(dev_texts, settings.dev_lexicon, settings.misspelled_rates,
                                                 settings.misspelling_seed)
        for name, stats in misspelled_stats.items():
            progress(f"  {name}: {stats['substituted']} of {stats['tokens']} dev tokens misspelled "
                     f"({stats['eligible']} covered by the dev lexicon)")

    selection = selection_set(splits.validation, settings)
    progress(f"  selection set: the {len(splits.validation)} held-out training rows, clean and with "
             f"{selection['source']}")

    progress("Loading TensorFlow, TFX and Beam (once; every phase runs in a forked process)")
    sys.argv = sys.argv[:1]  # TFX/Beam parse sys.argv with absl flags; these flags are not theirs
    import psutil  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from bench import quality, report, speed  # pylint: disable=import-outside-toplevel
    cfg = _with_step_budget(cfg, settings.train_steps)
    parent_rss_mb = psutil.Process().memory_info().rss / 2**20

    phase = PhaseRunner(2 + len(settings.variants) * settings.seeds + (5 if settings.speed else 0),
                        os.path.join(out_dir, "logs"), settings.poll_s, args.jobs)
    beam_args = resolve_beam_args(cfg.pipeline, sum(len(text.encode("utf-8")) for text, _ in splits.train))
    speed_pending = _submit_transform_speed(phase, speed, splits, cfg, settings, work_dir) if settings.speed else {}
    transformed = phase("transform", "Transform (training data)", quality.transform_phase, splits.train,
                        splits.validation, cfg, os.path.join(work_dir, "transform"), beam_args)
    training = _submit_training(phase, quality, transformed["data"], cfg, settings, work_dir)
    if settings.speed:
        speed_pending.update(_submit_training_speed(phase, speed, cfg, settings, work_dir, transformed["data"]))
    train_runs = {key: future.result() for key, future in training.items()}
    evaluation = phase("evaluate", "Evaluation (dev, typos, misspellings, OOV slice)", quality.evaluate_phase,
                       {key: run["model_dir"] for key, run in train_runs.items()},
                       transformed["data"].transform_graph_dir, [str(label) for _, label in splits.dev],
                       texts_by_rate, misspelled, settings.dev_lexicon, selection)
    speed_results = _collect_speed(speed_pending, phase.costs, settings) if settings.speed else {}
    phase.close()

    raw = {
        "meta": {"command": "python -m bench.hybrid_report " + " ".join(shlex.quote(a) for a in argv),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
                 "wall_s": time.time() - started, "cpus": os.cpu_count(),
                 "load_start": " ".join(f"{x:.1f}" for x in load_start),
                 "load_end": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                 "tensorflow": tf.__version__, "parent_rss_mb": parent_rss_mb,
                 "seeds": list(range(1, settings.seeds + 1)), "train_steps": settings.train_steps,
                 "batch_size": cfg.training.batch_size, "transform_beam_args": list(beam_args),
                 "settings": dataclasses.asdict(settings), "config": cfg.to_dict()},
        "data": {"name": _data_name(args.data), "train_file": splits.train_file, "dev_file": splits.dev_file,
                 "train_rows": len(splits.train), "validation_rows": len(splits.validation),
                 "dev_rows": len(splits.dev), "train_rows_available": splits.train_rows_available,
                 "text_column": splits.text_column, "label_column": splits.label_column,
                 "labels": list(splits.labels), "word_vocab_size": transformed["word_vocab_size"]},
        "train_runs": train_runs, "evaluation": evaluation, "typo_stats": typo_stats, "speed": speed_results,
        "misspelled_stats": misspelled_stats, "selection_source": selection["source"],
        "memory": phase.costs,
    }
    built = report.build(raw, settings)
    paths = report.write(built, out_dir)
    progress(f"Done in {(time.time() - started) / 60:.1f} min")
    for target in built["targets"]:
        print(f"{target['status']:4}  {target['name']}: {target['shown']} (goal {target['goal']}; {target['note']})")
    print(f"\nReport: {paths['markdown']}\n        {paths['json']}\n        {paths['plot']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
