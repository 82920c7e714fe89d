"""Training runs for the benchmark: the project's Trainer ``run_fn`` and plain Keras.

``run_trainer`` calls the real TFX ``run_fn`` (via :func:`harness.fn_args.make_fn_args`)
and takes the per-epoch throughput from the :class:`trainer.training.TrainingResult` it
returns. :func:`plain_keras_fit` builds the same model with
:func:`trainer.model.build_models`, compiles it with
:func:`trainer.training.compile_classifier`, splits the steps with
:func:`trainer.training.epoch_split` and measures epochs with the same
:class:`trainer.training.EpochThroughput` callback, on the same batches (held in
memory, or streamed like ``run_fn`` streams them), so they compare step for step.
"""
import contextlib
import logging
import time
from typing import Iterator, List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from bench.phases import progress
from charword import contract
from charword.config import CharwordConfig
from harness.fn_args import make_fn_args
from harness.transform import TransformedData
from trainer import data as trainer_data
from trainer import task
from trainer import training as trainer_training
from trainer.model import build_models


@contextlib.contextmanager
def echo_epochs(label: Optional[str]) -> Iterator[None]:
    """Echoes the trainer's per-epoch log lines (:class:`trainer.training.EpochThroughput`)
    to the console with ``label``, so long runs show progress; nothing is read from them."""
    if not label:
        yield
        return

    class _Echo(logging.Handler):
        def emit(self, record):
            progress(f"  {label}: {record.getMessage()}")

    logger = logging.getLogger(trainer_training.__name__)
    handler, level = _Echo(logging.INFO), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run_trainer(data: TransformedData, cfg: CharwordConfig, work_dir: str, label: str) -> dict:
    """Runs ``trainer.task.run_fn`` (its budget as ``cfg.training`` sets it); exports a SavedModel."""
    fn_args = make_fn_args(data, cfg, work_dir)
    with echo_epochs(label):
        started = time.perf_counter()
        result = task.run_fn(fn_args)
        wall = time.perf_counter() - started
    return {"model_dir": result.serving_model_dir, "wall_s": wall, "epoch_rates": list(result.examples_per_s),
            "history": dict(result.history), "steps": result.steps, "passes": result.passes,
            "stop_reason": result.stop_reason}


def materialise(fn_args, files: List[str], batch_size: int, batches: int, seed: int) -> tf.data.Dataset:
    """``batches`` batches read the way ``run_fn`` reads them, held in memory, repeated."""
    output = tft.TFTransformOutput(fn_args.transform_output)
    source = trainer_data.make_dataset(files, fn_args.data_accessor, output, batch_size, seed)
    items = list(source.take(batches).as_numpy_iterator())
    inputs = {name: np.stack([x[name] for x, _ in items]) for name in contract.MODEL_INPUTS}
    labels = np.stack([y for _, y in items])
    return tf.data.Dataset.from_tensor_slices((inputs, labels)).repeat()


def plain_keras_fit(data: TransformedData, cfg: CharwordConfig, work_dir: str, label: str,
                    in_memory: bool = True) -> List[float]:
    """Per-epoch examples/s of plain ``model.fit`` (no strategy, no TFX callbacks) with
    ``run_fn``'s epochs, steps, validation steps and throughput callback.

    ``in_memory``: batches materialised beforehand; otherwise streamed from the
    TFRecords through the very dataset ``run_fn`` builds (tfxio parsing included).
    """
    training = cfg.training
    keras.utils.set_random_seed(training.seed)
    epochs, steps = trainer_training.epoch_split(training.train_steps, training)
    fn_args = make_fn_args(data, cfg, work_dir)
    if in_memory:
        train = materialise(fn_args, fn_args.train_files, training.batch_size, steps * epochs, training.seed)
        validation = materialise(fn_args, fn_args.eval_files, training.batch_size, training.eval_steps,
                                 training.seed)
    else:
        output = tft.TFTransformOutput(fn_args.transform_output)
        train, validation = (trainer_data.make_dataset(files, fn_args.data_accessor, output, training.batch_size,
                                                       training.seed)
                             for files in (fn_args.train_files, fn_args.eval_files))
    words, classes = trainer_data.vocabulary_sizes(data.transform_graph_dir)
    model = trainer_training.compile_classifier(
        build_models(cfg.model, cfg.preprocessing, words, classes).classifier, training)
    # The very callback run_fn uses, so every side measures an epoch the same way.
    throughput = trainer_training.EpochThroughput(training.batch_size)
    with echo_epochs(label):
        model.fit(train, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                  validation_steps=training.eval_steps, callbacks=[throughput], verbose=2)
    return throughput.rates
