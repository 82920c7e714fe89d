"""The training loop's parts, shared by ``run_fn`` and the benchmarks: how long a run
trains and how often it checks, how the classifier is compiled, how epoch throughput is measured,
and what a training run returns."""
import dataclasses
import json
import logging
import math
import os
import time
from typing import List, Mapping, Optional, Sequence, Tuple

import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import TrainingConfig
from trainer import finetuning
from trainer.class_weights import ClassWeightedCrossentropy
from trainer.optimizers import LazyAdam

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
    """How many steps a run trains and how often it checks the eval loss.

    Attributes:
      steps_per_epoch: training steps between two checks of the eval loss (one pass over
        the train split, or an even share of it with ``checks_per_pass`` > 1; with a step
        budget, an even share of it no longer than that, rounded up, so a run trains at most
        ``epochs - 1`` steps past the budget).
      epochs: checks at most (Keras epochs).
      eval_steps: eval batches read at each check.
      train_examples: examples in the train split.
      eval_examples: examples in the eval split.
      checks_per_pass: checks in each pass over the train split.
    """

    steps_per_epoch: int
    epochs: int
    eval_steps: int
    train_examples: int
    eval_examples: int
    checks_per_pass: int = 1

    @property
    def max_steps(self) -> int:
        return self.steps_per_epoch * self.epochs


def plan_training(train_examples: int, eval_examples: int, global_batch: int, training: TrainingConfig,
                  train_steps: Optional[int] = None, eval_steps: Optional[int] = None) -> TrainingPlan:
    """The plan for ``train_examples`` / ``eval_examples`` examples in batches of
    ``global_batch``: up to ``training.max_epochs`` passes, or ``train_steps`` steps
    when given (the TFX Trainer's ``TrainArgs.num_steps``, else ``training.train_steps``),
    checked ``training.checks_per_pass`` times a pass; each check reads ``eval_steps``
    batches (else ``training.eval_steps``, else the eval split up to
    ``training.max_eval_examples``)."""
    if train_examples < 1:
        raise ValueError("the train split holds no examples: nothing to train on")
    if eval_examples < 1:
        raise ValueError("the eval split holds no examples: early stopping has nothing to check")
    check_steps = math.ceil(math.ceil(train_examples / global_batch) / training.checks_per_pass)
    budget = train_steps or training.train_steps
    if budget:
        epochs = math.ceil(budget / check_steps)
        steps_per_epoch = math.ceil(budget / epochs)
    else:
        steps_per_epoch, epochs = check_steps, training.max_epochs * training.checks_per_pass
    checked = eval_steps or training.eval_steps or math.ceil(
        min(eval_examples, training.max_eval_examples) / global_batch)
    return TrainingPlan(steps_per_epoch, epochs, checked, train_examples, eval_examples, training.checks_per_pass)


def stop_reason(plan: TrainingPlan, epochs_run: int, best_epoch: int, budget_is_steps: bool,
                metric: str = "loss") -> str:
    """Why training ended, for logs and the run summary."""
    kept = f"weights of check {best_epoch + 1} kept" if best_epoch + 1 < epochs_run else "last weights kept"
    if epochs_run < plan.epochs:
        return f"early stopping: the eval {metric} stopped improving ({kept})"
    passes = plan.epochs // plan.checks_per_pass
    limit = f"the step budget ({plan.max_steps} steps)" if budget_is_steps else f"{passes} passes (max_epochs)"
    return f"reached {limit} ({kept})"


def compile_classifier(model: keras.Model, training: TrainingConfig, planned_steps: int = 0,
                       class_weights: Optional[Sequence[float]] = None) -> keras.Model:
    """Compiles ``model`` (probabilities [B, classes] against class ids [B]) with Adam
    (lazy on embedding tables, :class:`trainer.optimizers.LazyAdam`) at
    ``training.learning_rate`` (warmed up and decayed over ``planned_steps`` with
    ``training.lr_schedule`` ``warmup_linear_decay``; ``training.weight_decay`` on a
    fine-tuned encoder: :mod:`trainer.finetuning`), sparse categorical cross-entropy
    (each class's examples weighted by ``class_weights`` [classes] when given:
    :mod:`trainer.class_weights`) and an ``accuracy`` metric; returns it. Under a
    distribution strategy, call inside its scope."""
    rate = training.learning_rate
    if training.lr_schedule == "warmup_linear_decay":
        rate = finetuning.WarmupLinearDecay(rate, planned_steps, training.warmup_share)
    optimizer = LazyAdam(rate)
    finetuning.decay_encoder_weights(optimizer, model, training.weight_decay)
    model.compile(optimizer=optimizer,
                  loss=(ClassWeightedCrossentropy(class_weights) if class_weights
                        else keras.losses.SparseCategoricalCrossentropy()),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


class EpochThroughput(keras.callbacks.Callback):
    """Training examples per second of each epoch, kept in :attr:`rates` and logged on
    this module's logger as ``epoch N: X training examples/s, loss=..., ...``; within an
    epoch, a progress line ``epoch N: step S of T, X training examples/s, loss=...`` at
    most every ``progress_every_s`` seconds (a pass over a large file can take an hour).

    The rate counts training steps only (the eval check after them is left out) and, in
    the first epoch, only the steps after the first ``warmup_steps`` (tracing and
    start-up), when the epoch has more than that many.
    """

    def __init__(self, global_batch_size: int, warmup_steps: int = 10, progress_every_s: float = 60.0):
        super().__init__()
        self.global_batch_size = global_batch_size
        self.warmup_steps = warmup_steps
        self.progress_every_s = progress_every_s
        self.rates: List[float] = []
        self._start = self._last = self._reported = 0.0
        self._skipped = self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._skipped = self.warmup_steps if epoch == 0 and self.params["steps"] > self.warmup_steps else 0
        self._start = self._last = self._reported = time.perf_counter()
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._last = time.perf_counter()
        if batch + 1 == self._skipped:
            self._start = self._last
        if (self._last - self._reported >= self.progress_every_s and self._skipped < batch + 1 < self.params["steps"]):
            self._reported = self._last
            logger.info("epoch %d: step %d of %d, %.1f training examples/s, loss=%.4f", self._epoch + 1, batch + 1,
                        self.params["steps"], self._rate(batch + 1), float((logs or {}).get("loss", float("nan"))))

    def _rate(self, steps_done: int) -> float:
        """Training examples per second over the timed steps of the first ``steps_done`` of this epoch."""
        return (steps_done - self._skipped) * self.global_batch_size / max(self._last - self._start, 1e-9)

    def on_epoch_end(self, epoch, logs=None):
        rate = self._rate(self.params["steps"])
        self.rates.append(rate)
        logger.info("epoch %d: %.1f training examples/s, %s", epoch + 1, rate,
                    ", ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items()))


def check_monitor(training: TrainingConfig) -> Tuple[str, str]:
    """``(Keras log key, "min" or "max")`` of what each check of the eval split compares."""
    return ("val_loss", "min") if training.check_metric == "loss" else ("val_accuracy", "max")


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What ``run_fn`` returns (the TFX Trainer ignores it; benchmarks and tests read it)
    and writes as ``contract.TRAINING_REPORT`` for the run summary.

    Attributes:
      examples_per_s: training examples per second of each epoch run (:class:`EpochThroughput`).
      history: Keras ``History.history``: metric name -> one value per epoch run.
      serving_model_dir: where the SavedModel was exported.
      replicas: replicas of the distribution strategy.
      global_batch: examples per step over all replicas.
      steps_per_epoch: steps between two checks of the eval loss (:class:`TrainingPlan`).
      steps: steps trained.
      passes: passes over the train split those steps made.
      best_check: the check (1-based) whose weights the model keeps.
      stop_reason: why training ended (:func:`stop_reason`).
      train_examples: examples in the train split.
      eval_examples_checked: eval examples each check read.
      wall_s: seconds of ``fit``.
      class_weights: each label's weight in the label loss (``training.class_weights``),
        or ``None`` when every example weighs 1.
    """

    examples_per_s: Tuple[float, ...]
    history: Mapping[str, List[float]]
    serving_model_dir: str
    replicas: int
    global_batch: int
    steps_per_epoch: int
    steps: int
    passes: float
    best_check: int
    stop_reason: str
    train_examples: int
    eval_examples_checked: int
    wall_s: float
    class_weights: Optional[Mapping[str, float]] = None

    @classmethod
    def from_fit(cls, history: keras.callbacks.History, plan: TrainingPlan,
                 stopping: keras.callbacks.EarlyStopping, throughput: EpochThroughput, serving_model_dir: str,
                 replicas: int, budget_is_steps: bool, metric: str, wall_s: float,
                 class_weights: Optional[Mapping[str, float]] = None) -> "TrainingResult":
        """The result of a ``fit`` that ran ``plan`` with ``stopping`` and ``throughput`` as
        callbacks in ``wall_s`` seconds (``budget_is_steps``: a step budget, not passes)."""
        epochs_run = len(history.epoch)
        global_batch = throughput.global_batch_size
        return cls(
            examples_per_s=tuple(throughput.rates),
            history={name: [float(value) for value in values] for name, values in history.history.items()},
            serving_model_dir=serving_model_dir, replicas=replicas, global_batch=global_batch,
            steps_per_epoch=plan.steps_per_epoch, steps=epochs_run * plan.steps_per_epoch,
            passes=epochs_run * plan.steps_per_epoch * global_batch / plan.train_examples,
            best_check=stopping.best_epoch + 1,
            stop_reason=stop_reason(plan, epochs_run, stopping.best_epoch, budget_is_steps, metric),
            train_examples=plan.train_examples,
            eval_examples_checked=min(plan.eval_examples, plan.eval_steps * global_batch), wall_s=wall_s,
            class_weights=class_weights)

    def write(self, directory: str) -> None:
        """Writes the result as JSON to ``<directory>/contract.TRAINING_REPORT``."""
        tf.io.gfile.makedirs(directory)
        with tf.io.gfile.GFile(os.path.join(directory, contract.TRAINING_REPORT), "w") as handle:
            handle.write(json.dumps(dataclasses.asdict(self), indent=2))
