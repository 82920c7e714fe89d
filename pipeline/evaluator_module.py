"""Evaluator customisation (``Evaluator(module_path=...)``).

The exported model uses tf.Text's ``NormalizeUTF8`` op (NFKC in the transform graph),
which exists in a process only after ``tensorflow_text`` is imported. TFMA loads
models inside Beam workers, so the loader it is given imports tf.Text first, in
whichever worker process (DirectRunner multi-processing, Dataflow, Flink, ...) runs it.
"""
import functools

import tensorflow_model_analysis as tfma
import tensorflow_text  # noqa: F401  (registers tf.Text ops where this module is imported)


def _construct_with_text_ops(construct_fn):
    import tensorflow_text as _  # noqa: F401  pylint: disable=import-outside-toplevel,reimported
    return construct_fn()


def custom_eval_shared_model(eval_saved_model_path, model_name, eval_config, **kwargs):
    """TFMA's default shared model, with a loader that registers tf.Text ops first."""
    shared = tfma.default_eval_shared_model(eval_saved_model_path=eval_saved_model_path, model_name=model_name,
                                            eval_config=eval_config, **kwargs)
    loader = shared.model_loader
    return shared._replace(model_loader=tfma.types.ModelLoader(
        tags=loader.tags, construct_fn=functools.partial(_construct_with_text_ops, loader.construct_fn)))
