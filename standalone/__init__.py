"""Runs the pipeline's Transform and Trainer code outside TFX, for tests and benchmarks.

  transform.py  ``preprocessing_fn`` on in-memory rows with tf.Transform on Beam
  fn_args.py    the ``FnArgs`` the TFX Trainer would pass ``run_fn``, for such a run

Production runs go through the pipeline's components instead (:mod:`pipeline`).
"""
