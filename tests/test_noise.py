"""Training-time misspelling noise: both views stay aligned with the transform graph, the
rate and the lexicon/synthetic mix follow the config, draws repeat with the seed, and
evaluation batches stay clean."""
import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from charword import contract, misspellings
from charword.config import CharwordConfig
from preprocessing.text_ops import decode_char_ids
from standalone.fn_args import make_fn_args
from standalone.transform import rows_from_pairs, transform_rows
from tests.conftest import learnable_pairs
from trainer import noise

# Hand-made lexicon: real-looking pairs, one that tokenises into two tokens, one that
# only differs in case (the same token once lower-cased) and one whose correction is
# not a vocabulary word.
LEXICON = [("exellent", "excellent"), ("excelent", "Excellent"), ("terible", "terrible"), ("ter rible", "terrible"),
           ("TERRIBLE", "terrible"), ("awfull", "awful"), ("teh", "the"), ("moive", "movie"), ("zebbra", "zebra")]
SYNTHETIC = 4
SEED = 1


@pytest.fixture(scope="module")
def transformed(tmp_path_factory):
    cfg = CharwordConfig().replace(preprocessing=dict(max_tokens=10, max_chars=16, frequency_threshold=2),
                                   noise=dict(rate=0.5, synthetic_per_word=SYNTHETIC),
                                   training=dict(seed=SEED, batch_size=8))
    work = tmp_path_factory.mktemp("noise")
    data = transform_rows(rows_from_pairs(learnable_pairs(120, 1, typo_rate=0.0)),
                          rows_from_pairs(learnable_pairs(24, 2, typo_rate=0.0)), cfg, str(work))
    output = tft.TFTransformOutput(data.transform_graph_dir)
    table = noise.build_table(output, cfg.noise, cfg.preprocessing, SEED, lexicon_pairs=LEXICON)
    return cfg, data, output, table, str(work)


def _train_features(output, data, repeat=1):
    spec = output.transformed_feature_spec()
    records = tf.data.TFRecordDataset(tf.io.gfile.glob(data.train_pattern), compression_type="GZIP")
    rows = [tf.io.parse_single_example(r, spec) for r in records]
    return {name: tf.constant(np.tile(np.stack([row[name].numpy() for row in rows]),
                                      (repeat,) + (1,) * rows[0][name].shape.rank))
            for name in contract.MODEL_INPUTS}


def _vocab(output):
    return [w.decode() for w in output.vocabulary_by_name(contract.WORD_VOCAB)]


def test_noised_tokens_are_what_the_transform_graph_gives_for_the_misspelling(transformed):
    cfg, data, output, table, _ = transformed
    features = _train_features(output, data)
    out = {k: v.numpy() for k, v in noise.noise_batch(features, table, 0.5, 0.5, tf.constant([3, 4], tf.int64)).items()}
    noised = out[contract.NOISED]
    assert noised.sum() > 50
    vocab, lexicon = _vocab(output), misspellings.by_correction(LEXICON, lowercase=True)
    layer = output.transform_features_layer()
    strings = [decode_char_ids(row).decode() for row in out[contract.CHAR_IDS][noised]]
    served = layer({contract.RAW_TEXT: tf.constant(strings)})
    np.testing.assert_array_equal(served[contract.TOKEN_COUNT].numpy(), 1)
    np.testing.assert_array_equal(served[contract.WORD_IDS].numpy()[:, 0], out[contract.WORD_IDS][noised])
    np.testing.assert_array_equal(served[contract.CHAR_IDS].numpy()[:, 0], out[contract.CHAR_IDS][noised])
    for string, clean_id in zip(strings, out[contract.CLEAN_WORD_IDS][noised]):
        word = vocab[clean_id - 1]
        assert string != word
        assert string in lexicon.get(word, ()) + tuple(misspellings.synthetic_typos(word, SYNTHETIC, SEED))
    # Everything else, padding included, is untouched; the clean views are the input.
    np.testing.assert_array_equal(out[contract.WORD_IDS][~noised], features[contract.WORD_IDS].numpy()[~noised])
    np.testing.assert_array_equal(out[contract.CHAR_IDS][~noised], features[contract.CHAR_IDS].numpy()[~noised])
    np.testing.assert_array_equal(out[contract.CLEAN_WORD_IDS], features[contract.WORD_IDS].numpy())
    np.testing.assert_array_equal(out[contract.CLEAN_CHAR_IDS], features[contract.CHAR_IDS].numpy())
    assert not noised[features[contract.WORD_IDS].numpy() == contract.WORD_PAD_ID].any()


def test_misspellings_of_several_tokens_or_equal_to_the_word_are_left_out(transformed):
    _, _, output, table, _ = transformed
    vocab = _vocab(output)
    lexicon_strings = {s.decode() for s, n in zip(table.strings, range(len(table.strings)))}
    assert {"exellent", "excelent", "terible", "awfull", "teh", "moive"} <= lexicon_strings
    assert not {"ter rible", "terrible", "zebbra"} & lexicon_strings  # two tokens; same token; not in vocab
    terrible = vocab.index("terrible") + 1
    assert table.lexicon_count[terrible] == 1
    assert table.lexicon_count[vocab.index("excellent") + 1] == 2
    assert table.lexicon_count[0] == table.synthetic_count[0] == 0  # padding never noised


def test_noise_rate_and_lexicon_share_follow_the_config(transformed):
    _, data, output, table, _ = transformed
    features = _train_features(output, data, repeat=12)
    rate, share = 0.3, 0.7
    noised_batch = noise.noise_batch(features, table, rate, share, tf.constant([5, 6], tf.int64))
    out = {k: v.numpy() for k, v in noised_batch.items()}
    clean = out[contract.CLEAN_WORD_IDS]
    in_vocab = (clean >= 1) & (clean <= table.vocab_size)
    index = np.where(in_vocab, clean, 0)
    eligible = in_vocab & (table.lexicon_count[index] + table.synthetic_count[index] > 0)
    noised = out[contract.NOISED]
    assert not (noised & ~eligible).any()
    n = eligible.sum()
    assert abs(noised.sum() / n - rate) < 4 * math.sqrt(rate * (1 - rate) / n)

    both = noised & (table.lexicon_count[index] > 0) & (table.synthetic_count[index] > 0)
    lexicon = {m for pair in LEXICON for m in pair}
    from_lexicon = [decode_char_ids(row).decode() in lexicon for row in out[contract.CHAR_IDS][both]]
    m = len(from_lexicon)
    assert m > 100
    assert abs(sum(from_lexicon) / m - share) < 4 * math.sqrt(share * (1 - share) / m)


def _noised_epochs(features, table, seed):
    dataset = tf.data.Dataset.from_tensor_slices((features, tf.zeros([features[contract.WORD_IDS].shape[0]])))
    batches = list(noise.add_noise(dataset.batch(64).repeat(2), table, 0.5, 0.5, seed).as_numpy_iterator())
    return [b[0][contract.WORD_IDS] for b in batches]


def test_the_same_seed_gives_the_same_noise_and_every_epoch_differs(transformed):
    _, data, output, table, _ = transformed
    features = _train_features(output, data)
    first, again, other = (_noised_epochs(features, table, seed) for seed in (7, 7, 8))
    half = len(first) // 2
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert any((a != b).any() for a, b in zip(first, other))
    assert any((a != b).any() for a, b in zip(first[:half], first[half:]))  # epoch 2 differs from epoch 1


def test_noise_reaches_training_batches_only(transformed):
    cfg, data, output, _, work = transformed
    cfg = cfg.replace(noise=dict(rate=1.0, lexicon=None))
    fn_args = make_fn_args(data, cfg, work)
    train, evaluation = noise.trainer_datasets(fn_args, cfg, output, batch_size=8, eval_batches=3, keep_clean=True)
    _, plain = noise.trainer_datasets(fn_args, cfg.replace(noise=dict(rate=0.0)), output, batch_size=8,
                                      eval_batches=3, keep_clean=True)
    for (features, labels), (clean, clean_labels) in zip(evaluation.take(3), plain.take(3)):
        assert set(features) == set(contract.MODEL_INPUTS)
        for name in contract.MODEL_INPUTS:
            np.testing.assert_array_equal(features[name].numpy(), clean[name].numpy())
        np.testing.assert_array_equal(labels.numpy(), clean_labels.numpy())
    features, _ = next(iter(train))
    assert features[contract.NOISED].numpy().any()
    assert (features[contract.WORD_IDS].numpy() != features[contract.CLEAN_WORD_IDS].numpy()).any()
    stripped, _ = next(iter(noise.trainer_datasets(fn_args, cfg, output, batch_size=8, eval_batches=3,
                                                          keep_clean=False)[0]))
    assert set(stripped) == set(contract.MODEL_INPUTS)
