"""The auxiliary loss that teaches the char branch to read misspellings (MIMICK, Pinter
et al. 2017, adapted to noise), and the training model that adds it.

On the tokens the noise replaced (:mod:`trainer.noise`), a vector of each misspelling
must pick out the stop-gradient vector of the clean token it replaced among the clean
vectors of all noised tokens of the batch: softmax cross-entropy over cosine
similarities divided by :data:`TEMPERATURE` (InfoNCE, van den Oord et al. 2018; other
occurrences of the same clean word are not counted as negatives). Pulling towards the
target alone lets every vector drift towards one shared direction; the other words of
the batch keep the misspelling nearest its own word. The vectors (``noise.aux_target``):

  ``token``  the merged token vector of the misspelling (what the sentence encoder
             reads, and what ``embed_tokens`` serves) vs. the merged vector of the clean
             token; with the word vector of the misspelling usually an OOV bucket, only
             the char branch can close the gap;
  ``word``   a linear map of the char vector of the misspelling vs. the word vector of
             the clean token (MIMICK's target; pretrained word vectors make it semantic).

:class:`NoiseAwareModel` trains the classifier with ``loss + aux_weight * aux_loss``
and logs ``aux_loss``; its ``call``, evaluation and the exported classifier see only
the model inputs, so serving is unchanged.
"""
import logging
from typing import Optional

import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import CharwordConfig
from trainer.model import Models

AUX_LOSS = "aux_loss"
TEMPERATURE = 0.1  # of the contrastive softmax over cosine similarities

logger = logging.getLogger(__name__)


def aux_inactive_reason(cfg: CharwordConfig) -> Optional[str]:
    """Why the configured auxiliary loss cannot apply to this model, or ``None`` when it does."""
    if cfg.noise.aux_weight == 0:
        return "noise.aux_weight is 0"
    if cfg.noise.rate == 0:
        return "noise.rate is 0 (the loss is computed on noised tokens)"
    if cfg.model.variant == "word_only":
        return "word_only has no char branch"
    if cfg.noise.aux_target == "word" and cfg.model.variant != "hybrid":
        return f"noise.aux_target 'word' needs a word branch; {cfg.model.variant} has none"
    return None


def training_model(models: Models, cfg: CharwordConfig) -> keras.Model:
    """What ``fit`` trains: a :class:`NoiseAwareModel` when the auxiliary loss applies,
    else the classifier itself. Build it inside the distribution strategy's scope."""
    reason = aux_inactive_reason(cfg)
    if reason:
        if cfg.noise.aux_weight > 0:
            logger.info("Auxiliary loss off: %s", reason)
        return models.classifier
    logger.info("Auxiliary loss on: target %s, weight %g", cfg.noise.aux_target, cfg.noise.aux_weight)
    return NoiseAwareModel(models, cfg.noise.aux_target, cfg.noise.aux_weight, name="noise_aware_trainer")


def _model_features(features):
    return {name: value for name, value in features.items() if name not in contract.NOISE_FEATURES}


def contrastive_loss(predicted: tf.Tensor, target: tf.Tensor, word_ids: tf.Tensor) -> tf.Tensor:
    """Mean InfoNCE loss of ``predicted`` [N, D] against ``target`` [N, D] (row ``i``
    is the positive of row ``i``; rows with the same ``word_ids`` [N] are not
    negatives of each other); 0 when N = 0."""
    similarity = tf.matmul(tf.math.l2_normalize(predicted, -1), tf.math.l2_normalize(target, -1),
                           transpose_b=True) / TEMPERATURE
    count = tf.shape(word_ids)[0]
    same_word = tf.equal(word_ids[:, tf.newaxis], word_ids[tf.newaxis, :]) & ~tf.eye(count, dtype=tf.bool)
    logits = tf.where(same_word, tf.fill(tf.shape(similarity), similarity.dtype.min), similarity)
    losses = tf.reduce_logsumexp(logits, axis=1) - tf.linalg.diag_part(logits)  # cross-entropy, label i for row i
    return tf.math.divide_no_nan(tf.reduce_sum(losses), tf.cast(count, losses.dtype))


class NoiseAwareModel(keras.Model):
    """Trains ``models.classifier`` on noised batches with the auxiliary loss.

    Training batches: ``(features, labels)`` with the model inputs and
    ``contract.CLEAN_WORD_IDS`` [B, T], ``contract.CLEAN_CHAR_IDS`` [B, T, C] and
    ``contract.NOISED`` [B, T]. ``call`` (and so evaluation) runs the classifier alone.
    """

    def __init__(self, models: Models, target: str, weight: float, **kwargs):
        super().__init__(**kwargs)
        self.models = models
        self.target = target
        self.weight = weight
        if target == "token":
            self.vectors = keras.Model(models.classifier.inputs, models.token_encoder.output)
            self.projection = None
        else:
            self.vectors = keras.Model(models.classifier.inputs,
                                       models.branch_encoder.output[contract.CHAR_EMBEDDINGS])
            word_dim = models.branch_encoder.output[contract.WORD_EMBEDDINGS].shape[-1]
            self.projection = keras.layers.Dense(word_dim, name="aux_projection")
            self.projection.build((None, self.vectors.output.shape[-1]))
        self.train_net = keras.Model(models.classifier.inputs, [models.classifier.output, self.vectors.output])
        self.aux_tracker = keras.metrics.Mean(name=AUX_LOSS)

    def call(self, inputs, training=None):
        return self.models.classifier(_model_features(inputs), training=training)

    def aux_loss(self, features, vectors: tf.Tensor) -> tf.Tensor:
        """:func:`contrastive_loss` over the noised tokens of the batch (0 when none);
        ``vectors`` [B, T, D] are the noised forward pass's token or char vectors."""
        where = tf.where(features[contract.NOISED])
        predicted = tf.gather_nd(vectors, where)
        clean_words = tf.gather_nd(features[contract.CLEAN_WORD_IDS], where)
        clean = {contract.WORD_IDS: clean_words[tf.newaxis],
                 contract.CHAR_IDS: tf.gather_nd(features[contract.CLEAN_CHAR_IDS], where)[tf.newaxis]}
        if self.target == "token":
            target = self.models.token_encoder(clean, training=False)[0]
        else:
            predicted = self.projection(predicted)
            target = self.models.branch_encoder(clean, training=False)[contract.WORD_EMBEDDINGS][0]
        return contrastive_loss(predicted, tf.stop_gradient(target), clean_words)

    def train_step(self, data):
        features, labels = data
        inputs = _model_features(features)
        with tf.GradientTape() as tape:
            probabilities, vectors = self.train_net(inputs, training=True)
            aux = self.aux_loss(features, vectors)
            loss = self.compiled_loss(labels, probabilities, regularization_losses=self.losses + [self.weight * aux])
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        self.compiled_metrics.update_state(labels, probabilities)
        self.aux_tracker.update_state(aux)
        return {metric.name: metric.result() for metric in self.metrics}

    def test_step(self, data):
        logs = super().test_step(data)
        logs.pop(AUX_LOSS, None)  # evaluation batches carry no noise
        return logs

    @property
    def metrics(self):
        return [*super().metrics, self.aux_tracker]
