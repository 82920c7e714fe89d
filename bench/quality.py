"""Quality report: every arm and the fastText peer on the same clean and misspelled texts.

  python -m bench quality --data ../shared/data/sst2 \\
      --train-lexicon ../shared/data/misspellings/train_lexicon.tsv \\
      --dev-lexicon ../shared/data/misspellings/dev_lexicon.tsv [--arms default,word_only,fasttext]
      [--seeds 3] [--word-vectors FILE] [--config cfg.json] [--out DIR]

Every charword arm (:mod:`bench.arms`) goes through the project's own Transform and
Trainer (``run_fn``, its training budget as configured) and is scored through the
exported ``predict_text`` signature; the fastText arm (:mod:`bench.fasttext_arm`)
trains on exactly the same rows. Each is scored on the dev set clean and with 5%, 10%
and 20% of its tokens misspelled (real misspellings of the dev lexicon, never used to
train or tune; synthetic typos without one), and on the selection set (held-out
training rows sharing no text with the training rows, clean and misspelled from the
training lexicon), which is where settings are chosen. Writes ``report.md``,
``report.json`` and ``robustness.png`` under ``--out``; finished steps are kept under
``--out``/work, keyed by their configuration, and reused by a later run with the same
inputs, whatever the arm is called there.
"""
import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from typing import Dict, List, Optional

from bench import arms as arm_registry
from bench import data, fasttext_arm, perturb
from bench.processes import PhaseRunner, progress
from charword.config import CharwordConfig, ConfigError, load_config

SPLIT_SEED = 13
MISSPELLING_SEED = 7


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a quality run measures (everything else is the project's configuration)."""

    arms: Dict[str, dict]
    seeds: int = 3
    rates: tuple = (0.05, 0.1, 0.2)
    selection_rate: float = 0.1
    train_lexicon: Optional[str] = None
    dev_lexicon: Optional[str] = None
    word_vectors: Optional[str] = None
    teacher_checkpoint: Optional[str] = None
    train_limit: Optional[int] = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench quality", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--data", required=True,
                        help="directory with train + dev|validation|eval|test .tsv/.csv, or one file (split)")
    parser.add_argument("--eval-data", help="explicit dev file (then --data is the training file)")
    parser.add_argument("--text-column", help="text column (default: first of text, sentence, review, ...)")
    parser.add_argument("--label-column", help="label column (default: first of label, sentiment, class, ...)")
    parser.add_argument("--out", help="report directory (default: outputs/bench/quality/<data name>)")
    parser.add_argument("--arms", default="default,word_only,fasttext",
                        help=f"comma-separated arms: registered ({', '.join(arm_registry.ARMS)}) or NAME=JSON; "
                             "JSON arms go in separate --arm flags")
    parser.add_argument("--arm", action="append", default=[], metavar="NAME=JSON", help="one more arm (repeatable)")
    parser.add_argument("--seeds", type=int, default=3, help="training seeds per arm (1..N)")
    parser.add_argument("--train-lexicon", help="misspellings of the training noise and of the selection set")
    parser.add_argument("--dev-lexicon", help="misspellings the dev set is scored with (never trained or tuned on)")
    parser.add_argument("--word-vectors", help="pretrained word vectors of the arms that use them")
    parser.add_argument("--teacher-checkpoint",
                        help="the encoder checkpoint of the teacher and distilled arms (Hugging Face directory)")
    parser.add_argument("--config", help="JSON file of CharwordConfig sections under every arm")
    parser.add_argument("--train-limit", type=int, help="use at most N training rows (seeded sample)")
    return parser


def _arms(args: argparse.Namespace) -> Dict[str, dict]:
    specs = [spec for spec in args.arms.split(",") if spec] + list(args.arm)
    return dict(arm_registry.parse_arm(spec) for spec in specs)


class _CharwordRuns:
    """Trains and scores the charword arms; each Transform, teacher and teacher labelling
    runs once per distinct configuration, whatever arms and seeds share it."""

    def __init__(self, phase: PhaseRunner, splits: data.Splits, work: str):
        self.phase, self.splits, self.work = phase, splits, work
        self.transforms: Dict[str, list] = {}
        self.teachers: Dict[str, dict] = {}
        self.labelled: Dict[str, list] = {}

    def transform(self, cfg: CharwordConfig) -> list:
        """The transformed data of ``cfg``'s preprocessing: graph, train and eval patterns."""
        from bench import charword_arm  # pylint: disable=import-outside-toplevel  (TensorFlow)
        key = json.dumps(cfg.transform_config(), sort_keys=True)
        if key not in self.transforms:
            index = len(self.transforms)
            self.transforms[key] = self.phase(
                f"transform{index}", "Transform", charword_arm.transform_step, self.splits.train,
                self.splits.validation, cfg, os.path.join(self.work, f"transform{index}"), ())["data"]
        return self.transforms[key]

    def train(self, cfg: CharwordConfig, transformed: list, label: str) -> dict:
        """``run_fn`` of ``cfg`` on ``transformed`` (kept under ``work/runs/<config key>``)."""
        from bench import charword_arm  # pylint: disable=import-outside-toplevel  (TensorFlow)
        return self.phase(f"train_{charword_arm.config_key(cfg)}", f"Trainer {label}", charword_arm.train_step,
                          transformed, cfg, os.path.join(self.work, "runs", charword_arm.config_key(cfg)), label)

    def teacher(self, cfg: CharwordConfig) -> dict:
        """The trained teacher of ``cfg`` (the ``accurate`` preset's model)."""
        teacher_cfg = cfg.teacher_config()
        key = json.dumps(teacher_cfg.to_dict(), sort_keys=True)
        if key not in self.teachers:
            self.teachers[key] = self.train(teacher_cfg, self.transform(teacher_cfg), "teacher")
        return self.teachers[key]

    def student_data(self, cfg: CharwordConfig) -> list:
        """The student's transform graph and the teacher-labelled raw examples of both splits."""
        from bench import charword_arm  # pylint: disable=import-outside-toplevel  (TensorFlow)
        teacher_dir, graph_dir = self.teacher(cfg)["model_dir"], self.transform(cfg)[0]
        key = json.dumps([teacher_dir, graph_dir])
        if key not in self.labelled:
            self.labelled[key] = self.phase(
                f"teacher_labels{len(self.labelled)}", "Teacher probabilities of the training rows",
                charword_arm.teacher_labels_step, teacher_dir, graph_dir, self.splits.train, self.splits.validation,
                os.path.join(self.work, f"teacher_labels{len(self.labelled)}"))["data"]
        return self.labelled[key]

    def model(self, cfg: CharwordConfig, label: str) -> dict:
        """The trained model of an arm's configuration (its preset's)."""
        preset = cfg.pipeline.preset
        if preset == "accurate":
            return self.teacher(cfg)
        transformed = self.student_data(cfg) if preset == "distilled" else self.transform(cfg)
        return self.train(cfg, transformed, label)


def _charword_runs(phase: PhaseRunner, settings: Settings, splits: data.Splits, base: CharwordConfig,
                   sets: Dict[str, List[str]], work: str) -> dict:
    """Trains and scores every (arm, seed); ``{(arm, seed): {"train": ..., "predictions": ...}}``
    and the first transform graph (the OOV slice's)."""
    from bench import charword_arm  # pylint: disable=import-outside-toplevel  (TensorFlow)
    models, runs = _CharwordRuns(phase, splits, work), {}
    for seed in range(1, settings.seeds + 1):
        for name, overrides in settings.arms.items():
            if name == arm_registry.FASTTEXT:
                continue
            cfg = arm_registry.arm_config(base, overrides, seed, settings.train_lexicon, settings.word_vectors,
                                          settings.teacher_checkpoint)
            label = f"{name} seed {seed}"
            trained = models.model(cfg, label)
            predictions = phase(f"score_{len(runs)}", f"Scoring {label}", charword_arm.score_step,
                                trained["model_dir"], sets)
            runs[(name, seed)] = {"train": trained, "predictions": predictions}
    first_graph = next(iter(models.transforms.values()))[0] if models.transforms else None
    return runs, first_graph


def _fasttext_step(splits: data.Splits, selection: dict, sets: Dict[str, List[str]], seeds: int,
                   work: str) -> dict:
    """The setting the selection set chooses, then per seed a model and its predictions."""
    started = time.perf_counter()
    setting, scores = fasttext_arm.select(splits.train, selection, os.path.join(work, "select"))
    progress(f"  fastText: selected {setting} in {time.perf_counter() - started:.0f} s")
    runs = {}
    for seed in range(1, seeds + 1):
        started = time.perf_counter()
        model = fasttext_arm.train(splits.train, setting, seed, work)
        wall = time.perf_counter() - started
        runs[seed] = {"train": {"wall_s": wall, "train_examples": len(splits.train)},
                      "predictions": {name: fasttext_arm.predict(model, texts) for name, texts in sets.items()}}
    return {"setting": setting, "grid": scores, "runs": runs}


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser().parse_args(argv)
    try:
        settings = Settings(arms=_arms(args), seeds=args.seeds, train_lexicon=args.train_lexicon,
                            dev_lexicon=args.dev_lexicon, word_vectors=args.word_vectors,
                            teacher_checkpoint=args.teacher_checkpoint,
                            train_limit=args.train_limit)
        base = load_config(args.config)
    except ConfigError as error:
        raise SystemExit(f"bench quality: {error}") from None
    name = os.path.splitext(os.path.basename(os.path.normpath(args.data)))[0]
    out = args.out or os.path.join("outputs", "bench", "quality", name)
    work = os.path.join(out, "work")
    os.makedirs(work, exist_ok=True)
    started, load_start = time.time(), os.getloadavg()

    progress(f"Reading {args.data}")
    splits = data.load_splits(args.data, args.eval_data, args.text_column, args.label_column, work, SPLIT_SEED,
                              train_limit=settings.train_limit)
    selection = perturb.selection_set(data.whole_texts(splits.validation), settings.selection_rate,
                                      MISSPELLING_SEED, settings.train_lexicon)
    dev_texts = [text for text, _ in splits.dev]
    misspelled, misspelled_stats = perturb.misspelled_sets(dev_texts, settings.rates, MISSPELLING_SEED,
                                                           settings.dev_lexicon)
    sets = {"clean": dev_texts, **misspelled, "selection clean": selection["clean"],
            "selection misspelled": selection["misspelled"]}
    progress(f"  train {len(splits.train)} rows, held out {len(splits.validation)} (selection set "
             f"{len(selection['clean'])} texts sharing no text with training), dev {len(splits.dev)}; "
             + ", ".join(f"{n}: {s['substituted']} of {s['tokens']} tokens" for n, s in misspelled_stats.items()))

    sys.argv = sys.argv[:1]  # TFX/Beam parse sys.argv with absl flags; these flags are not theirs
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from bench import charword_arm, quality_report  # pylint: disable=import-outside-toplevel
    phase = PhaseRunner(1 + 2 * settings.seeds * len(settings.arms), os.path.join(out, "logs"), poll_s=1.0)
    runs, graph_dir = _charword_runs(phase, settings, splits, base, sets, work)
    if arm_registry.FASTTEXT in settings.arms:
        peer = phase("fasttext", "fastText (selection, then one model per seed)", _fasttext_step, splits, selection,
                     sets, settings.seeds, os.path.join(work, "fasttext"))
        runs.update({(arm_registry.FASTTEXT, seed): run for seed, run in peer["runs"].items()})
    oov = phase("oov", "OOV slice", charword_arm.has_oov, graph_dir, dev_texts) if graph_dir else None
    phase.close()

    raw = {
        "meta": {"command": "python -m bench quality " + " ".join(shlex.quote(a) for a in argv),
                 "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
                 "wall_s": time.time() - started, "cpus": os.cpu_count(), "tensorflow": tf.__version__,
                 "load_start": " ".join(f"{x:.1f}" for x in load_start),
                 "load_end": " ".join(f"{x:.1f}" for x in os.getloadavg()),
                 "seeds": list(range(1, settings.seeds + 1)), "arms": settings.arms,
                 "config": base.to_dict(), "fasttext": peer if arm_registry.FASTTEXT in settings.arms else None},
        "data": {"name": name, "train_file": splits.train_file, "dev_file": splits.dev_file,
                 "train_rows": len(splits.train), "held_out_rows": len(splits.validation),
                 "selection_rows": len(selection["clean"]), "selection_source": selection["source"],
                 "dev_rows": len(splits.dev), "labels": list(splits.labels),
                 "misspelled": misspelled_stats, "dev_has_oov": oov},
        "gold": {"dev": [str(label) for _, label in splits.dev], "selection": selection["labels"]},
        "runs": runs,
    }
    report = quality_report.build(raw)
    paths = quality_report.write(report, out)
    progress(f"Done in {(time.time() - started) / 60:.1f} min")
    for line in report["verdicts"]:
        print(line)
    print(f"\nReport: {paths['markdown']}\n        {paths['json']}\n        {paths['plot']}")
    return 0
