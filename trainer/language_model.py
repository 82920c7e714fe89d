"""The bidirectional language model that pretrains the token layer on unlabeled text
(lm_1b, Jozefowicz et al. 2016; ELMo, Peters et al. 2018).

    word_ids [B, T], char_ids [B, T, C] ─ token_encoder ─┬─ forward LSTM  ─ [B, T, U] ─ word t+1 ┐
                                                         └─ backward LSTM ─ [B, T, U] ─ word t-1 ┴ softmax [V, U]

The token encoder is the classifier's (:func:`trainer.model.build_models`: word and char
branches merged per token), so what the language model learns is what the classifier
reads. The forward LSTM reads tokens 0..t and predicts the word id of token t+1; the
backward LSTM reads tokens t..end and predicts token t-1; both share one output layer
over the word vocabulary (its words, OOV buckets and padding rows). Training draws
``num_sampled`` classes per step (``tf.nn.sampled_softmax_loss``); evaluation scores the
full softmax, so the reported loss is an exact cross-entropy and ``exp(loss)`` the
perplexity. Padding is never a target.

With ``model.word_vectors`` the token layer's word rows start from pretrained vectors
(:mod:`trainer.pretrained`); :func:`fold_word_vectors` then gives the trained model the
structure of one built without them, which is what a classifier starting from it builds.
"""
import dataclasses
from typing import Dict, Optional, Tuple

import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import ModelConfig, PreprocessingConfig
from trainer import layers, pretrained
from trainer.model import build_token_layer

FORWARD = "forward"
BACKWARD = "backward"


def next_word_pairs(states: tf.Tensor, word_ids: tf.Tensor, direction: str) -> Tuple[tf.Tensor, tf.Tensor]:
    """The (state, target word id) pairs of one direction, padding targets left out.

    ``states`` [B, T, U] are aligned with the tokens (state t has read token t); the
    forward direction pairs state t with word t+1, the backward with word t-1, where
    both are real tokens.
    Returns ``states`` [N, U] and ``targets`` [N] (int64)."""
    if direction == FORWARD:
        inputs, read, targets = states[:, :-1], word_ids[:, :-1], word_ids[:, 1:]
    else:
        inputs, read, targets = states[:, 1:], word_ids[:, 1:], word_ids[:, :-1]
    keep = tf.logical_and(layers.token_mask(read), layers.token_mask(targets))  # a real token predicting a real one
    return tf.boolean_mask(inputs, keep), tf.boolean_mask(targets, keep)


class BiLanguageModel(keras.Model):
    """Forward and backward LSTM language models over ``token_encoder``'s token vectors.

    Input: ``{word_ids [B, T], char_ids [B, T, C]}``. ``branch_encoder`` (optional, the
    token layer's per-branch vectors) is kept for the export of ``embed_tokens``. ``call`` returns the states of
    both directions, ``{"forward": [B, T, units], "backward": [B, T, units]}``, aligned
    with the tokens (padding slots hold the last real state). Training minimises the mean
    sampled-softmax loss of both directions; evaluation reports the full-softmax
    cross-entropy (``loss``) and ``perplexity``.
    """

    def __init__(self, token_encoder: keras.Model, vocab_rows: int, units: int, num_sampled: int,
                 branch_encoder: Optional[keras.Model] = None, **kwargs):
        super().__init__(**kwargs)
        self.token_encoder = token_encoder
        self.branch_encoder = branch_encoder  # each branch's vectors before the merge (for export)
        self.vocab_rows = vocab_rows
        self.units = units
        self.num_sampled = min(num_sampled, vocab_rows - 1)
        self.forward_lstm = keras.layers.LSTM(units, return_sequences=True, name="forward_lstm")
        self.backward_lstm = keras.layers.LSTM(units, return_sequences=True, go_backwards=True, name="backward_lstm")
        self.softmax_weights = self.add_weight(name="softmax_weights", shape=(vocab_rows, units),
                                               initializer="glorot_uniform")
        self.softmax_biases = self.add_weight(name="softmax_biases", shape=(vocab_rows,), initializer="zeros")
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, inputs: Dict[str, tf.Tensor], training=None) -> Dict[str, tf.Tensor]:
        tokens = self.token_encoder(inputs, training=training)
        mask = layers.token_mask(inputs[contract.WORD_IDS])
        forward = self.forward_lstm(tokens, mask=mask, training=training)
        # go_backwards reads the sequence from its end; reversing its output aligns state t with token t
        backward = tf.reverse(self.backward_lstm(tokens, mask=mask, training=training), axis=[1])
        return {FORWARD: forward, BACKWARD: backward}

    def _pairs(self, inputs, training):
        states = self(inputs, training=training)
        word_ids = inputs[contract.WORD_IDS]
        return [next_word_pairs(states[direction], word_ids, direction) for direction in (FORWARD, BACKWARD)]

    def sampled_loss(self, inputs, training=True) -> tf.Tensor:
        """Mean sampled-softmax loss over every target of both directions (scalar)."""
        losses = [tf.nn.sampled_softmax_loss(self.softmax_weights, self.softmax_biases,
                                             tf.expand_dims(targets, -1), states, self.num_sampled, self.vocab_rows)
                  for states, targets in self._pairs(inputs, training)]
        return tf.reduce_mean(tf.concat(losses, axis=0))

    def full_losses(self, inputs, training=False) -> tf.Tensor:
        """Full-softmax cross-entropy of every target of both directions: [N]."""
        losses = []
        for states, targets in self._pairs(inputs, training):
            logits = tf.matmul(states, self.softmax_weights, transpose_b=True) + self.softmax_biases
            losses.append(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=targets, logits=logits))
        return tf.concat(losses, axis=0)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        inputs = data[0] if isinstance(data, tuple) else data
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            # the replicas' gradients are summed: each contributes its share of the mean
            loss = self.sampled_loss(inputs) / replicas
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        self.loss_tracker.update_state(loss * replicas)
        return {"loss": self.loss_tracker.result()}

    def test_step(self, data):
        """The exact cross-entropy, averaged over every target word of the evaluation
        (not over batches), and its perplexity."""
        inputs = data[0] if isinstance(data, tuple) else data
        losses = self.full_losses(inputs)
        self.loss_tracker.update_state(tf.reduce_mean(losses), sample_weight=tf.cast(tf.size(losses), tf.float32))
        loss = self.loss_tracker.result()
        return {"loss": loss, "perplexity": tf.exp(loss)}

    def get_config(self):
        return {"vocab_rows": self.vocab_rows, "units": self.units, "num_sampled": self.num_sampled}


def build_language_model(model_cfg: ModelConfig, prep_cfg: PreprocessingConfig, word_vocab_size: int,
                         num_sampled: int, word_init: Optional[pretrained.InitialRows] = None) -> BiLanguageModel:
    """The language model of the classifier's token layer for ``word_vocab_size`` words,
    its LSTMs as wide as the classifier's sentence BiLSTM (``model.sentence_units``), so
    that a classifier can start from both (:mod:`trainer.init_from`). ``word_init``
    (:func:`trainer.pretrained.prepare`) goes with ``model.word_vectors``, as for the classifier."""
    token_layer = build_token_layer(model_cfg, prep_cfg, word_vocab_size, word_init)
    token_encoder = keras.Model(token_layer.inputs, token_layer.tokens, name="token_encoder")
    branch_encoder = keras.Model(token_layer.inputs, token_layer.branches, name="branch_encoder")
    vocab_rows = contract.word_vocab_input_dim(word_vocab_size, prep_cfg.num_oov_buckets)
    return BiLanguageModel(token_encoder, vocab_rows, model_cfg.sentence_units, num_sampled, branch_encoder,
                           name="bilm")


def fold_word_vectors(language_model: BiLanguageModel, model_cfg: ModelConfig, prep_cfg: PreprocessingConfig,
                      word_vocab_size: int) -> BiLanguageModel:
    """``language_model``, trained with ``model.word_vectors``, rebuilt without them: the
    same function in the structure of a model built with ``word_vectors`` unset. Its
    ``word_embedding`` [rows, word_dim] holds the pretrained-dimension rows times
    ``word_projection`` (when there was one); the gradient gate, an identity, is gone;
    every other weight is copied by layer name. A classifier starting from the folded
    model needs neither the vectors file nor its dimension."""
    folded = build_language_model(dataclasses.replace(model_cfg, word_vectors=None), prep_cfg, word_vocab_size,
                                  language_model.num_sampled)
    folded({contract.WORD_IDS: tf.ones([1, 2], tf.int64),
            contract.CHAR_IDS: tf.ones([1, 2, prep_cfg.max_chars], tf.int64)})  # creates the LSTMs' weights
    trained = language_model.token_encoder
    for layer in folded.token_encoder.layers:
        if not layer.weights:
            continue
        if layer.name == pretrained.WORD_EMBEDDING:
            rows = trained.get_layer(pretrained.WORD_EMBEDDING).get_weights()[0]
            if any(other.name == pretrained.WORD_PROJECTION for other in trained.layers):
                rows = rows @ trained.get_layer(pretrained.WORD_PROJECTION).get_weights()[0]
            layer.set_weights([rows])
        else:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    folded.forward_lstm.set_weights(language_model.forward_lstm.get_weights())
    folded.backward_lstm.set_weights(language_model.backward_lstm.get_weights())
    folded.softmax_weights.assign(language_model.softmax_weights)
    folded.softmax_biases.assign(language_model.softmax_biases)
    return folded
