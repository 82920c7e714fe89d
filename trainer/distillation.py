"""The distilled student's loss: the teacher's class probabilities as soft targets
(Hinton et al. 2015), mixed with the true labels (``distillation`` section).

On a training batch the student minimises

    (1 - soft_weight) * CE(labels, p) + soft_weight * T² * KL(q_T || p_T)

where ``p`` is the student's prediction, ``q`` the teacher's probabilities
(``contract.TEACHER_PROBABILITIES``, carried by the batch: :mod:`trainer.soft_targets`)
and ``x_T = softmax(log x / T)`` a distribution softened by the temperature ``T``. The
``T²`` keeps the soft term's gradients on the scale of the hard one's as ``T`` grows.
Both models output probabilities, so their logits are ``log p`` up to a constant, which
the softmax ignores. The misspelling losses of :mod:`trainer.misspelling_losses` add to
this as they add to the label loss. Evaluation compares the student with the true
labels alone.
"""
from typing import List

import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import CharwordConfig
from trainer import misspelling_losses
from trainer.model import Models

SOFT_LOSS = "soft_target_loss"
_FLOOR = 1e-12  # probabilities are floored here before their log


def soften(probabilities: tf.Tensor, temperature: float) -> tf.Tensor:
    """Log-probabilities [B, C] of ``softmax(log p / temperature)`` for probabilities ``p`` [B, C]."""
    return tf.nn.log_softmax(tf.math.log(tf.maximum(probabilities, _FLOOR)) / temperature, axis=-1)


def soft_target_loss(teacher: tf.Tensor, student: tf.Tensor, temperature: float) -> tf.Tensor:
    """``T² * KL(teacher_T || student_T)``, the mean over the batch, for probabilities
    ``teacher`` and ``student`` [B, C]; 0 when the student matches the teacher."""
    log_teacher, log_student = soften(teacher, temperature), soften(student, temperature)
    divergence = tf.reduce_sum(tf.exp(log_teacher) * (log_teacher - log_student), axis=-1)
    return temperature ** 2 * tf.reduce_mean(divergence)


class DistillationModel(misspelling_losses.NoiseAwareModel):
    """Trains ``models.classifier`` on batches that carry the teacher's probabilities:
    the label loss weighted by ``1 - soft_weight``, plus ``soft_weight`` times
    :func:`soft_target_loss` (tracked as ``soft_target_loss``), plus the misspelling
    losses at their weights (0 leaves one out). ``call`` and evaluation run the
    classifier alone."""

    def __init__(self, models: Models, temperature: float, soft_weight: float, aux_target: str = "token",
                 aux_weight: float = 0.0, consistency_weight: float = 0.0, **kwargs):
        super().__init__(models, aux_target, aux_weight, consistency_weight, **kwargs)
        self.temperature = temperature
        self.soft_weight = soft_weight
        self.soft_tracker = keras.metrics.Mean(name=SOFT_LOSS)

    def added_losses(self, features, probabilities: tf.Tensor, vectors: tf.Tensor) -> List[tf.Tensor]:
        soft = soft_target_loss(features[contract.TEACHER_PROBABILITIES], probabilities, self.temperature)
        self.soft_tracker.update_state(soft)
        return [*super().added_losses(features, probabilities, vectors), self.soft_weight * soft]

    def label_weights(self, features, probabilities: tf.Tensor) -> tf.Tensor:
        return tf.fill(tf.shape(probabilities)[:1], tf.cast(1.0 - self.soft_weight, probabilities.dtype))

    def loss_trackers(self) -> List[keras.metrics.Metric]:
        return [*super().loss_trackers(), *([self.soft_tracker] if hasattr(self, "soft_tracker") else [])]


def training_model(models: Models, cfg: CharwordConfig) -> DistillationModel:
    """What the distilled student's ``fit`` trains (build it inside the distribution
    strategy's scope)."""
    aux_weight, consistency_weight = misspelling_losses.loss_weights(cfg)
    return DistillationModel(models, cfg.distillation.temperature, cfg.distillation.soft_weight,
                             cfg.noise.aux_target if aux_weight else "token", aux_weight, consistency_weight,
                             name="distilled_student")
