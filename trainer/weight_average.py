"""Polyak averaging of the weights (``training.weight_average_span``): an exponential
moving average of the trainable weights, put in place of the weights at the last step
before every check, so the check, early stopping's kept weights and the export see it.

The average is sampled: it is updated every ``every`` steps (a span holds 16 samples)
with the momentum raised to that power, so it spans about as many steps as a per-step
average (Keras' optimiser ``use_ema``) while updating the weights' copy ``every`` times
less often. The per-step average updates every row of the hashed n-gram and bigram tables
at every step, which made training on SST-2 1.5x slower per example (docs/benchmarks.md).
"""
import tensorflow as tf
import tf_keras as keras

from charword.config import TrainingConfig

SAMPLES_PER_SPAN = 16


class WeightAverage(keras.callbacks.Callback):
    """Keeps the moving average of ``model.trainable_variables`` over about ``span_steps``
    steps, sampled every ``every`` steps, and writes it over the weights at the last step of
    each epoch (Keras epoch = the steps between two checks)."""

    def __init__(self, span_steps: float):
        super().__init__()
        self.every = max(1, int(span_steps // SAMPLES_PER_SPAN))
        self.momentum = (1.0 - 1.0 / max(span_steps, 2.0)) ** self.every
        self.averages = []
        self._step = 0

    def on_train_begin(self, logs=None):
        self.averages = [tf.Variable(variable.read_value(), trainable=False)
                         for variable in self.model.trainable_variables]
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            for average, variable in zip(self.averages, self.model.trainable_variables):
                average.assign(self.momentum * average + (1.0 - self.momentum) * variable)
        if batch + 1 == self.params["steps"]:
            for average, variable in zip(self.averages, self.model.trainable_variables):
                variable.assign(average)


def callbacks(training: TrainingConfig, steps_per_check: int) -> list:
    """``[WeightAverage]`` spanning ``training.weight_average_span`` of a pass
    (``steps_per_check * training.checks_per_pass`` steps), or none when the span is 0."""
    if not training.weight_average_span:
        return []
    return [WeightAverage(training.weight_average_span * steps_per_check * training.checks_per_pass)]
