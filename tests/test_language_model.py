"""The bidirectional language model of pretraining (trainer/language_model.py): which
word each state predicts, what each direction may read, and that it learns a language
whose next and previous words are fully determined."""
import dataclasses

import numpy as np
import pytest
import tensorflow as tf
import tf_keras as keras

from charword import contract
from charword.config import ModelConfig, PreprocessingConfig
from trainer import init_from, pretrained
from trainer.language_model import (
    BACKWARD,
    FORWARD,
    BiLanguageModel,
    build_language_model,
    fold_word_vectors,
    next_word_pairs,
)
from trainer.model import INIT_FROM_GATE, build_models

PREP = PreprocessingConfig(max_tokens=8, max_chars=6, num_oov_buckets=2)
MODEL = ModelConfig(word_dim=16, char_dim=8, char_output_dim=16, token_dim=16, char_ngram_buckets=500,
                    word_bigram_buckets=0)
WORDS = 12  # vocabulary words; ids 1..WORDS (0 is padding)


def _char_ids(word_ids: np.ndarray) -> np.ndarray:
    """A fixed spelling per word id: [B, T, C], padding tokens all zeros."""
    chars = np.stack([word_ids + 10, (word_ids * 7) % 50 + 60, np.full_like(word_ids, 200)], axis=-1)
    return np.where(word_ids[..., None] > 0, chars, 0).astype(np.int64)


def _batch(word_ids) -> dict:
    word_ids = np.asarray(word_ids, dtype=np.int64)
    return {contract.WORD_IDS: tf.constant(word_ids), contract.CHAR_IDS: tf.constant(_char_ids(word_ids))}


def _language_model(units=16, num_sampled=4, seed=0) -> BiLanguageModel:
    keras.utils.set_random_seed(seed)
    return build_language_model(dataclasses.replace(MODEL, sentence_units=units), PREP, WORDS, num_sampled)


def test_forward_states_predict_the_next_word_and_backward_states_the_previous_one():
    word_ids = tf.constant([[5, 6, 7, 0], [8, 9, 0, 0]], tf.int64)
    states = tf.reshape(tf.range(8, dtype=tf.float32), [2, 4, 1])  # state value = its slot
    forward_states, forward_targets = next_word_pairs(states, word_ids, FORWARD)
    assert forward_states.numpy()[:, 0].tolist() == [0, 1, 4]
    assert forward_targets.numpy().tolist() == [6, 7, 9]
    backward_states, backward_targets = next_word_pairs(states, word_ids, BACKWARD)
    assert backward_states.numpy()[:, 0].tolist() == [1, 2, 5]
    assert backward_targets.numpy().tolist() == [5, 6, 8]


def test_each_direction_reads_only_its_side_of_the_target():
    model = _language_model()
    base = np.array([[3, 4, 5, 6, 7, 0]])
    changed_first = base.copy()
    changed_first[0, 0] = 9
    changed_last = base.copy()
    changed_last[0, 4] = 9
    states = model(_batch(base))
    first, last = model(_batch(changed_first)), model(_batch(changed_last))
    # forward state t has read tokens 0..t: a change at the last token leaves states 0..3 alone
    np.testing.assert_allclose(last[FORWARD][0, :4], states[FORWARD][0, :4], atol=1e-6)
    assert not np.allclose(first[FORWARD][0, 1], states[FORWARD][0, 1])
    # backward state t has read tokens t..end: a change at the first token leaves states 1..4 alone
    np.testing.assert_allclose(first[BACKWARD][0, 1:5], states[BACKWARD][0, 1:5], atol=1e-6)
    assert not np.allclose(last[BACKWARD][0, 3], states[BACKWARD][0, 3])


def _cycle_texts(count: int, seed: int) -> np.ndarray:
    """Texts of the words 1..WORDS in cyclic order from a random start, random lengths
    (padded): each word's successor and predecessor are determined by the word."""
    rng = np.random.default_rng(seed)
    texts = np.zeros((count, PREP.max_tokens), np.int64)
    for row in range(count):
        start, length = rng.integers(0, WORDS), rng.integers(3, PREP.max_tokens + 1)
        texts[row, :length] = (start + np.arange(length)) % WORDS + 1
    return texts


def test_it_learns_a_language_whose_neighbours_are_determined():
    model = _language_model(units=32, num_sampled=6)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    held_out = tf.data.Dataset.from_tensor_slices(_batch(_cycle_texts(64, 2))).batch(32)
    before = model.evaluate(held_out, verbose=0, return_dict=True)
    train = tf.data.Dataset.from_tensor_slices(_batch(_cycle_texts(512, 1))).shuffle(512, seed=0).batch(32)
    model.fit(train, epochs=6, verbose=0)
    after = model.evaluate(held_out, verbose=0, return_dict=True)
    vocab_rows = model.vocab_rows
    # untrained: about as unsure as a uniform guess over the vocabulary; trained: nearly certain
    assert before["perplexity"] > vocab_rows / 2
    assert after["perplexity"] < 1.5, after
    assert np.isclose(after["perplexity"], np.exp(after["loss"]), rtol=1e-5)


# ---- starting a classifier from a pretrained encoder (trainer/init_from.py) ------------------------------------

VOCABULARY = [f"w{i}" for i in range(1, WORDS + 1)]


def _saved_encoder(directory) -> BiLanguageModel:
    model = _language_model(units=MODEL.sentence_units, seed=3)
    model(_batch(_cycle_texts(4, 0)))  # builds every weight
    init_from.save_encoder(model, str(directory), PREP, MODEL, VOCABULARY)
    return model


def test_a_classifier_starts_from_the_encoders_exact_weights(tmp_path):
    encoder = _saved_encoder(tmp_path)
    keras.utils.set_random_seed(11)
    models = build_models(MODEL, PREP, WORDS, num_classes=2)
    manifest = init_from.read_manifest(str(tmp_path))
    init_from.check_compatible(manifest, str(tmp_path), PREP, MODEL, VOCABULARY)
    bilstm = models.classifier.get_layer("sentence_encoder").encoder
    pairs = [(models.token_encoder, encoder.token_encoder), (bilstm.forward_layer, encoder.forward_lstm),
             (bilstm.backward_layer, encoder.backward_lstm)]
    assert any(not np.array_equal(ours.numpy(), theirs.numpy())
               for mine, source in pairs for ours, theirs in zip(mine.weights, source.weights))
    init_from.restore(models.classifier, models.token_encoder, str(tmp_path))
    for mine, source in pairs:
        assert len(mine.weights) == len(source.weights) > 0
        for ours, theirs in zip(mine.weights, source.weights):
            np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.name)


@pytest.mark.parametrize("vectors_dim", [5, MODEL.word_dim])
def test_a_model_pretrained_from_word_vectors_folds_into_one_a_classifier_starts_from(tmp_path, vectors_dim):
    """Trained with word vectors (a projection when their dimension differs, a gate),
    the folded model computes the same states and restores into a plain classifier."""
    with_vectors = dataclasses.replace(MODEL, word_vectors="vectors.txt", word_vectors_mode="frozen_then_trainable")
    rows = contract.word_vocab_input_dim(WORDS, PREP.num_oov_buckets)
    init = pretrained.InitialRows(np.random.default_rng(0).normal(size=(rows, vectors_dim)).astype(np.float32),
                                  np.ones(rows, bool))
    keras.utils.set_random_seed(5)
    trained = build_language_model(with_vectors, PREP, WORDS, num_sampled=4, word_init=init)
    texts = _batch(_cycle_texts(4, 1))
    states = trained(texts)
    folded = fold_word_vectors(trained, with_vectors, PREP, WORDS)
    names = [layer.name for layer in folded.token_encoder.layers]
    assert pretrained.GATE_LAYER not in names and pretrained.WORD_PROJECTION not in names
    assert folded.token_encoder.get_layer(pretrained.WORD_EMBEDDING).get_weights()[0].shape == (rows, MODEL.word_dim)
    for direction, values in folded(texts).items():
        np.testing.assert_allclose(values, states[direction], atol=1e-5, err_msg=direction)
    np.testing.assert_allclose(folded.full_losses(texts), trained.full_losses(texts), rtol=1e-5)

    init_from.save_encoder(folded, str(tmp_path), PREP, with_vectors, VOCABULARY)
    models = build_models(MODEL, PREP, WORDS, num_classes=2)
    init_from.check_compatible(init_from.read_manifest(str(tmp_path)), str(tmp_path), PREP, MODEL, VOCABULARY)
    init_from.restore(models.classifier, models.token_encoder, str(tmp_path))
    np.testing.assert_allclose(models.token_encoder(texts), trained.token_encoder(texts), atol=1e-5)


def test_an_encoder_of_another_vocabulary_or_preprocessing_is_refused_naming_the_difference(tmp_path):
    _saved_encoder(tmp_path)
    manifest = init_from.read_manifest(str(tmp_path))
    other_words = VOCABULARY[:4] + ["changed"] + VOCABULARY[5:]
    with pytest.raises(init_from.InitFromError, match=r"word vocabulary row 4 is 'changed' in this run but 'w5'"):
        init_from.check_compatible(manifest, str(tmp_path), PREP, MODEL, other_words)
    with pytest.raises(init_from.InitFromError, match="the word vocabulary's size is 11"):
        init_from.check_compatible(manifest, str(tmp_path), PREP, MODEL, VOCABULARY[:-1])
    with pytest.raises(init_from.InitFromError, match="preprocessing.max_chars is 9 in this run but 6"):
        init_from.check_compatible(manifest, str(tmp_path), dataclasses.replace(PREP, max_chars=9), MODEL, VOCABULARY)
    with pytest.raises(init_from.InitFromError, match="model.token_dim is 24 in this run but 16"):
        init_from.check_compatible(manifest, str(tmp_path), PREP, dataclasses.replace(MODEL, token_dim=24),
                                   VOCABULARY)
    with pytest.raises(init_from.InitFromError, match="model.sentence_units"):
        init_from.check_compatible(manifest, str(tmp_path), PREP, dataclasses.replace(MODEL, sentence_units=8),
                                   VOCABULARY)
    with pytest.raises(init_from.InitFromError, match=r"encoder.json cannot be read"):
        init_from.read_manifest(str(tmp_path / "missing"))


def test_the_encoder_directory_holds_its_vocabulary_as_transform_writes_one(tmp_path):
    _saved_encoder(tmp_path)
    assert (tmp_path / init_from.VOCABULARY).read_text(encoding="utf-8").splitlines() == VOCABULARY
    init_from.check_encoder(str(tmp_path), PREP, MODEL)
    (tmp_path / init_from.VOCABULARY).unlink()
    with pytest.raises(init_from.InitFromError, match=r"the vocabulary file .*words is missing"):
        init_from.check_encoder(str(tmp_path), PREP, MODEL)


@pytest.mark.parametrize("mode", ["frozen", "trainable", "frozen_then_trainable"])
def test_the_mode_decides_what_of_the_pretrained_encoder_trains(tmp_path, mode):
    _saved_encoder(tmp_path)
    model_cfg = dataclasses.replace(MODEL, init_from=str(tmp_path), init_from_mode=mode)
    models = build_models(model_cfg, PREP, WORDS, num_classes=2)
    loaded = init_from.start_from(models.classifier, models.token_encoder, model_cfg, PREP, VOCABULARY)
    pretrained_ids = {id(w) for w in models.token_encoder.weights}
    pretrained_ids |= {id(w) for w in models.classifier.get_layer("sentence_encoder").weights}
    trainable_ids = {id(w) for w in models.classifier.trainable_weights}
    assert loaded["tensors"] == len(pretrained_ids) and loaded["mode"] == mode
    assert bool(pretrained_ids & trainable_ids) == (mode != "frozen")
    assert trainable_ids - pretrained_ids  # the head always trains
    has_gate = any(layer.name == INIT_FROM_GATE for layer in models.classifier.layers)
    assert has_gate == (mode == "frozen_then_trainable")
    assert (loaded["unfreeze_step"] is not None) == (mode == "frozen_then_trainable")


@pytest.mark.parametrize("mode", ["frozen", "frozen_then_trainable"])
def test_the_token_layer_alone_starts_from_the_encoder_under_a_fresh_sentence_encoder(tmp_path, mode):
    """init_from_layers token_layer: the token encoder's tensors are the encoder's, the
    sentence encoder (here a CNN of another width) is fresh and trains, and a gate sits
    between the two."""
    encoder = _saved_encoder(tmp_path)
    model_cfg = dataclasses.replace(MODEL, init_from=str(tmp_path), init_from_mode=mode,
                                    init_from_layers="token_layer", sentence_encoder="cnn", sentence_units=8)
    init_from.check_encoder(str(tmp_path), PREP, model_cfg)
    models = build_models(model_cfg, PREP, WORDS, num_classes=2)
    loaded = init_from.start_from(models.classifier, models.token_encoder, model_cfg, PREP, VOCABULARY)
    assert loaded["tensors"] == len(models.token_encoder.weights) and loaded["layers"] == "token_layer"
    for ours, theirs in zip(models.token_encoder.weights, encoder.token_encoder.weights):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=ours.name)
    sentence_weights = {id(w) for w in models.classifier.get_layer("sentence_encoder").weights}
    trainable_ids = {id(w) for w in models.classifier.trainable_weights}
    assert sentence_weights and sentence_weights <= trainable_ids
    assert bool({id(w) for w in models.token_encoder.weights} & trainable_ids) == (mode != "frozen")
    names = [layer.name for layer in models.classifier.layers]
    if mode == "frozen_then_trainable":
        assert names.index(INIT_FROM_GATE) < names.index("sentence_encoder")
    else:
        assert INIT_FROM_GATE not in names
    with pytest.raises(init_from.InitFromError, match="model.sentence_units is 8 in this run but 64"):
        init_from.check_encoder(str(tmp_path), PREP, dataclasses.replace(
            model_cfg, init_from_layers="token_layer_and_bilstm", sentence_encoder="bilstm"))
