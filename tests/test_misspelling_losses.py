"""OOV routing and the auxiliary loss of the noise-aware training model."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import CharwordConfig
from tests.model_helpers import TINY_MODEL
from trainer import misspelling_losses
from trainer.model import build_models
from trainer.training import compile_classifier

VOCAB = 50
BUCKETS = CharwordConfig().preprocessing.num_oov_buckets


def _config(**sections):
    return CharwordConfig().replace(
        # The aux loss reads misspellings through the char n-grams: fewer shared hash rows than TINY_MODEL's.
        model={**TINY_MODEL, "char_ngram_buckets": 10_000, "dropout": 0.0, **sections.pop("model", {})},
        training=dict(learning_rate=0.01), **sections)


def _char_rows(rng, count):
    rows = np.zeros((count, 8), np.int64)
    rows[:, 0] = contract.BEGIN_OF_WORD_ID
    rows[:, 1:5] = rng.integers(98, 123, size=(count, 4))
    rows[:, 5] = contract.END_OF_WORD_ID
    return rows


def _inputs(rng, batch=4, tokens=6):
    """Word ids with in-vocabulary, OOV-bucket and padding positions, and their chars."""
    words = rng.integers(1, VOCAB + 1, size=(batch, tokens))
    words[:, 1] = rng.integers(VOCAB + 1, VOCAB + BUCKETS + 1, size=batch)  # OOV buckets
    words[:, -1] = contract.WORD_PAD_ID
    chars = _char_rows(rng, batch * tokens).reshape(batch, tokens, 8)
    chars[:, -1] = contract.CHAR_PAD_ID
    return {contract.WORD_IDS: words, contract.CHAR_IDS: chars}


def _copy_shared_weights(source: keras.Model, target: keras.Model) -> None:
    for layer in target.layers:
        if layer.weights and any(other.name == layer.name for other in source.layers):
            layer.set_weights(source.get_layer(layer.name).get_weights())


@pytest.mark.parametrize("mode", ["zero", "gate"])
def test_oov_routing_changes_the_vectors_of_oov_tokens_only(mode):
    tf.keras.utils.set_random_seed(0)
    cfg = _config()
    plain = build_models(cfg.replace(model={"oov_routing": "none"}).model, cfg.preprocessing, VOCAB, 2)
    routed = build_models(cfg.replace(model={"oov_routing": mode}).model, cfg.preprocessing, VOCAB, 2)
    _copy_shared_weights(plain.classifier, routed.classifier)
    inputs = _inputs(np.random.default_rng(1))
    before, after = plain.token_encoder(inputs).numpy(), routed.token_encoder(inputs).numpy()
    oov = inputs[contract.WORD_IDS] > VOCAB
    np.testing.assert_allclose(after[~oov], before[~oov], atol=1e-6)
    assert np.abs(after[oov] - before[oov]).min(axis=-1).max() > 1e-4
    assert (np.abs(after[oov] - before[oov]).max(axis=-1) > 1e-4).all()
    probabilities = routed.classifier(inputs).numpy()
    in_vocab_only = {name: value[:, 2:] for name, value in inputs.items()}  # no OOV token left
    np.testing.assert_allclose(routed.classifier(in_vocab_only).numpy(), plain.classifier(in_vocab_only).numpy(),
                               atol=1e-6)
    assert not np.allclose(probabilities, plain.classifier(inputs).numpy(), atol=1e-6)


def test_contrastive_loss_prefers_the_right_pairs_and_is_zero_without_tokens():
    rng = np.random.default_rng(0)
    target = tf.constant(rng.normal(size=(6, 5)), tf.float32)
    words = tf.constant([1, 2, 3, 4, 5, 6], tf.int64)
    right = misspelling_losses.contrastive_loss(target, target, words)
    shuffled = misspelling_losses.contrastive_loss(tf.roll(target, 1, axis=0), target, words)
    assert float(right) < float(shuffled)
    empty = misspelling_losses.contrastive_loss(tf.zeros([0, 5]), tf.zeros([0, 5]), tf.zeros([0], tf.int64))
    assert float(empty) == 0.0
    # Another occurrence of the same word is no negative: counted as one, the two equal
    # rows would cost each other at least log(2).
    twice = tf.concat([target[:1], target], 0)
    assert float(misspelling_losses.contrastive_loss(twice, twice, tf.concat([words[:1], words], 0))) < 0.5 * np.log(2)
    assert float(misspelling_losses.contrastive_loss(twice, twice, tf.range(7, dtype=tf.int64))) > 2 * np.log(2) / 7


def _noised_batches(rng, count, batch=16, tokens=6):
    """Training batches as trainer.noise writes them: every in-vocabulary word has one
    fixed misspelling (a swapped char, an OOV bucket id)."""
    misspelled_chars = _char_rows(rng, VOCAB + 1)
    clean_chars = misspelled_chars.copy()
    clean_chars[:, [1, 2]] = misspelled_chars[:, [2, 1]]
    buckets = rng.integers(VOCAB + 1, VOCAB + BUCKETS + 1, size=VOCAB + 1)
    batches = []
    for _ in range(count):
        clean = rng.integers(1, VOCAB + 1, size=(batch, tokens))
        noised = rng.random((batch, tokens)) < 0.5
        features = {contract.WORD_IDS: np.where(noised, buckets[clean], clean),
                    contract.CHAR_IDS: np.where(noised[..., None], misspelled_chars[clean], clean_chars[clean]),
                    contract.CLEAN_WORD_IDS: clean, contract.CLEAN_CHAR_IDS: clean_chars[clean],
                    contract.NOISED: noised}
        batches.append((features, (clean[:, 0] % 2).astype(np.int64)))
    return batches


def _trainer(cfg, seed=0):
    tf.keras.utils.set_random_seed(seed)
    models = build_models(cfg.model, cfg.preprocessing, VOCAB, 2)
    return models, compile_classifier(misspelling_losses.training_model(models, cfg), cfg.training)


@pytest.mark.slow
def test_aux_loss_at_weight_zero_leaves_training_as_the_plain_classifier_trains():
    cfg = _config(noise=dict(rate=0.5, aux_weight=1.0))
    (features, labels), = _noised_batches(np.random.default_rng(2), 1)
    models, trainer = _trainer(cfg)
    weightless = misspelling_losses.NoiseAwareModel(models, "token", 0.0)
    compile_classifier(weightless, cfg.training)
    assert float(weightless.aux_loss(features, models.token_encoder(
        {k: features[k] for k in contract.MODEL_INPUTS}))) > 0  # computed, then weighted by 0
    logs = weightless.train_on_batch(features, labels, return_dict=True)
    after_aux = [w.numpy() for w in models.classifier.weights]

    plain_models, _ = _trainer(cfg.replace(noise=dict(aux_weight=0.0)))
    plain = compile_classifier(plain_models.classifier, cfg.training)
    plain_logs = plain.train_on_batch({k: features[k] for k in contract.MODEL_INPUTS}, labels, return_dict=True)
    assert logs["loss"] == pytest.approx(plain_logs["loss"], rel=1e-5)
    for weight, expected in zip(after_aux, plain_models.classifier.weights):
        np.testing.assert_allclose(weight, expected.numpy(), atol=1e-6)


@pytest.mark.parametrize("target", ["token", pytest.param("word", marks=pytest.mark.slow)])
def test_aux_loss_decreases_in_a_short_run(target):
    cfg = _config(noise=dict(rate=0.5, aux_weight=1.0, aux_target=target))
    models, trainer = _trainer(cfg)
    assert isinstance(trainer, misspelling_losses.NoiseAwareModel)
    batches = _noised_batches(np.random.default_rng(3), 20)
    dataset = tf.data.Dataset.from_tensor_slices(({name: np.stack([b[0][name] for b in batches])
                                                   for name in batches[0][0]},
                                                  np.stack([b[1] for b in batches])))
    history = trainer.fit(dataset.repeat(), epochs=8, steps_per_epoch=20, verbose=0).history
    losses = history[misspelling_losses.AUX_LOSS]
    assert losses[-1] < 0.5 * losses[0], losses
    # Evaluation sees the classifier alone (no aux loss reported for clean batches).
    clean = tf.data.Dataset.from_tensor_slices(
        ({k: batches[0][0][k] for k in contract.MODEL_INPUTS}, batches[0][1])).batch(8)
    assert misspelling_losses.AUX_LOSS not in trainer.evaluate(clean, return_dict=True, verbose=0)


@pytest.mark.parametrize("char_encoder, target", [("cnn", "token"),
                                                  pytest.param("bilstm", "word", marks=pytest.mark.slow)])
def test_a_batch_without_noised_tokens_trains_with_zero_added_losses(char_encoder, target):
    # Small shards of a multi-worker run meet such batches: the aux loss then encodes
    # zero tokens, which must neither fail nor add loss.
    cfg = _config(model=dict(char_encoder=char_encoder, char_filters=((1, 6), (3, 5))),
                  noise=dict(rate=0.5, aux_weight=1.0, aux_target=target, consistency_weight=1.0))
    models, trainer = _trainer(cfg)
    (features, labels), = _noised_batches(np.random.default_rng(4), 1)
    features = dict(features, **{contract.WORD_IDS: features[contract.CLEAN_WORD_IDS],
                                 contract.CHAR_IDS: features[contract.CLEAN_CHAR_IDS],
                                 contract.NOISED: np.zeros_like(features[contract.NOISED])})
    dataset = tf.data.Dataset.from_tensors((features, labels)).repeat(2)
    history = trainer.fit(dataset, epochs=1, verbose=0).history
    assert history[misspelling_losses.AUX_LOSS] == [0.0]
    assert history[misspelling_losses.CONSISTENCY_LOSS] == [0.0]
    assert np.isfinite(history["loss"][0])


@pytest.mark.parametrize("sections, reason", [
    (dict(noise=dict(rate=0.0, aux_weight=0.5)), "noise.rate is 0"),
    (dict(noise=dict(aux_weight=0.0)), "noise.aux_weight is 0"),
    (dict(model=dict(variant="word_only"), noise=dict(aux_weight=0.5)), "word_only has no char branch"),
])
def test_aux_loss_is_off_with_the_reason_where_it_cannot_apply(sections, reason):
    cfg = _config(**sections)
    assert reason in misspelling_losses.aux_inactive_reason(cfg)
    models, trainer = _trainer(cfg)
    assert trainer is models.classifier


def test_consistency_loss_is_the_kl_divergence_from_the_clean_prediction_on_noised_examples():
    cfg = _config(noise=dict(rate=0.5, consistency_weight=1.0))
    models, trainer = _trainer(cfg)
    (features, _), = _noised_batches(np.random.default_rng(4), 1)
    features = {name: tf.constant(value) for name, value in features.items()}
    noised = models.classifier({k: features[k] for k in contract.MODEL_INPUTS}).numpy()
    clean = models.classifier({contract.WORD_IDS: features[contract.CLEAN_WORD_IDS],
                               contract.CHAR_IDS: features[contract.CLEAN_CHAR_IDS]}).numpy()
    has_noise = features[contract.NOISED].numpy().any(axis=1)
    assert has_noise.any()
    expected = (clean * np.log(clean / noised)).sum(axis=1)[has_noise].mean()
    got = float(trainer.consistency_loss(features, tf.constant(noised)))
    assert got == pytest.approx(expected, rel=1e-4) and got > 0
    untouched = dict(features, **{contract.NOISED: tf.zeros_like(features[contract.NOISED])})
    assert float(trainer.consistency_loss(untouched, tf.constant(noised))) == 0.0


@pytest.mark.slow
def test_consistency_loss_trains_word_only_too_and_brings_noised_predictions_to_the_clean_ones():
    """Trained alike but for the consistency weight, the model trained with it predicts
    on noised text closer to what it predicts on the clean text."""
    batches = _noised_batches(np.random.default_rng(5), 20)
    dataset = tf.data.Dataset.from_tensor_slices(({name: np.stack([b[0][name] for b in batches])
                                                   for name in batches[0][0]},
                                                  np.stack([b[1] for b in batches])))
    held_out = {name: tf.constant(value) for name, value in _noised_batches(np.random.default_rng(6), 1)[0][0].items()}
    gaps = {}
    for weight in (0.0, 5.0):
        cfg = _config(noise=dict(rate=0.5, consistency_weight=weight, aux_weight=0.0),
                      model=dict(variant="word_only"))
        models, trainer = _trainer(cfg)
        data = dataset if weight else dataset.map(lambda f, y: ({k: f[k] for k in contract.MODEL_INPUTS}, y))
        history = trainer.fit(data.repeat(), epochs=3, steps_per_epoch=20, verbose=0).history
        probe = misspelling_losses.NoiseAwareModel(models, "token", 0.0, consistency_weight=1.0)
        noised = models.classifier({k: held_out[k] for k in contract.MODEL_INPUTS})
        gaps[weight] = float(probe.consistency_loss(held_out, noised))
        if weight:
            assert isinstance(trainer, misspelling_losses.NoiseAwareModel) and trainer.weight == 0.0
            assert misspelling_losses.needs_clean_features(cfg)
            assert misspelling_losses.CONSISTENCY_LOSS in history and misspelling_losses.AUX_LOSS not in history
        else:
            assert trainer is models.classifier
    assert gaps[5.0] < 0.5 * gaps[0.0], gaps
