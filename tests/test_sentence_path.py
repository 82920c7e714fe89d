"""The sentence path in the model: configuration, fusion layers, the in-model BERT encoder
(frozen, fine-tuned at a scaled learning rate), and (slow) run_fn + export with both
placements on a tiny checkpoint."""
import os

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import CharwordConfig, ConfigError
from charword.servability import check_servable, saved_model_runner
from preprocessing.bert.checkpoint import load_checkpoint
from preprocessing.bert.encoder import BertModule
from tests.bert_helpers import numpy_sentence_vector, wordpiece_ids, write_checkpoint
from tests.model_helpers import TINY_MODEL
from trainer.fusion import BertEncoder, SentenceFusion
from trainer.model import build_models


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("bert") / "checkpoint")
    write_checkpoint(path)
    return path


def _cfg(checkpoint_dir, **model):
    return CharwordConfig().replace(model={
        **TINY_MODEL, "sentence_path": "gated", "sentence_checkpoint": checkpoint_dir, "sentence_fusion_dim": 6,
        **model})


@pytest.mark.parametrize("model, message", [
    (dict(sentence_path="gated"), "model.sentence_checkpoint must name a checkpoint directory when "
                                  "model.sentence_path is 'gated'"),
    (dict(sentence_path="sum", sentence_checkpoint="c"), "model.sentence_path must be one of"),
    (dict(sentence_tuning="trainable"), "model.sentence_tuning can be 'trainable' only with "
                                        "model.sentence_placement 'model'"),
    (dict(sentence_placement="serving"), "model.sentence_placement must be one of ['transform', 'model']"),
    (dict(sentence_max_pieces=600), "model.sentence_max_pieces must be an integer in [3, 512]"),
    (dict(sentence_lr_scale=0.0), "model.sentence_lr_scale must be in (0, 1]"),
])
def test_invalid_sentence_settings_name_the_field(model, message):
    with pytest.raises(ConfigError, match=None) as error:
        CharwordConfig().replace(model=model)
    assert message in str(error.value)


def test_transform_reads_only_preprocessing_sentence_and_vocabulary_fields():
    cfg = CharwordConfig().replace(model=dict(sentence_path="concat", sentence_checkpoint="gs://b/ckpt", dropout=0.3))
    sections = cfg.transform_config()
    assert set(sections) == {"preprocessing", "model"}
    assert sections["model"] == {"sentence_path": "concat", "sentence_checkpoint": "gs://b/ckpt",
                                 "sentence_placement": "transform", "sentence_max_pieces": 64,
                                 "init_from": None}  # a pretrained encoder's vocabulary replaces the analysed one
    assert CharwordConfig.from_dict(sections).model.sentence_path == "concat"
    assert cfg.replace(model=dict(dropout=0.1)).transform_config() == sections  # training knobs keep Transform cached


def test_no_sentence_path_builds_todays_model(checkpoint_dir):
    cfg = _cfg(checkpoint_dir, sentence_path="none")
    models = build_models(cfg.model, cfg.preprocessing, word_vocab_size=20, num_classes=2)
    assert models.sentence_model is None
    assert sorted(models.classifier.input) == sorted(contract.MODEL_INPUTS)


@pytest.mark.parametrize("mode", ["concat", "gated"])
def test_fusion_layers_shapes_and_config_round_trip(mode):
    layer = SentenceFusion(mode, 5, name="fusion")
    out = layer([tf.ones([3, 4]), tf.ones([3, 7])])
    assert out.shape == (3, 5)
    clone = SentenceFusion.from_config(layer.get_config())
    clone([tf.ones([3, 4]), tf.ones([3, 7])])
    clone.set_weights(layer.get_weights())
    inputs = [tf.random.normal([3, 4], seed=1), tf.random.normal([3, 7], seed=2)]
    np.testing.assert_allclose(clone(inputs).numpy(), layer(inputs).numpy(), atol=1e-6)


def test_gated_fusion_follows_its_gate():
    layer = SentenceFusion("gated", 3)
    token, sentence = tf.constant([[1.0, -2.0]]), tf.constant([[0.5, 0.5, 0.5, 0.5]])
    layer([token, sentence])
    layer.gate.bias.assign(tf.fill([3], 50.0))  # gate ~1: the sentence projection alone
    np.testing.assert_allclose(layer([token, sentence]).numpy(), layer.sentence_projection(sentence).numpy(),
                               atol=1e-6)
    layer.gate.bias.assign(tf.fill([3], -50.0))  # gate ~0: the token projection alone
    np.testing.assert_allclose(layer([token, sentence]).numpy(), layer.token_projection(token).numpy(), atol=1e-6)


@pytest.mark.parametrize("placement", ["transform", "model"])
def test_fused_classifier_reads_the_sentence_feature(checkpoint_dir, placement):
    cfg = _cfg(checkpoint_dir, sentence_placement=placement)
    models = build_models(cfg.model, cfg.preprocessing, word_vocab_size=20, num_classes=3)
    feature = contract.SENTENCE_VECTOR if placement == "transform" else contract.PIECE_IDS
    assert sorted(models.classifier.input) == sorted(contract.MODEL_INPUTS + (feature,))
    rng = np.random.default_rng(0)
    inputs = {contract.WORD_IDS: rng.integers(1, 20, size=(2, 5)),
              contract.CHAR_IDS: rng.integers(1, 257, size=(2, 5, 6))}
    if placement == "transform":
        inputs[feature] = rng.normal(size=(2, 8)).astype(np.float32)
    else:
        inputs[feature] = np.array([wordpiece_ids("the film was good", max_pieces=9) + [0] * 3,
                                    wordpiece_ids("a dull plot", max_pieces=9) + [0] * 4])
    probabilities = models.classifier(inputs).numpy()
    assert probabilities.shape == (2, 3) and np.allclose(probabilities.sum(1), 1.0, atol=1e-5)
    vector = models.sentence_model({feature: inputs[feature]}).numpy()
    assert vector.shape == (2, 8)
    if placement == "transform":
        np.testing.assert_array_equal(vector, inputs[feature])  # the model reads Transform's vector as it is


@pytest.mark.parametrize("trainable", [False, True])
def test_in_model_encoder_equals_the_transform_encoder(checkpoint_dir, trainable):
    checkpoint = load_checkpoint(checkpoint_dir)
    layer = BertEncoder(checkpoint_dir, lr_scale=0.01, trainable=trainable)
    ids = tf.constant([wordpiece_ids("the film was good !") + [0] * 2, wordpiece_ids("unbelievable") + [0] * 4])
    np.testing.assert_allclose(layer(ids).numpy(), BertModule(checkpoint)(ids).numpy(), atol=1e-5)
    assert len(layer.trainable_weights) == (len(checkpoint.weights) if trainable else 0)
    assert BertEncoder.from_config(layer.get_config()).lr_scale == (0.01 if trainable else 1.0)


@pytest.mark.parametrize("lr_scale", [1.0, 0.01])
def test_trainable_encoder_moves_at_the_scaled_learning_rate(checkpoint_dir, lr_scale):
    """One Adam step of rate 1e-2 moves each weight by about 1e-2 * lr_scale."""
    layer = BertEncoder(checkpoint_dir, lr_scale=lr_scale, trainable=True)
    ids = tf.constant([wordpiece_ids("the film was good !"), wordpiece_ids("a great plot .") + [0]])
    layer(ids)
    before = {name: (w * layer.lr_scale).numpy() for name, w in layer.stored.items()}
    optimizer = keras.optimizers.Adam(1e-2)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids) * tf.random.normal([2, 8], seed=3))
    optimizer.apply_gradients(zip(tape.gradient(loss, layer.trainable_weights), layer.trainable_weights))
    name = "encoder.layer.0.attention.self.query.weight"
    moved = np.abs((layer.stored[name] * layer.lr_scale).numpy() - before[name])
    assert moved.max() == pytest.approx(1e-2 * lr_scale, rel=0.05)


def test_in_model_encoder_matches_the_numpy_reference(checkpoint_dir):
    weights = load_checkpoint(checkpoint_dir).weights
    layer = BertEncoder(checkpoint_dir)
    pieces = wordpiece_ids("Café naïve résumé !")
    np.testing.assert_allclose(layer(tf.constant([pieces]))[0].numpy(), numpy_sentence_vector(weights, pieces, 2),
                               atol=1e-4)


# ---- slow: run_fn and the exported signatures ---------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("placement, tuning", [("transform", "frozen"), ("model", "trainable")])
def test_run_fn_exports_a_fused_model_with_embed_sentence(checkpoint_dir, tmp_path, placement, tuning):
    from standalone.fn_args import make_fn_args  # pylint: disable=import-outside-toplevel
    from standalone.transform import rows_from_pairs, transform_rows  # pylint: disable=import-outside-toplevel
    from tests.conftest import learnable_pairs  # pylint: disable=import-outside-toplevel
    from trainer import task  # pylint: disable=import-outside-toplevel

    cfg = _cfg(checkpoint_dir, sentence_placement=placement, sentence_tuning=tuning, sentence_max_pieces=12).replace(
        preprocessing=dict(max_tokens=10, max_chars=16, frequency_threshold=3),
        training=dict(batch_size=16, train_steps=120, eval_steps=4, learning_rate=5e-3))
    data = transform_rows(rows_from_pairs(learnable_pairs(480, 1)), rows_from_pairs(learnable_pairs(96, 2)), cfg,
                          str(tmp_path))
    result = task.run_fn(make_fn_args(data, cfg, str(tmp_path / "trainer")))
    model = tf.saved_model.load(result.serving_model_dir)
    texts = [b"the ending was superb .", b"this film was awful .", b"Caf\xc3\xa9 na\xc3\xafve !"]
    check_servable(list(model.signatures), saved_model_runner(model), texts)
    assert contract.EMBED_SENTENCE in model.signatures
    out = model.signatures[contract.PREDICT_TEXT](text=tf.constant(texts[:2]))
    assert [label.decode() for label in out[contract.LABEL].numpy()] == ["positive", "negative"]
    vectors = model.signatures[contract.EMBED_SENTENCE](text=tf.constant(texts))[contract.SENTENCE_VECTOR].numpy()
    weights = load_checkpoint(checkpoint_dir).weights
    for row, text in enumerate(texts):
        expected = numpy_sentence_vector(weights, wordpiece_ids(text.decode(), max_pieces=12), heads=2)
        if tuning == "frozen":
            np.testing.assert_allclose(vectors[row], expected, atol=1e-4)
        else:  # fine-tuned: close to where it started, but moved
            assert 0 < np.abs(vectors[row] - expected).max() < 0.5
    assert os.path.exists(os.path.join(result.serving_model_dir, contract.SAVED_MODEL_FILE))
