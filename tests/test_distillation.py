"""The distilled student's loss (trainer/distillation.py): Hinton et al.'s tempered KL,
the soft targets reaching the student's training, the label loss weighted by
``1 - soft_weight``, and evaluation on the labels alone."""
import numpy as np
import pytest
import tensorflow as tf

from charword import contract
from charword.config import CharwordConfig
from trainer import distillation
from trainer.model import build_models
from trainer.training import compile_classifier

VOCAB = 20


def _cfg(dropout=0.2, **distill):
    return CharwordConfig().replace(
        model=dict(variant="word_only", word_dim=8, token_dim=8, sentence_encoder="cnn", sentence_units=4,
                   dropout=dropout),
        training=dict(learning_rate=0.01), distillation=distill)


def _batch(seed=0, rows=32, tokens=5, chars=8):
    """Model inputs whose label is the parity of the first word id (the char ids are there
    as in every batch; the word-only student does not read them)."""
    rng = np.random.default_rng(seed)
    features = {contract.WORD_IDS: rng.integers(1, VOCAB, size=(rows, tokens)),
                contract.CHAR_IDS: rng.integers(1, 257, size=(rows, tokens, chars))}
    return features, (features[contract.WORD_IDS][:, 0] % 2).astype(np.int64)


def _student(cfg, seed=0):
    tf.keras.utils.set_random_seed(seed)
    models = build_models(cfg.model, cfg.preprocessing, VOCAB, 2)
    return models, compile_classifier(distillation.training_model(models, cfg), cfg.training)


def _softened(p, t):
    z = np.log(p) / t
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_soft_target_loss_is_the_tempered_kl_times_the_squared_temperature(temperature):
    rng = np.random.default_rng(1)
    teacher, student = (rng.dirichlet(np.ones(3), size=4).astype(np.float32) for _ in range(2))
    q, p = _softened(teacher, temperature), _softened(student, temperature)
    expected = temperature ** 2 * np.mean(np.sum(q * np.log(q / p), axis=-1))
    loss = distillation.soft_target_loss(tf.constant(teacher), tf.constant(student), temperature)
    assert float(loss) == pytest.approx(expected, rel=1e-4)
    assert float(distillation.soft_target_loss(tf.constant(teacher), tf.constant(teacher), temperature)) == \
        pytest.approx(0.0, abs=1e-6)


def test_the_student_learns_what_the_teacher_says_not_only_the_labels():
    """A teacher that contradicts every label: with the soft targets alone the student
    learns the teacher's answers, with the labels alone the labels'."""
    features, labels = _batch()
    teacher = np.where(np.eye(2, dtype=bool)[1 - labels], 0.95, 0.05).astype(np.float32)
    batches = tf.data.Dataset.from_tensors(({**features, contract.TEACHER_PROBABILITIES: teacher}, labels)).repeat()
    agreement = {}
    for soft_weight in (1.0, 0.0):
        models, student = _student(_cfg(soft_weight=soft_weight))
        history = student.fit(batches, steps_per_epoch=40, epochs=1, verbose=0).history
        assert distillation.SOFT_LOSS in history
        predicted = models.classifier.predict(features, verbose=0).argmax(axis=1)
        agreement[soft_weight] = np.mean(predicted == labels)
    assert agreement[1.0] < 0.1 and agreement[0.0] > 0.9, agreement


def test_the_training_loss_mixes_labels_and_soft_targets_by_the_soft_weight():
    features, labels = _batch(seed=2)
    teacher = np.random.default_rng(3).dirichlet(np.ones(2), size=len(labels)).astype(np.float32)
    cfg = _cfg(dropout=0.0, soft_weight=0.25, temperature=3.0)  # no dropout: the step sees what was computed
    models, student = _student(cfg)
    probabilities = models.classifier(features, training=False)
    cross_entropy = float(tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, probabilities)))
    soft = float(distillation.soft_target_loss(tf.constant(teacher), probabilities, 3.0))
    logs = student.train_on_batch({**features, contract.TEACHER_PROBABILITIES: teacher}, labels, return_dict=True)
    assert logs["loss"] == pytest.approx(0.75 * cross_entropy + 0.25 * soft, rel=1e-4)
    assert logs[distillation.SOFT_LOSS] == pytest.approx(soft, rel=1e-4)


def test_evaluation_scores_the_labels_alone():
    features, labels = _batch(seed=4)
    models, student = _student(_cfg(soft_weight=0.9))
    scores = student.evaluate(features, labels, batch_size=8, return_dict=True, verbose=0)
    probabilities = models.classifier.predict(features, verbose=0)
    assert set(scores) == {"loss", "accuracy"}
    assert scores["loss"] == pytest.approx(-np.mean(np.log(probabilities[np.arange(len(labels)), labels])), rel=1e-4)
