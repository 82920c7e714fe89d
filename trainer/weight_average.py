"""Polyak averaging of the weights (``training.weight_average_span``): an exponential
moving average of the trainable weights, put in place of the weights at the last step
before every check, so the check, early stopping's kept weights and the export see it.

The average is sampled: it is updated every ``every`` steps (a span holds 16 samples,
or fewer on a short pass: at least ``MIN_EVERY`` steps apart) with the momentum raised
to that power, so it spans about as many steps as a per-step average (Keras' optimiser
``use_ema``) while updating the weights' copy ``every`` times less often. An update reads
and writes every row of the hashed n-gram and bigram tables (14 million weights by
default): the per-step average made training on SST-2 1.5x slower per example
(docs/benchmarks.md). The update is one XLA-compiled function, which fuses it into a
single pass over each table: 5 ms on 2 CPU cores where TensorFlow's separate ops took 22.
"""
import tensorflow as tf
import tf_keras as keras

from charword.config import TrainingConfig

SAMPLES_PER_SPAN = 16
MIN_EVERY = 4  # steps between two updates at least


@tf.function(jit_compile=True)
def _update(averages, variables, momentum):
    """The new averages: ``momentum * average + (1 - momentum) * variable`` of each pair."""
    return [momentum * average + (1.0 - momentum) * variable for average, variable in zip(averages, variables)]


class WeightAverage(keras.callbacks.Callback):
    """Keeps the moving average of ``model.trainable_variables`` over about ``span_steps``
    steps, sampled every ``every`` steps, and writes it over the weights at the last step of
    each epoch (Keras epoch = the steps between two checks)."""

    def __init__(self, span_steps: float):
        super().__init__()
        self.every = max(MIN_EVERY, int(span_steps // SAMPLES_PER_SPAN))
        self.momentum = (1.0 - 1.0 / max(span_steps, 2.0)) ** self.every
        self.averages = []
        self._step = 0

    def on_train_begin(self, logs=None):
        # Tensors, not variables: a variable made here would be mirrored on every replica,
        # out of the compiled update's reach; the replicas' weights are equal, and the update
        # reads the first's.
        self.averages = [tf.identity(variable.read_value()) for variable in self.model.trainable_variables]
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        if self._step % self.every == 0:
            self.averages = _update(self.averages, self.model.trainable_variables, tf.constant(self.momentum))
        if batch + 1 == self.params["steps"]:
            for average, variable in zip(self.averages, self.model.trainable_variables):
                variable.assign(average)


def callbacks(training: TrainingConfig, steps_per_check: int) -> list:
    """``[WeightAverage]`` spanning ``training.weight_average_span`` of a pass
    (``steps_per_check * training.checks_per_pass`` steps), or none when the span is 0."""
    if not training.weight_average_span:
        return []
    return [WeightAverage(training.weight_average_span * steps_per_check * training.checks_per_pass)]
