"""charword: hybrid character+word text models trained and shipped by a TFX pipeline.

This is the one place that chooses the Keras flavour: tf.Transform's
``TransformFeaturesLayer`` is a tf_keras (Keras 2) model, so the whole project uses
tf_keras. The variable must be set before TensorFlow is imported, which is why every
entry point (CLI, tests, pipeline modules) imports this package first.
"""
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
