"""Training runs for the benchmark: the project's Trainer ``run_fn`` and plain Keras.

``run_trainer`` calls the real TFX ``run_fn`` (via :func:`harness.fn_args.make_fn_args`)
and reads the throughput it logs ("epoch N: X training examples/s"). The plain-Keras
helpers build the same model with :func:`trainer.model.build_models`, compile it the
way ``run_fn`` does, and train on the same batches (held in memory, or streamed like
``run_fn`` streams them), so they can be compared step for step.
"""
import contextlib
import logging
import re
import time
from typing import Iterator, List, Optional

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from charword import contract
from charword.config import CharwordConfig
from harness.transform import TransformedData
from trainer import data as trainer_data
from harness.fn_args import make_fn_args
from trainer import task
from trainer.model import build_models

from bench.phases import progress

_RATE = re.compile(r"epoch (\d+): ([0-9.]+) training examples/s")


@contextlib.contextmanager
def logged_epoch_rates(label: Optional[str] = None) -> Iterator[List[float]]:
    """Collects the examples/s that ``trainer.task`` logs per epoch (echoed with ``label``)."""
    rates: List[float] = []

    class _Handler(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            match = _RATE.search(message)
            if match:
                rates.append(float(match.group(2)))
                if label:
                    progress(f"  {label}: {message}")

    logger = logging.getLogger(task.__name__)
    handler, level = _Handler(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield rates
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def run_trainer(data: TransformedData, cfg: CharwordConfig, work_dir: str, label: str) -> dict:
    """Runs ``trainer.task.run_fn`` for ``cfg.training.train_steps`` steps; exports a SavedModel."""
    fn_args = make_fn_args(data, cfg, work_dir)
    with logged_epoch_rates(label) as rates:
        started = time.perf_counter()
        task.run_fn(fn_args)
        wall = time.perf_counter() - started
    return {"model_dir": fn_args.serving_model_dir, "wall_s": wall, "epoch_rates": rates}


def vocab_sizes(data: TransformedData) -> tuple:
    """``(word_vocab_size, num_classes)`` from the transform graph."""
    output = tft.TFTransformOutput(data.transform_graph_dir)
    return (output.vocabulary_size_by_name(contract.WORD_VOCAB),
            output.vocabulary_size_by_name(contract.LABEL_VOCAB))


def materialise(fn_args, files: List[str], batch_size: int, batches: int, seed: int) -> tf.data.Dataset:
    """``batches`` batches read the way ``run_fn`` reads them, held in memory, repeated."""
    output = tft.TFTransformOutput(fn_args.transform_output)
    source = trainer_data.make_dataset(files, fn_args.data_accessor, output, batch_size, seed)
    items = list(source.take(batches).as_numpy_iterator())
    inputs = {name: np.stack([x[name] for x, _ in items]) for name in contract.MODEL_INPUTS}
    labels = np.stack([y for _, y in items])
    return tf.data.Dataset.from_tensor_slices((inputs, labels)).repeat()


def compile_like_run_fn(model: keras.Model, cfg: CharwordConfig) -> keras.Model:
    """The optimizer, loss and metric ``trainer.task.run_fn`` uses."""
    model.compile(optimizer=keras.optimizers.Adam(cfg.training.learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    return model


def plain_keras_fit(data: TransformedData, cfg: CharwordConfig, work_dir: str, label: str,
                    in_memory: bool = True) -> List[float]:
    """Per-epoch examples/s of plain ``model.fit`` (no strategy, no TFX callbacks) with
    ``run_fn``'s epochs, steps, validation steps and throughput callback.

    ``in_memory``: batches materialised beforehand; otherwise streamed from the
    TFRecords through the very dataset ``run_fn`` builds (tfxio parsing included).
    """
    training = cfg.training
    keras.utils.set_random_seed(training.seed)
    epochs = min(training.epochs, training.train_steps)
    steps = max(1, training.train_steps // epochs)
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
    words, classes = vocab_sizes(data)
    model = compile_like_run_fn(build_models(cfg.model, cfg.preprocessing, words, classes).classifier, cfg)
    # The very callback run_fn uses, so every side measures an epoch the same way.
    throughput = task._ThroughputLogger(training.batch_size)  # pylint: disable=protected-access
    with logged_epoch_rates(label) as rates:
        model.fit(train, epochs=epochs, steps_per_epoch=steps, validation_data=validation,
                  validation_steps=training.eval_steps, callbacks=[throughput], verbose=2)
    return rates
