"""What fine-tuning a BERT-family encoder needs from the optimiser
(``training.lr_schedule`` ``warmup_linear_decay`` and ``training.weight_decay``; the
teacher's recipe, :meth:`charword.config.CharwordConfig.teacher_config`).

* :class:`WarmupLinearDecay`: the learning rate rises linearly from 0 to its peak over
  the first ``warmup_share`` of the planned steps, then falls linearly to 0 at the last
  planned step (Devlin et al. 2019). The plan (:func:`trainer.training.plan_training`)
  gives the steps; early stopping may end training before the rate reaches 0.
* :func:`decay_encoder_weights`: AdamW's decoupled weight decay (Loshchilov and Hutter
  2019) of the encoder's weight matrices, each step ``w <- w - weight_decay * lr_enc * w``
  with ``lr_enc`` the encoder's own rate. :class:`trainer.fusion.BertEncoder` stores its
  weights divided by its ``lr_scale``, which leaves the relative decay unchanged, so the
  optimiser's decay is ``weight_decay * lr_scale`` at its own rate. Biases and layer
  norms, and every layer outside the encoder, are exempt.
"""
import tensorflow as tf
import tf_keras as keras

from trainer.fusion import BertEncoder

EXEMPT_FROM_DECAY = ("bias", "LayerNorm")  # parts of an encoder weight's name that exempt it


@keras.utils.register_keras_serializable(package="charword")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """``peak * step / warmup`` for the first ``warmup = round(warmup_share * total_steps)``
    steps, then ``peak * (total_steps - step) / (total_steps - warmup)``, never below 0."""

    def __init__(self, peak: float, total_steps: int, warmup_share: float):
        if total_steps < 1:
            raise ValueError(f"warm-up and linear decay need the planned steps, got {total_steps}")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_share = float(warmup_share)
        self.warmup_steps = min(round(warmup_share * total_steps), total_steps - 1)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        warmup = float(self.warmup_steps)
        rising = self.peak * step / max(warmup, 1.0)
        falling = self.peak * (self.total_steps - step) / (self.total_steps - warmup)
        return tf.maximum(tf.where(step < warmup, rising, falling), 0.0)

    def get_config(self):
        return {"peak": self.peak, "total_steps": self.total_steps, "warmup_share": self.warmup_share}


def decay_encoder_weights(optimizer: keras.optimizers.Optimizer, model: keras.Model, weight_decay: float) -> None:
    """Sets ``optimizer`` (not yet built) to decay the weight matrices of ``model``'s
    :class:`~trainer.fusion.BertEncoder` layers by ``weight_decay`` per unit of the
    encoder's learning rate, and nothing else. No encoder, or ``weight_decay`` 0: no decay."""
    encoders = [layer for layer in _layers(model) if isinstance(layer, BertEncoder) and layer.trainable]
    decayed = {id(variable) for encoder in encoders for variable in encoder.trainable_variables
               if not any(part in variable.name for part in EXEMPT_FROM_DECAY)}
    if not weight_decay or not decayed:
        return
    scales = {encoder.lr_scale for encoder in encoders}
    if len(scales) != 1:
        raise ValueError(f"encoders with different learning-rate scales {sorted(scales)} cannot share one decay")
    optimizer.weight_decay = weight_decay * scales.pop()
    optimizer.exclude_from_weight_decay(
        var_list=[variable for variable in model.trainable_variables if id(variable) not in decayed])


def _layers(model: keras.Model):
    """Every layer of ``model``, nested models' layers included."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _layers(layer)
