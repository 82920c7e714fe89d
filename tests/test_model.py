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
from tests.model_helpers import tiny_config
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


@pytest.mark.parametrize("sentence_encoder", ["bilstm", "bilstm_max", "cnn"])
@pytest.mark.parametrize("char_encoder", ["cnn", "bilstm", "ngrams"])
def test_prediction_ignores_word_and_char_padding(char_encoder, sentence_encoder):
    cfg = tiny_config(char_encoder=char_encoder, sentence_encoder=sentence_encoder)
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


def test_distinct_tokens_keep_each_distinct_row_once_cut_to_the_longest_token():
    char_ids = _repeated_char_ids(np.random.default_rng(0))["char_ids"]
    rows, index = layers.DistinctTokens()(char_ids)
    rows, index = rows.numpy(), index.numpy()
    assert rows.shape == (1, 4, 6)  # 3 tokens and the padding row; the longest token fills all 6 chars
    np.testing.assert_array_equal(rows[0][index], char_ids)
    cut, _ = layers.DistinctTokens()(np.pad(char_ids, [(0, 0), (0, 0), (0, 3)]))
    np.testing.assert_array_equal(cut.numpy(), rows)  # trailing char padding is cut
    empty, empty_index = layers.DistinctTokens()(np.zeros((2, 3, 5), np.int64))
    assert empty.shape == (1, 1, 1) and not empty_index.numpy().any()


def _char_batch(rng, batch=4, tokens=7, chars=9):
    """A batch with repeated tokens, token padding and char padding."""
    vocabulary = np.zeros((5, chars), np.int64)
    for row, length in enumerate((1, 3, 5, 7, 2)):
        vocabulary[row, 0], vocabulary[row, length + 1] = contract.BEGIN_OF_WORD_ID, contract.END_OF_WORD_ID
        vocabulary[row, 1:length + 1] = rng.integers(1, 257, length)
    picks = rng.integers(0, 5, (batch, tokens))
    lengths = rng.integers(1, tokens - 1, batch)  # the last two slots are padding in every text
    real = np.arange(tokens)[None, :] < lengths[:, None]
    return {contract.WORD_IDS: np.where(real, picks + 1, 0),
            contract.CHAR_IDS: vocabulary[picks] * real[..., None]}, rng.integers(0, 2, batch)


def _char_encoders():
    return {"cnn": layers.CharCNNEncoder(((1, 4), (3, 4)), 1, 6), "bilstm": layers.CharBiLSTMEncoder(4, 1, 6),
            "ngrams": layers.CharNgramEncoder(2, 4, 50, 6, 1)}


@pytest.mark.parametrize("kind", ["cnn", "bilstm", "ngrams"])
def test_char_encoder_once_per_distinct_token_equals_every_slot_in_outputs_and_gradients(kind):
    """DistinctTokens + GatherTokens (what the model does) give what encoding every
    [token, char] slot gives, and the same gradients."""
    tf.keras.utils.set_random_seed(1)
    encoder = _char_encoders()[kind]
    embedding = keras.layers.Embedding(contract.CHAR_VOCAB_SIZE, 3)
    char_ids = tf.constant(_char_batch(np.random.default_rng(2))[0][contract.CHAR_IDS])

    def encode(ids):
        return encoder(ids) if kind == "ngrams" else encoder(embedding(ids), mask=layers.char_mask(ids))

    results = {}
    for compact in (True, False):
        with tf.GradientTape() as tape:
            if compact:
                rows, index = layers.DistinctTokens()(char_ids)
                vectors = layers.GatherTokens()([encode(rows), index])
            else:
                vectors = encode(char_ids)
            loss = tf.reduce_sum(vectors * tf.range(1.0, 7.0))
        weights = sorted(encoder.trainable_weights + embedding.trainable_weights, key=lambda weight: weight.name)
        results[compact] = vectors.numpy(), [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, weights)]
    np.testing.assert_allclose(results[True][0], results[False][0], atol=1e-5)
    for got, want in zip(results[True][1], results[False][1]):
        np.testing.assert_allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("kind", ["bilstm", "bilstm_max", "cnn"])
def test_sentence_encoder_trimmed_to_the_longest_text_equals_every_slot(kind):
    tf.keras.utils.set_random_seed(1)
    inputs, _ = _char_batch(np.random.default_rng(3))
    tokens = tf.random.normal([*inputs[contract.WORD_IDS].shape, 5])
    mask = layers.token_mask(tf.constant(inputs[contract.WORD_IDS]))
    trimmed = layers.SentenceEncoder(kind, 4, trim_padding=True)
    full = layers.SentenceEncoder(kind, 4, trim_padding=False)
    expected = trimmed(tokens, mask=mask)
    full(tokens, mask=mask)
    full.set_weights(trimmed.get_weights())
    np.testing.assert_allclose(expected.numpy(), full(tokens, mask=mask).numpy(), atol=1e-5)


def _char_row(token: bytes, width: int = 12):
    ids = [contract.BEGIN_OF_WORD_ID, *(byte + 1 for byte in token), contract.END_OF_WORD_ID]
    return ids + [contract.CHAR_PAD_ID] * (width - len(ids))


def test_char_ngrams_are_the_windows_inside_each_token_and_shared_by_a_misspelling():
    encoder = layers.CharNgramEncoder(3, 4, 10_000, 4)
    ids, valid = encoder.ngram_ids(tf.constant([[_char_row(b"great"), _char_row(b"graet"), [0] * 12]], tf.int64))
    ids, valid = ids.numpy()[0], valid.numpy()[0]
    # "<great>" has 7 ids: 5 windows of 3 and 4 of 4; padding has none.
    assert valid.sum(axis=-1).tolist() == [9, 9, 0]
    great, graet = set(ids[0][valid[0]]), set(ids[1][valid[1]])
    assert len(great) == 9 and great & graet  # "<gr", "<gra" are shared
    assert ids.min() >= 0 and ids.max() < 10_000
    vectors = encoder(tf.constant([[_char_row(b"great"), [0] * 12]], tf.int64)).numpy()
    assert np.any(vectors[0, 0]) and not np.any(vectors[0, 1])  # padding tokens get zeros


def test_char_ngram_vector_is_the_mean_of_its_ngram_rows():
    encoder = layers.CharNgramEncoder(3, 3, 50, 2)
    char_ids = tf.constant([[_char_row(b"ok", 6)]], tf.int64)  # "<ok>": windows "<ok", "ok>"
    vectors = encoder(char_ids).numpy()[0, 0]
    ids, valid = encoder.ngram_ids(char_ids)
    rows = encoder.table.get_weights()[0][ids.numpy()[0, 0][valid.numpy()[0, 0]]]
    np.testing.assert_allclose(vectors, rows.mean(axis=0), rtol=1e-6)


def test_word_bigram_bag_averages_the_pairs_of_known_words():
    bag = layers.WordBigramBag(vocab_size=5, buckets=97, dim=3)
    out = bag(tf.constant([[1, 2, 3, 0], [1, 2, 7, 3], [7, 0, 0, 0]], tf.int64)).numpy()
    table = bag.table.get_weights()[0]
    def row(left, right):
        return table[((left * 1_000_003 + right) % 2_147_483_647) % 97]
    np.testing.assert_allclose(out[0], (row(1, 2) + row(2, 3)) / 2, rtol=1e-6)
    np.testing.assert_allclose(out[1], row(1, 2), rtol=1e-6)  # pairs with an OOV bucket (7) have no bigram
    assert not out[2].any()


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
    cfg = tiny_config(variant=variant)
    models = build_models(cfg.model, cfg.preprocessing, word_vocab_size=20, num_classes=4)
    names = {layer.name for layer in models.classifier.layers}
    assert ("word_embedding" in names) == has_word
    assert ("word_bigrams" in names) == has_word  # the bigram bag reads the word vocabulary
    assert ("char_ngrams" in names) == has_char
    inputs = {contract.WORD_IDS: np.ones((2, 7), np.int64), contract.CHAR_IDS: np.ones((2, 7, 9), np.int64)}
    assert models.classifier(inputs).shape == (2, 4)
    assert models.token_encoder(inputs).shape == (2, 7, cfg.model.token_dim)


def test_char_encoder_switch_selects_bilstm():
    cfg = tiny_config(char_encoder="bilstm")
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


def _repeated_char_ids(rng):
    """Char ids ``[2, 4, 6]`` whose rows repeat, with token and char padding."""
    rows = np.zeros((3, 6), np.int64)
    rows[:, 0], rows[:2, 1:4], rows[2, 1:5] = contract.BEGIN_OF_WORD_ID, rng.integers(1, 257, (2, 3)), 9
    rows[:2, 4], rows[2, 5] = contract.END_OF_WORD_ID, contract.END_OF_WORD_ID
    return {"char_ids": rows[[[0, 1, 0, 2], [1, 1, 2, 2]]] * np.array([1, 1, 1, 0])[:, None]}


def _gather_inputs(rng):
    """Vectors of 3 distinct rows ``[1, 3, 4]`` and each slot's row ``[2, 2]``."""
    return {"inputs": [_normal(rng, 1, 3, 4), np.array([[0, 2], [1, 0]], np.int32)]}


# Every public layer of trainer.layers with constructor arguments other than the defaults,
# and inputs to call it on.
LAYER_CASES = [
    (layers.Highway, dict(num_layers=2, gate_bias=-1.5), lambda rng: {"inputs": _normal(rng, 3, 6)}),
    (layers.CharCNNEncoder, dict(filters=((1, 3), (3, 4)), highway_layers=2, output_dim=6), _char_inputs),
    (layers.CharBiLSTMEncoder, dict(units=3, highway_layers=1, output_dim=5), _char_inputs),
    (layers.CharNgramEncoder, dict(min_n=2, max_n=4, buckets=30, output_dim=5, highway_layers=1), _repeated_char_ids),
    (layers.WordBigramBag, dict(vocab_size=4, buckets=20, dim=3),
     lambda rng: {"word_ids": np.array([[1, 2, 5, 3], [4, 1, 0, 0]], np.int64)}),
    (layers.TokenMerge, dict(mode="sum", token_dim=6), _branch_inputs),
    (layers.TokenMerge, dict(mode="concat_project", token_dim=7), _branch_inputs),
    (layers.OOVRouting, dict(mode="gate", vocab_size=5), _routing_inputs),
    (layers.OOVRouting, dict(mode="zero", vocab_size=5), _routing_inputs),
    (layers.SentenceEncoder, dict(kind="cnn", units=4), _token_inputs),
    (layers.SentenceEncoder, dict(kind="bilstm_max", units=3), _token_inputs),
    (layers.SentenceEncoder, dict(kind="bilstm", units=3, trim_padding=True), _token_inputs),
    (layers.GradientGate, {}, lambda rng: {"inputs": _normal(rng, 2, 3)}),
    (layers.DistinctTokens, {}, _repeated_char_ids),
    (layers.GatherTokens, {}, _gather_inputs),
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
    expected = [value.numpy() for value in tf.nest.flatten(layer(**inputs))]
    config = layer.get_config()
    assert {name: config.get(name) for name in kwargs} == kwargs
    clone = cls.from_config(config)
    clone(**inputs)  # creates the clone's weights
    clone.set_weights(layer.get_weights())
    for got, want in zip(tf.nest.flatten(clone(**inputs)), tf.nest.flatten(expected)):
        np.testing.assert_array_equal(got.numpy(), want)


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
