"""The losses that teach a model to read misspellings, and the training model that adds
them: an auxiliary loss on the token vectors (MIMICK, Pinter et al. 2017, adapted to
noise) and a consistency loss on the predictions (Namysl et al. 2020).

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

The consistency loss (``noise.consistency_weight``) asks the classifier to say on the
noised text what it says on the clean one: the KL divergence from its prediction on the
clean batch (no dropout, no gradient: a teacher) to its prediction on the noised batch,
over the examples with at least one noised token. Noise alone teaches a model to ignore
a misspelled token; this asks it to recover the token's meaning, which only a char
branch can do.

:class:`NoiseAwareModel` trains the classifier with
``loss + aux_weight * aux_loss + consistency_weight * consistency_loss`` and logs the
losses it adds; its ``call``, evaluation and the exported classifier see only the model
inputs, so serving is unchanged.
"""
import logging
from typing import List, Optional, Tuple

import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import CharwordConfig
from trainer.model import Models

AUX_LOSS = "aux_loss"
CONSISTENCY_LOSS = "consistency_loss"
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


def needs_clean_features(cfg: CharwordConfig) -> bool:
    """Whether training batches must keep the clean ids beside the noised ones."""
    return cfg.noise.rate > 0 and (aux_inactive_reason(cfg) is None or cfg.noise.consistency_weight > 0)


def loss_weights(cfg: CharwordConfig) -> Tuple[float, float]:
    """``(aux_weight, consistency_weight)`` that apply to this model and noise (0 for a
    loss that cannot apply; the reason is logged)."""
    reason = aux_inactive_reason(cfg)
    if reason and cfg.noise.aux_weight > 0:
        logger.info("Auxiliary loss off: %s", reason)
    aux_weight = 0.0 if reason else cfg.noise.aux_weight
    return aux_weight, cfg.noise.consistency_weight if cfg.noise.rate > 0 else 0.0


def training_model(models: Models, cfg: CharwordConfig) -> keras.Model:
    """What ``fit`` trains: a :class:`NoiseAwareModel` when the auxiliary or the
    consistency loss applies, else the classifier itself. Build it inside the
    distribution strategy's scope."""
    aux_weight, consistency_weight = loss_weights(cfg)
    if not aux_weight and not consistency_weight:
        return models.classifier
    logger.info("Noise-aware training: auxiliary loss %s, consistency loss weight %g",
                f"target {cfg.noise.aux_target}, weight {aux_weight:g}" if aux_weight else "off", consistency_weight)
    return NoiseAwareModel(models, cfg.noise.aux_target, aux_weight, consistency_weight, name="noise_aware_trainer")


def _model_features(features):
    return contract.model_features(features)


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
    """Trains ``models.classifier`` on noised batches with the auxiliary loss (weight
    ``weight``) and the consistency loss (weight ``consistency_weight``); a weight of 0
    leaves its loss out.

    Training batches: ``(features, labels)`` with the model inputs and
    ``contract.CLEAN_WORD_IDS`` [B, T], ``contract.CLEAN_CHAR_IDS`` [B, T, C] and
    ``contract.NOISED`` [B, T]. ``call`` (and so evaluation) runs the classifier alone.
    """

    def __init__(self, models: Models, target: str, weight: float, consistency_weight: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.models = models
        self.target = target
        self.weight = weight
        self.consistency_weight = consistency_weight
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
        self.aux_tracker = keras.metrics.Mean(name=AUX_LOSS) if weight else None
        self.consistency_tracker = keras.metrics.Mean(name=CONSISTENCY_LOSS) if consistency_weight else None

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

    def consistency_loss(self, features, probabilities: tf.Tensor) -> tf.Tensor:
        """Mean KL divergence from the classifier's prediction on the clean batch (the
        teacher: no dropout, no gradient) to ``probabilities`` [B, classes], its
        prediction on the noised batch, over the examples with a noised token (0 when none)."""
        clean = dict(_model_features(features))
        clean.update({contract.WORD_IDS: features[contract.CLEAN_WORD_IDS],
                      contract.CHAR_IDS: features[contract.CLEAN_CHAR_IDS]})
        teacher = tf.stop_gradient(self.models.classifier(clean, training=False))
        divergence = keras.losses.kl_divergence(teacher, probabilities)
        noised = tf.cast(tf.reduce_any(features[contract.NOISED], axis=1), divergence.dtype)
        return tf.math.divide_no_nan(tf.reduce_sum(divergence * noised), tf.reduce_sum(noised))

    def added_losses(self, features, probabilities: tf.Tensor, vectors: tf.Tensor) -> List[tf.Tensor]:
        """The weighted losses added to the label loss on a training batch (each tracked
        unweighted); ``vectors`` as in :meth:`aux_loss`."""
        added = []
        if self.weight:
            aux = self.aux_loss(features, vectors)
            added.append(self.weight * aux)
            self.aux_tracker.update_state(aux)
        if self.consistency_weight:
            consistency = self.consistency_loss(features, probabilities)
            added.append(self.consistency_weight * consistency)
            self.consistency_tracker.update_state(consistency)
        return added

    def label_weights(self, features, probabilities: tf.Tensor) -> Optional[tf.Tensor]:
        """Per-example weights [B] of the label loss on a training batch; ``None``: 1."""
        return None

    def train_step(self, data):
        features, labels = data
        inputs = _model_features(features)
        with tf.GradientTape() as tape:
            probabilities, vectors = self.train_net(inputs, training=True)
            added = self.added_losses(features, probabilities, vectors)
            loss = self.compiled_loss(labels, probabilities, sample_weight=self.label_weights(features, probabilities),
                                      regularization_losses=self.losses + added)
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        self.compiled_metrics.update_state(labels, probabilities)
        return {metric.name: metric.result() for metric in self.metrics}

    def loss_trackers(self) -> List[keras.metrics.Metric]:
        """The trackers of the added losses, shown in training logs only."""
        return [t for t in (self.aux_tracker, self.consistency_tracker) if t is not None]

    def test_step(self, data):
        logs = super().test_step(data)
        for tracker in self.loss_trackers():
            logs.pop(tracker.name, None)  # evaluation batches carry no noise
        return logs

    @property
    def metrics(self):
        return [*super().metrics, *self.loss_trackers()]
