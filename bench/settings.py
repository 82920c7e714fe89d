"""Knobs of the hybrid-model benchmark (``python -m bench.hybrid_report``), in one place.

The model, preprocessing and training settings themselves come from the project's
:class:`charword.config.CharwordConfig`; this dataclass only holds what the benchmark
adds on top: seeds, step budgets, typo rates, speed-sample sizes and the targets.
"""
import dataclasses
from dataclasses import dataclass, field
from typing import Dict, NamedTuple, Optional, Tuple

from charword.config import CharwordConfig

TRANSFORM_SPEED_MODES = ("multi_processing", "multi_threading")


class Arm(NamedTuple):
    """One model of the ablation: a variant and which robustness parts it trains with."""

    variant: str
    noise: bool = False     # training-time misspellings (noise.*)
    routing: bool = False   # model.oov_routing
    aux: bool = False       # noise.aux_weight (needs noise)
    vectors: bool = False   # pretrained word vectors (model.word_vectors = --word-vectors)
    consistency: bool = False  # noise.consistency_weight (needs noise)
    aux_weight: Optional[float] = None  # the auxiliary loss at this weight instead of the default


# Cumulative ablation: each hybrid arm adds one part to the one before it.
ARMS: Dict[str, Arm] = {
    "word_only": Arm("word_only"),
    "char_only": Arm("char_only"),
    "hybrid": Arm("hybrid"),
    "hybrid+noise": Arm("hybrid", noise=True),
    "hybrid+noise+routing": Arm("hybrid", noise=True, routing=True),
    "hybrid+noise+routing+aux": Arm("hybrid", noise=True, routing=True, aux=True),
    "word_only+noise": Arm("word_only", noise=True),
    "word_only+vectors": Arm("word_only", vectors=True),
    "word_only+noise+vectors": Arm("word_only", noise=True, vectors=True),
    "hybrid+noise+routing+aux+vectors": Arm("hybrid", noise=True, routing=True, aux=True, vectors=True),
    "hybrid+noise+routing+aux+consistency": Arm("hybrid", noise=True, routing=True, aux=True, consistency=True),
    "word_only+noise+consistency": Arm("word_only", noise=True, consistency=True),
    "hybrid+noise+routing+consistency": Arm("hybrid", noise=True, routing=True, consistency=True),
    "hybrid+noise+routing+aux0.2+consistency": Arm("hybrid", noise=True, routing=True, aux=True, consistency=True,
                                                   aux_weight=0.2),
}
# The consistency weight of the +consistency arms while the project's default is 0.
CONSISTENCY_WEIGHT = 1.0
BASELINE_ARM = "word_only"
NEW_DEFAULT_ARM = "hybrid+noise+routing+aux"


def arm_config(cfg: CharwordConfig, arm: Arm, train_lexicon: Optional[str], word_vectors: Optional[str]
               ) -> CharwordConfig:
    """``cfg`` with the arm's variant and parts: a part that is on takes the project's
    default setting (the settings ``charword run`` uses), one that is off is turned off."""
    on = CharwordConfig()
    return cfg.replace(
        model={"variant": arm.variant, "oov_routing": on.model.oov_routing if arm.routing else "none",
               "word_vectors": word_vectors if arm.vectors else None},
        noise={"rate": on.noise.rate if arm.noise else 0.0, "lexicon": train_lexicon if arm.noise else None,
               "aux_weight": (on.noise.aux_weight if arm.aux_weight is None else arm.aux_weight) if arm.aux else 0.0,
               "consistency_weight": (on.noise.consistency_weight or CONSISTENCY_WEIGHT) if arm.consistency else 0.0})


@dataclass(frozen=True)
class Targets:
    """Goals the report marks PASS/MISS (goals, not assertions)."""

    hybrid_min_accuracy: float = 0.85        # hybrid dev accuracy (mean over seeds)
    robust_rate: float = 0.2                 # typo rate at which robustness is judged
    robust_min_kept: float = 0.95            # hybrid keeps this fraction of clean accuracy
    cnn_over_bilstm_min: float = 3.0         # char-CNN vs char-BiLSTM training examples/s
    trainer_max_overhead: float = 0.05       # run_fn fit throughput vs plain Keras
    transform_min_scaling: float = 1.8       # Transform tokens/s, 2 vs 1 DirectRunner workers
    misspelled_rate: float = 0.1             # share of dev tokens with real misspellings judged first
    misspelled_over_word_only: float = 0.02  # new default hybrid vs word_only there (accuracy points)
    misspelled_min_kept: float = 0.98        # new default hybrid keeps this fraction of its clean accuracy
    heavy_rate: float = 0.2                  # the second real-misspelling level judged
    heavy_over_word_only: float = 0.04       # new default hybrid vs word_only there
    nearest_min_hits: float = 0.5            # misspelling's merged vector has its word among the 5 nearest


@dataclass(frozen=True)
class BenchSettings:
    """Everything the benchmark decides; the defaults are the full-size run.

    Attributes:
      seeds: training seeds per variant (``training.seed`` = 1..seeds).
      train_steps: Trainer steps per model, the same for every variant.
      train_limit: use at most this many training rows (seeded sample); None = all.
      validation_fraction: share of the training rows held out as the Trainer's eval
        split (early stopping); the dev set is never seen during training.
      split_eval_fraction: share of a single input file used as the dev set.
      split_seed: seed of every data split and sample.
      typo_rates: fractions of eligible dev tokens given one character-level typo.
      typo_seed: seed of the typo positions and edits (the same dev set for every model).
      speed_batches: training batches materialised in memory for the speed runs.
      speed_warmup_steps / speed_timed_steps / speed_rounds: char-encoder timing; each
        round times CNN and BiLSTM back to back, the median of the per-round ratios counts
        (other load on the machine shifts both sides of a round alike).
      overhead_epochs / overhead_steps_per_epoch / overhead_rounds: run_fn vs plain
        Keras fits, alternating; epoch 1 (tracing) is left out.
      transform_tokens: size of the Transform-throughput sample, in whitespace tokens.
      transform_speed_mode: DirectRunner running mode of the 1- vs 2-worker Transform runs
        (``multi_processing``, as Beam's local runner scales; ``multi_threading`` skips
        the workers' start-up, for quick smoke runs).
      poll_s: interval of process-tree RSS sampling.
      variants: the arms trained (names of :data:`ARMS`); arms with pretrained vectors
        need ``word_vectors``.
      speed: run the speed phases (CNN vs BiLSTM, Trainer overhead, Transform scaling).
      train_lexicon: misspelling lexicon of the training noise (``--train-lexicon``);
        ``None``: synthetic typos only.
      dev_lexicon: misspelling lexicon the dev set is scored with (``--dev-lexicon``),
        never used to train or tune; ``None`` skips the real-misspelling measurements.
      misspelled_rates: shares of all dev tokens given a real misspelling.
      misspelling_seed: seed of their positions and choices (the same for every model).
      word_vectors: pretrained word vectors of the ``+vectors`` arms (``--word-vectors``).
      selection_rate: share of the held-out training rows' tokens misspelled in the
        selection set (training lexicon, else synthetic typos) that settings are chosen on.
    """

    variants: Tuple[str, ...] = ("word_only", "char_only", "hybrid", "hybrid+noise", "hybrid+noise+routing",
                                 "hybrid+noise+routing+aux", "word_only+noise")
    speed: bool = True
    train_lexicon: Optional[str] = None
    dev_lexicon: Optional[str] = None
    misspelled_rates: Tuple[float, ...] = (0.05, 0.1, 0.2)
    misspelling_seed: int = 7
    word_vectors: Optional[str] = None
    selection_rate: float = 0.1
    seeds: int = 3
    train_steps: int = 2000
    train_limit: Optional[int] = None
    validation_fraction: float = 0.05
    split_eval_fraction: float = 0.1
    split_seed: int = 13
    typo_rates: Tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)
    typo_seed: int = 2024
    speed_batches: int = 100
    speed_warmup_steps: int = 10
    speed_timed_steps: int = 60
    speed_rounds: int = 5
    overhead_epochs: int = 5
    overhead_steps_per_epoch: int = 60
    overhead_rounds: int = 2
    transform_tokens: int = 1_000_000
    transform_speed_mode: str = "multi_processing"
    poll_s: float = 0.2
    targets: Targets = field(default_factory=Targets)

    def __post_init__(self) -> None:
        problems = []
        if any(v not in ARMS for v in self.variants) or not self.variants:
            problems.append(f"variants must be a non-empty subset of {list(ARMS)}")
        if not self.word_vectors and any(ARMS[v].vectors for v in self.variants if v in ARMS):
            problems.append("arms with +vectors need word_vectors (--word-vectors)")
        if not 0 < self.selection_rate <= 1:
            problems.append("selection_rate must lie in (0, 1]")
        if any(not 0 < p <= 1 for p in self.misspelled_rates):
            problems.append("misspelled_rates must lie in (0, 1]")
        for name in ("seeds", "train_steps", "speed_batches", "speed_timed_steps", "speed_rounds",
                     "overhead_steps_per_epoch", "overhead_rounds", "transform_tokens"):
            if getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1")
        if self.transform_speed_mode not in TRANSFORM_SPEED_MODES:
            problems.append(f"transform_speed_mode must be one of {TRANSFORM_SPEED_MODES}")
        if self.overhead_epochs < 2:
            problems.append("overhead_epochs must be >= 2 (epoch 1 is tracing and is left out)")
        if self.train_limit is not None and self.train_limit < 20:
            problems.append("train_limit must be >= 20")
        if not 0 < self.validation_fraction < 0.5 or not 0 < self.split_eval_fraction < 0.5:
            problems.append("validation_fraction and split_eval_fraction must be in (0, 0.5)")
        if not self.typo_rates or any(not 0 <= p <= 1 for p in self.typo_rates) or 0.0 not in self.typo_rates:
            problems.append("typo_rates must lie in [0, 1] and include 0.0")
        if self.targets.robust_rate not in self.typo_rates:
            problems.append("targets.robust_rate must be one of typo_rates")
        if problems:
            raise ValueError("bench settings: " + "; ".join(problems))

    def replace(self, **changes) -> "BenchSettings":
        """A copy with some fields changed (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})
