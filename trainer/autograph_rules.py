"""Keeps AutoGraph from re-converting tf_keras' own code on every process start.

AutoGraph rewrites the Python source of every function a ``tf.function`` calls unless
its module is on TensorFlow's do-not-convert list. That list names ``keras`` (whose code
is written to run unconverted) but not ``tf_keras``, the same code under its Keras 2
package name. Without this rule the first ``fit`` of each process spends seconds
transpiling hundreds of tf_keras internals (about 9 s on a 2-core machine, against
0.5 s with it); the project's own layers are still converted, as Keras converts every
layer's ``call``.
"""
from tensorflow.python.autograph.core import config as autograph_config

TF_KERAS_RULE = autograph_config.DoNotConvert("tf_keras")


def leave_tf_keras_unconverted() -> None:
    """Adds the ``tf_keras`` do-not-convert rule once (first rule wins)."""
    if TF_KERAS_RULE not in autograph_config.CONVERSION_RULES:
        autograph_config.CONVERSION_RULES = (TF_KERAS_RULE,) + tuple(autograph_config.CONVERSION_RULES)
