"""The distilled student's datasets (trainer/soft_targets.py): raw examples with the
teacher's probabilities, as BulkInferrer writes them, through the run's transform graph;
misspelled copies keep the clean text's probabilities; eval batches carry labels alone."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from charword import contract
from charword.config import CharwordConfig
from standalone.fn_args import make_fn_args
from standalone.transform import rows_from_pairs, transform_rows
from tests.conftest import learnable_pairs
from trainer import soft_targets

CFG = CharwordConfig().replace(preprocessing=dict(max_tokens=10, max_chars=16),
                               pipeline=dict(preset="distilled"), teacher=dict(checkpoint="unused"))


def _example(text: str, label: str, probabilities) -> bytes:
    feature = tf.train.Feature
    return tf.train.Example(features=tf.train.Features(feature={
        contract.RAW_TEXT: feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
        contract.RAW_LABEL: feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
        contract.TEACHER_PROBABILITIES: feature(float_list=tf.train.FloatList(value=probabilities)),
    })).SerializeToString()


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """A transform graph, and BulkInferrer-like examples of both splits: distinct texts,
    each with probabilities of its own."""
    work = tmp_path_factory.mktemp("soft_targets")
    train = sorted(set(learnable_pairs(200, 1)))
    splits = {"train": train, "eval": sorted(set(learnable_pairs(60, 2)) - set(train))}
    data = transform_rows(rows_from_pairs(splits["train"]), rows_from_pairs(splits["eval"]), CFG, str(work))
    rng = np.random.default_rng(0)
    teacher = {}
    for split, pairs in splits.items():
        path = work / "inferred" / f"Split-{split}" / "examples.gz"
        path.parent.mkdir(parents=True)
        with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
            for text, label in pairs:
                teacher[text] = rng.dirichlet(np.ones(2)).astype(np.float32)
                writer.write(_example(text, label, teacher[text]))
    fn_args = make_fn_args(data, CFG, str(work / "trainer"))
    fn_args.train_files = [str(work / "inferred" / "Split-train" / "*")]
    fn_args.eval_files = [str(work / "inferred" / "Split-eval" / "*")]
    output = tft.TFTransformOutput(data.transform_graph_dir)
    layer = output.transform_features_layer()
    # What each text transforms to, and the probabilities the teacher gave it, by its ids.
    expected = {}
    for text, label in splits["train"] + splits["eval"]:
        features = layer({contract.RAW_TEXT: tf.constant([text]), contract.RAW_LABEL: tf.constant([label])})
        key = _key(features[contract.WORD_IDS].numpy()[0], features[contract.CHAR_IDS].numpy()[0])
        assert key not in expected
        expected[key] = (teacher[text], features)
    return fn_args, output, expected, len(splits["train"])


def _key(word_ids, char_ids):
    """A text's transformed ids (misspelled words may share an OOV bucket, never their bytes)."""
    return word_ids.tobytes() + char_ids.tobytes()


def test_training_batches_pair_each_transformed_text_with_its_teachers_probabilities(labelled):
    fn_args, output, expected, rows = labelled
    train, _ = soft_targets.trainer_datasets(fn_args, CFG.replace(noise=dict(rate=0.0)), output, batch_size=rows,
                                             eval_batches=1, keep_clean=False)
    features, labels = next(iter(train))
    assert set(features) == {*contract.MODEL_INPUTS, contract.TEACHER_PROBABILITIES}
    seen = set()
    for row, (word_ids, char_ids) in enumerate(zip(features[contract.WORD_IDS].numpy(),
                                                    features[contract.CHAR_IDS].numpy())):
        probabilities, transformed = expected[_key(word_ids, char_ids)]
        np.testing.assert_allclose(features[contract.TEACHER_PROBABILITIES][row].numpy(), probabilities)
        assert labels[row].numpy() == transformed[contract.LABEL_ID].numpy()[0]
        seen.add(_key(word_ids, char_ids))
    assert len(seen) == rows  # one pass: every training example once


def test_a_misspelled_copy_keeps_the_probabilities_of_its_clean_text(labelled):
    fn_args, output, expected, _ = labelled
    train, _ = soft_targets.trainer_datasets(fn_args, CFG.replace(noise=dict(rate=1.0)), output, batch_size=16,
                                             eval_batches=1, keep_clean=True)
    noised = 0
    for features, _ in train.take(8):
        clean = zip(features[contract.CLEAN_WORD_IDS].numpy(), features[contract.CLEAN_CHAR_IDS].numpy())
        for row, (word_ids, char_ids) in enumerate(clean):
            np.testing.assert_allclose(features[contract.TEACHER_PROBABILITIES][row].numpy(),
                                       expected[_key(word_ids, char_ids)][0])
            noised += bool(features[contract.NOISED][row].numpy().any())
    assert noised > 64  # most texts carry a misspelling at rate 1


def test_eval_batches_carry_the_labels_alone_the_same_at_every_check(labelled):
    fn_args, output, expected, _ = labelled
    _, evaluation = soft_targets.trainer_datasets(fn_args, CFG, output, batch_size=16, eval_batches=2,
                                                  keep_clean=False)
    checks = [list(evaluation.take(2).as_numpy_iterator()) for _ in range(2)]
    for features, labels in checks[0]:
        assert set(features) == set(contract.MODEL_INPUTS)
        for word_ids, char_ids, label in zip(features[contract.WORD_IDS], features[contract.CHAR_IDS], labels):
            assert expected[_key(word_ids, char_ids)][1][contract.LABEL_ID].numpy()[0] == label
    for (first, _), (second, _) in zip(*checks):
        np.testing.assert_array_equal(first[contract.WORD_IDS], second[contract.WORD_IDS])
