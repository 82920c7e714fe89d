"""``run_fn`` for the TFX Trainer: trains the hybrid model under MirroredStrategy (the
default strategy on a single device; MultiWorkerMirroredStrategy across the machines a
``TF_CONFIG`` names, see :mod:`trainer.distribution`) and exports it with the signature
contract of :mod:`trainer.export`."""
import logging
from typing import Optional

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx

from charword.config import CharwordConfig
from embeddings import report as inspection
from trainer import data, distribution, export, noise, pretrained, robust
from trainer.model import build_models
from trainer.training import EpochThroughput, TrainingResult, compile_classifier, epoch_split

logger = logging.getLogger(__name__)

# TFX's Vertex AI Trainer keeps its job settings in the same custom_config, under keys with
# this prefix (see pipeline/vertex_training.py); they are not charword configuration.
TFX_CLOUD_KEY_PREFIX = "ai_platform_"


def config_from_custom_config(custom_config: Optional[dict]) -> CharwordConfig:
    """The configuration in the Trainer's ``custom_config`` (:meth:`CharwordConfig.to_dict`),
    without the entries of TFX's Vertex AI Trainer."""
    return CharwordConfig.from_dict({key: value for key, value in (custom_config or {}).items()
                                     if not key.startswith(TFX_CLOUD_KEY_PREFIX)})


def run_fn(fn_args: tfx.components.FnArgs) -> TrainingResult:
    """Trains and exports the model; ``custom_config`` is :meth:`CharwordConfig.to_dict`.

    Returns the run's :class:`TrainingResult` (the TFX Trainer ignores it)."""
    strategy = distribution.make_strategy()  # first: a multi-worker strategy must precede every TF op
    cfg = config_from_custom_config(fn_args.custom_config)
    training = cfg.training
    tf.keras.utils.set_random_seed(training.seed)
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    word_vocab_size, num_classes = data.vocabulary_sizes(tf_transform_output)

    replicas = strategy.num_replicas_in_sync
    global_batch = training.batch_size * replicas
    logger.info("Training with %d replica(s): global batch %d (%d per replica), %d steps, vocabulary %d words, "
                "%d classes", replicas, global_batch, training.batch_size, fn_args.train_steps, word_vocab_size,
                num_classes)

    train_ds, eval_ds = noise.trainer_datasets(fn_args, cfg, tf_transform_output, global_batch,
                                               keep_clean=robust.needs_clean_features(cfg))
    train_ds, eval_ds = distribution.shard_by_examples(train_ds), distribution.shard_by_examples(eval_ds)
    word_init = pretrained.prepare(cfg, tf_transform_output, fn_args)
    with strategy.scope():
        models = build_models(cfg.model, cfg.preprocessing, word_vocab_size, num_classes, word_init)
        model = compile_classifier(robust.training_model(models, cfg), training)

    epochs, steps_per_epoch = epoch_split(fn_args.train_steps, training)
    throughput = EpochThroughput(global_batch)
    history = model.fit(
        train_ds,
        epochs=epochs,
        steps_per_epoch=steps_per_epoch,
        validation_data=eval_ds,
        validation_steps=max(1, fn_args.eval_steps),
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=training.early_stopping_patience,
                                          restore_best_weights=True),
            throughput,
            *pretrained.callbacks(cfg.model, models.classifier),
        ],
        verbose=2)
    with distribution.export_dir(fn_args.serving_model_dir) as export_dir:
        export.export_saved_model(models, tf_transform_output, cfg.preprocessing, export_dir)
        logger.info("Exported SavedModel to %s", export_dir)
    if training.projector_words and distribution.is_chief():
        inspection.write_report(fn_args.serving_model_dir, fn_args.model_run_dir,
                                projector_words=training.projector_words)
        logger.info("Wrote projector files and map.png of the token vectors to %s", fn_args.model_run_dir)
    return TrainingResult(
        examples_per_s=tuple(throughput.rates),
        history={name: [float(value) for value in values] for name, values in history.history.items()},
        serving_model_dir=fn_args.serving_model_dir, replicas=replicas, global_batch=global_batch,
        steps_per_epoch=steps_per_epoch)
