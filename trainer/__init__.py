"""Hybrid char+word model, its TFX Trainer ``run_fn`` and SavedModel export."""
import charword  # noqa: F401  (Keras flavour before TensorFlow)
from trainer.autograph_rules import leave_tf_keras_unconverted

leave_tf_keras_unconverted()
