"""``run_fn`` for the TFX Trainer: trains the hybrid model under MirroredStrategy (the
default strategy on a single device) and exports it with the signature contract of
:mod:`trainer.export`."""
import logging
import time

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx

from charword import contract
from charword.config import CharwordConfig
from trainer import data, distribution, export
from trainer.model import build_models

logger = logging.getLogger(__name__)

class _ThroughputLogger(keras.callbacks.Callback):
    """Logs training examples per second at the end of each epoch (validation included)."""

    def __init__(self, global_batch_size: int):
        super().__init__()
        self.global_batch_size = global_batch_size

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        rate = self.params["steps"] * self.global_batch_size / (time.perf_counter() - self._start)
        logger.info("epoch %d: %.1f training examples/s, %s", epoch + 1, rate,
                    ", ".join(f"{k}={v:.4f}" for k, v in (logs or {}).items()))


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """Trains and exports the model; ``custom_config`` is :meth:`CharwordConfig.to_dict`."""
    cfg = CharwordConfig.from_dict(fn_args.custom_config or {})
    training = cfg.training
    tf.keras.utils.set_random_seed(training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    word_vocab_size = tf_transform_output.vocabulary_size_by_name(contract.WORD_VOCAB)
    num_classes = tf_transform_output.vocabulary_size_by_name(contract.LABEL_VOCAB)

    strategy = distribution.make_strategy()
    replicas = strategy.num_replicas_in_sync
    global_batch = training.batch_size * replicas
    logger.info("Training with %d replica(s): global batch %d (%d per replica), %d steps, vocabulary %d words, "
                "%d classes", replicas, global_batch, training.batch_size, fn_args.train_steps, word_vocab_size,
                num_classes)

    train_ds = data.make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, global_batch,
                                 training.seed)
    eval_ds = data.make_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, global_batch,
                                training.seed)
    with strategy.scope():
        models = build_models(cfg.model, cfg.preprocessing, word_vocab_size, num_classes)
        models.classifier.compile(
            optimizer=keras.optimizers.Adam(training.learning_rate),
            loss=keras.losses.SparseCategoricalCrossentropy(),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])

    epochs = min(training.epochs, fn_args.train_steps)
    throughput = _ThroughputLogger(global_batch)
    models.classifier.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=max(1, fn_args.train_steps // epochs),
        validation_data=eval_ds,
        validation_steps=max(1, fn_args.eval_steps),
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=training.early_stopping_patience,
                                          restore_best_weights=True),
            throughput,
        ],
        verbose=2)
    export.export_saved_model(models, tf_transform_output, cfg.preprocessing, fn_args.serving_model_dir)
    logger.info("Exported SavedModel to %s", fn_args.serving_model_dir)
