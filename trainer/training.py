"""The training loop's parts, shared by ``run_fn`` and the benchmarks: how a step budget
splits into epochs, how the classifier is compiled, how epoch throughput is measured,
and what a training run returns."""
import dataclasses
import logging
import time
from typing import List, Mapping, Tuple

import tf_keras as keras

from charword.config import TrainingConfig

logger = logging.getLogger(__name__)


def epoch_split(train_steps: int, training: TrainingConfig) -> Tuple[int, int]:
    """``(epochs, steps_per_epoch)`` for a budget of ``train_steps`` steps: at most
    ``training.epochs`` epochs (fewer when there are fewer steps than epochs), of
    ``train_steps // epochs`` steps each (the remainder is not run)."""
    if train_steps < 1:
        raise ValueError(f"train_steps must be >= 1, got {train_steps}")
    epochs = min(training.epochs, train_steps)
    return epochs, train_steps // epochs


def compile_classifier(model: keras.Model, training: TrainingConfig) -> keras.Model:
    """Compiles ``model`` (probabilities [B, classes] against class ids [B]) with Adam at
    ``training.learning_rate``, sparse categorical cross-entropy and an ``accuracy``
    metric; returns it. Under a distribution strategy, call inside its scope."""
    model.compile(optimizer=keras.optimizers.Adam(training.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


class EpochThroughput(keras.callbacks.Callback):
    """Training examples per second of each epoch (validation time included), kept in
    :attr:`rates` and logged on this module's logger as
    ``epoch N: X training examples/s, loss=..., ...``."""

    def __init__(self, global_batch_size: int):
        super().__init__()
        self.global_batch_size = global_batch_size
        self.rates: List[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        rate = self.params["steps"] * self.global_batch_size / (time.perf_counter() - self._start)
        self.rates.append(rate)
        logger.info("epoch %d: %.1f training examples/s, %s", epoch + 1, rate,
                    ", ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items()))


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """What ``run_fn`` returns (the TFX Trainer ignores it; benchmarks and tests read it).

    Attributes:
      examples_per_s: training examples per second of each epoch run (:class:`EpochThroughput`).
      history: Keras ``History.history``: metric name -> one value per epoch run.
      serving_model_dir: where the SavedModel was exported.
      replicas: replicas of the distribution strategy.
      global_batch: examples per step over all replicas.
      steps_per_epoch: steps of each epoch (:func:`epoch_split`).
    """

    examples_per_s: Tuple[float, ...]
    history: Mapping[str, List[float]]
    serving_model_dir: str
    replicas: int
    global_batch: int
    steps_per_epoch: int
