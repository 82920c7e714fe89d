"""Class-weighted label loss (``training.class_weights``): with ``balanced``, an example of
class ``c`` weighs ``N / (K * n_c)`` in the cross-entropy, so that each of the ``K``
classes weighs as much as the others while the mean weight over the training examples
stays 1 (the loss keeps its scale, and the learning rate its meaning)."""
from typing import Dict, List, Optional, Sequence

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from charword import contract


def label_counts(tf_transform_output: tft.TFTransformOutput) -> Dict[str, int]:
    """Training examples per label, as Transform counted them (its ``label_counts`` file)."""
    try:
        lines = tf_transform_output.vocabulary_by_name(contract.LABEL_COUNTS)
    except ValueError as error:
        raise ValueError(f"training.class_weights: the transform graph {tf_transform_output.transform_savedmodel_dir} "
                         f"has no '{contract.LABEL_COUNTS}' vocabulary (an older Transform's output): "
                         f"run Transform again") from error
    counts = {}
    for line in lines:
        count, label = line.decode("utf-8").split(" ", 1)
        counts[label] = int(float(count))
    return counts


def balanced_weights(counts: Sequence[int]) -> List[float]:
    """``N / (K * n_c)`` for each class count ``n_c`` of ``counts`` ([K], all > 0)."""
    if not counts or min(counts) < 1:
        raise ValueError(f"balanced class weights need at least one training example of every class, got {counts}")
    total = sum(counts)
    return [total / (len(counts) * count) for count in counts]


def weights_for(tf_transform_output: tft.TFTransformOutput, mode: str) -> Optional[Dict[str, float]]:
    """The label loss's weight of each label, in the ``labels`` vocabulary's order (so
    the values are indexed by class id), or ``None`` for ``mode`` ``none``."""
    if mode == "none":
        return None
    counts = label_counts(tf_transform_output)
    classes = [label.decode("utf-8") for label in tf_transform_output.vocabulary_by_name(contract.LABEL_VOCAB)]
    return dict(zip(classes, balanced_weights([counts.get(label, 0) for label in classes])))


class ClassWeightedCrossentropy(keras.losses.Loss):
    """Sparse categorical cross-entropy of probabilities ``[B, K]`` against class ids
    ``[B]`` (or ``[B, 1]``), each example's term times ``class_weights[label]``."""

    def __init__(self, class_weights: Sequence[float], name: str = "class_weighted_crossentropy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.class_weights = [float(weight) for weight in class_weights]

    def call(self, y_true, y_pred):
        labels = tf.reshape(tf.cast(y_true, tf.int64), [-1])
        weights = tf.gather(tf.constant(self.class_weights, y_pred.dtype), labels)
        return weights * keras.losses.sparse_categorical_crossentropy(labels, y_pred)

    def get_config(self):
        return {**super().get_config(), "class_weights": self.class_weights}
