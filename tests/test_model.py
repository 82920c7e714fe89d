"""The hybrid model and its Trainer: replicas, learning, padding, OOV, export."""
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import CharwordConfig, ConfigError
from charword.servability import NotServableError
from components.servable_probe import check_model
from trainer import layers
from trainer.model import build_models


def epoch_losses(run_dir):
    """Training loss per epoch from the TensorBoard logs the Trainer wrote."""
    losses = []
    for root, _, files in os.walk(os.path.join(run_dir, "train")):
        for name in sorted(files):
            for event in tf.compat.v1.train.summary_iterator(os.path.join(root, name)):
                for value in event.summary.value:
                    if value.tag == "epoch_loss":
                        losses.append((event.step, float(tf.make_ndarray(value.tensor))))
    return [loss for _, loss in sorted(losses)]


def test_run_fn_trains_with_two_replicas(trained_model):
    assert "2 replica(s)" in trained_model.log_text
    assert "global batch 32 (16 per replica)" in trained_model.log_text
    assert os.path.exists(os.path.join(trained_model.model_dir, "saved_model.pb"))


def test_training_loss_goes_down(trained_model):
    losses = epoch_losses(trained_model.fn_args.model_run_dir)
    assert len(losses) >= 2
    assert losses[-1] < 0.5 * losses[0]


def test_trained_model_classifies_held_out_sentences(trained_model):
    model = tf.saved_model.load(trained_model.model_dir)
    out = model.signatures["predict_text"](text=tf.constant(["the ending was superb .", "this film was awful ."]))
    assert [label.decode() for label in out["label"].numpy()] == ["positive", "negative"]


def _small_config(**model):
    return CharwordConfig().replace(model=dict(word_dim=8, char_dim=4, char_output_dim=8, token_dim=8,
                                               sentence_units=4, char_filters=((1, 4), (3, 4)), **model))


@pytest.mark.parametrize("sentence_encoder", ["bilstm", "cnn"])
@pytest.mark.parametrize("char_encoder", ["cnn", "bilstm"])
def test_prediction_ignores_word_and_char_padding(char_encoder, sentence_encoder):
    cfg = _small_config(char_encoder=char_encoder, sentence_encoder=sentence_encoder)
    classifier = build_models(cfg.model, cfg.preprocessing, word_vocab_size=50, num_classes=3).classifier
    rng = np.random.default_rng(0)
    word_ids = rng.integers(1, 50, size=3)
    chars = rng.integers(1, 257, size=(3, 5))

    def padded(max_tokens, max_chars):
        words = np.zeros((1, max_tokens), np.int64)
        char_ids = np.zeros((1, max_tokens, max_chars), np.int64)
        words[0, :3] = word_ids
        char_ids[0, :3, 0] = contract.BEGIN_OF_WORD_ID
        char_ids[0, :3, 1:6] = chars
        char_ids[0, :3, 6] = contract.END_OF_WORD_ID
        return {contract.WORD_IDS: words, contract.CHAR_IDS: char_ids}

    short = classifier(padded(4, 8)).numpy()
    long = classifier(padded(30, 24)).numpy()
    np.testing.assert_allclose(short, long, atol=1e-5)


def test_prediction_does_not_depend_on_other_texts_in_the_batch(trained_model):
    model = tf.saved_model.load(trained_model.model_dir)
    alone = model.signatures["predict_text"](text=tf.constant(["the plot was brilliant ."]))["probabilities"]
    batched = model.signatures["predict_text"](text=tf.constant(
        ["the plot was brilliant .", "the acting was terrible and the soundtrack was boring boring boring ."]))
    np.testing.assert_allclose(alone.numpy()[0], batched["probabilities"].numpy()[0], atol=1e-5)


def test_unseen_words_get_distinct_vectors_and_misspellings_stay_near(trained_model):
    """Typos (out of vocabulary) land nearer their correct word than any trained word of
    the other class, by cosine distance (as nearest words are found). The merged vectors
    are shaped by the classification task, so the robust reference is meaning (the other
    class), not arbitrary unrelated spellings."""
    from tests.conftest import NEGATIVE_WORDS, POSITIVE_WORDS  # pylint: disable=import-outside-toplevel
    typos = {"excellent": "exellent", "wonderful": "wonderfull", "terrible": "terible", "horrible": "horible",
             "dreadful": "dredful", "superb": "suberb"}
    words = list(POSITIVE_WORDS) + list(NEGATIVE_WORDS) + list(typos.values()) + ["quixotic", "zebra"]
    model = tf.saved_model.load(trained_model.model_dir)
    out = model.signatures["embed_tokens"](text=tf.constant(words))
    assert [t.decode() for t in out["tokens"].numpy()[:, 0]] == words
    vectors = dict(zip(words, out["embeddings"].numpy()[:, 0]))
    assert not np.allclose(vectors["quixotic"], vectors["zebra"], atol=1e-3)
    def distance(a, b):
        return 1.0 - float(vectors[a] @ vectors[b]) / (np.linalg.norm(vectors[a]) * np.linalg.norm(vectors[b]))

    for correct, typo in typos.items():
        other_class = NEGATIVE_WORDS if correct in POSITIVE_WORDS else POSITIVE_WORDS
        to_correct = distance(typo, correct)
        to_other_class = min(distance(typo, w) for w in other_class)
        assert to_correct < to_other_class, (typo, to_correct, to_other_class)


def test_saved_model_answers_all_signatures_in_a_fresh_process(trained_model, tmp_path):
    requests = tmp_path / "requests.tfrecord"
    with tf.io.TFRecordWriter(str(requests)) as writer:
        for text in ["the movie was superb .", "", "日本 👍"]:
            example = tf.train.Example(features=tf.train.Features(feature={
                contract.RAW_TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                contract.RAW_LABEL: tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"positive"]))}))
            writer.write(example.SerializeToString())
    probe = subprocess.run([sys.executable, "-m", "components.servable_probe", trained_model.model_dir,
                            str(requests)], capture_output=True, text=True, timeout=300, check=False)
    assert probe.returncode == 0, probe.stderr[-2000:]
    assert f"answered all {len(contract.SIGNATURES)} signatures on 3 requests" in probe.stdout


def test_probe_rejects_a_model_missing_signatures(tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x}, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.f})
    with pytest.raises(NotServableError, match="lacks the signature"):
        check_model(str(tmp_path), [b""])


@pytest.mark.parametrize("variant,has_word,has_char", [("hybrid", True, True), ("word_only", True, False),
                                                       ("char_only", False, True)])
def test_ablation_switches_build_the_expected_branches(variant, has_word, has_char):
    cfg = _small_config(variant=variant)
    models = build_models(cfg.model, cfg.preprocessing, word_vocab_size=20, num_classes=4)
    names = {layer.name for layer in models.classifier.layers}
    assert ("word_embedding" in names) == has_word
    assert ("char_cnn" in names) == has_char
    inputs = {contract.WORD_IDS: np.ones((2, 7), np.int64), contract.CHAR_IDS: np.ones((2, 7, 9), np.int64)}
    assert models.classifier(inputs).shape == (2, 4)
    assert models.token_encoder(inputs).shape == (2, 7, cfg.model.token_dim)


def test_char_encoder_switch_selects_bilstm():
    cfg = _small_config(char_encoder="bilstm")
    names = {layer.name for layer in build_models(cfg.model, cfg.preprocessing, 20, 2).classifier.layers}
    assert "char_bilstm" in names and "char_cnn" not in names


@pytest.mark.parametrize("section,values,field", [
    ("model", {"char_dim": 0}, "model.char_dim"),
    ("model", {"word_dim": -3}, "model.word_dim"),
    ("preprocessing", {"max_chars": 2}, "preprocessing.max_chars"),
    ("model", {"char_encoder": "gru"}, "model.char_encoder"),
    ("model", {"sentence_encoder": "transformer"}, "model.sentence_encoder"),
    ("training", {"batch_size": 0}, "training.batch_size"),
    ("preprocessing", {"max_tokens": 0}, "preprocessing.max_tokens"),
])
def test_unworkable_config_fails_at_config_time_naming_the_field(section, values, field):
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        CharwordConfig().replace(**{section: values})


def _normal(rng, *shape):
    return rng.normal(size=shape).astype("float32")


def _char_inputs(rng):
    """Char embeddings ``[2, 3, 4, 5]`` and a mask ``[2, 3, 4]`` with padding in it."""
    mask = np.ones((2, 3, 4), bool)
    mask[0, 1, 2:] = mask[1, 2, :] = False
    return {"char_embeddings": _normal(rng, 2, 3, 4, 5), "mask": mask}


def _token_inputs(rng):
    """Tokens ``[2, 5, 6]`` and a mask ``[2, 5]``: the second text has 2 real tokens."""
    return {"tokens": _normal(rng, 2, 5, 6), "mask": np.arange(5) < np.array([[5], [2]])}


def _branch_inputs(rng):
    """Word and char vectors of each token: ``[2, 3, 4]`` and ``[2, 3, 5]``."""
    return {"inputs": [_normal(rng, 2, 3, 4), _normal(rng, 2, 3, 5)]}


def _routing_inputs(rng):
    """Word vectors ``[2, 3, 4]``, word ids ``[2, 3]`` (ids above 5 are OOV buckets) and
    char vectors ``[2, 3, 5]``."""
    return {"inputs": [_normal(rng, 2, 3, 4), np.array([[1, 7, 0], [6, 2, 3]]), _normal(rng, 2, 3, 5)]}


# Every public layer of trainer.layers with constructor arguments other than the defaults,
# and inputs to call it on.
LAYER_CASES = [
    (layers.Highway, dict(num_layers=2, gate_bias=-1.5), lambda rng: {"inputs": _normal(rng, 3, 6)}),
    (layers.CharCNNEncoder, dict(filters=((1, 3), (3, 4)), highway_layers=2, output_dim=6), _char_inputs),
    (layers.CharBiLSTMEncoder, dict(units=3, highway_layers=1, output_dim=5), _char_inputs),
    (layers.TokenMerge, dict(mode="sum", token_dim=6), _branch_inputs),
    (layers.TokenMerge, dict(mode="concat_project", token_dim=7), _branch_inputs),
    (layers.OOVRouting, dict(mode="gate", vocab_size=5), _routing_inputs),
    (layers.OOVRouting, dict(mode="zero", vocab_size=5), _routing_inputs),
    (layers.SentenceEncoder, dict(kind="cnn", units=4), _token_inputs),
    (layers.SentenceEncoder, dict(kind="bilstm", units=3), _token_inputs),
    (layers.GradientGate, {}, lambda rng: {"inputs": _normal(rng, 2, 3)}),
]


def test_every_public_layer_has_a_get_config_case():
    public = {cls for cls in vars(layers).values() if isinstance(cls, type) and issubclass(cls, keras.layers.Layer)
              and cls.__module__ == layers.__name__ and not cls.__name__.startswith("_")}
    assert public == {cls for cls, _, _ in LAYER_CASES}


@pytest.mark.parametrize("cls,kwargs,make_inputs", LAYER_CASES,
                         ids=["-".join([cls.__name__, *map(str, kw.values())]) for cls, kw, _ in LAYER_CASES])
def test_layer_rebuilt_from_get_config_has_the_constructor_arguments_and_gives_the_same_outputs(
        cls, kwargs, make_inputs):
    inputs = make_inputs(np.random.default_rng(0))
    layer = cls(**kwargs, name="original")
    expected = layer(**inputs).numpy()
    config = layer.get_config()
    assert {name: config.get(name) for name in kwargs} == kwargs
    clone = cls.from_config(config)
    clone(**inputs)  # creates the clone's weights
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(clone(**inputs).numpy(), expected)


def test_single_device_trains_without_mirroring_and_autograph_skips_tf_keras():
    """In a fresh process (one CPU device): the default strategy; AutoGraph converts the
    project's layers but leaves tf_keras' internals alone, as TensorFlow does for keras."""
    script = (
        "import trainer, tf_keras as keras\n"
        "from tensorflow.python.autograph.impl import conversion\n"
        "from trainer import layers\n"
        "from trainer.distribution import make_strategy\n"
        "strategy = make_strategy()\n"
        "print(type(strategy).__name__, strategy.num_replicas_in_sync)\n"
        "print(conversion.is_allowlisted(keras.Model.train_step), conversion.is_allowlisted(layers.Highway.call))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    strategy_line, allowlist_line = done.stdout.strip().splitlines()[-2:]
    assert strategy_line == "_DefaultDistributionStrategy 1"
    assert allowlist_line == "True False"
