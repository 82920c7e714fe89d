"""charword: hybrid character+word text models trained and shipped by a TFX pipeline.

This is the one place that chooses the Keras flavour: tf.Transform's
``TransformFeaturesLayer`` is a tf_keras (Keras 2) model, so the whole project uses
tf_keras. The variable must be set before TensorFlow is imported, which is why every
entry point (CLI, tests, pipeline modules) imports this package first.

:func:`load_model` loads an exported (or pushed) charword model.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")


def load_model(path: str):
    """Loads a charword SavedModel directory with ``tf.saved_model.load``.

    The model's preprocessing uses tf.Text ops (NFKC normalisation); importing
    ``tensorflow_text`` registers them, which plain TensorFlow needs before loading.
    The result has ``.signatures`` named in :mod:`charword.contract`.
    """
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tensorflow_text  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    return tf.saved_model.load(path)
