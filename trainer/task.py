"""``run_fn`` for the TFX Trainer: trains the hybrid model under MirroredStrategy (the
default strategy on a single device; MultiWorkerMirroredStrategy across the machines a
``TF_CONFIG`` names, see :mod:`trainer.distribution`) and exports it with the signature
contract of :mod:`trainer.export`."""
import json
import logging
import os
import time
from typing import Optional

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx

from charword import contract
from charword.config import CharwordConfig
from embeddings import report as inspection
from trainer import (
    class_weights,
    data,
    distillation,
    distribution,
    export,
    init_from,
    misspelling_losses,
    noise,
    pretrained,
    soft_targets,
    weight_average,
)
from trainer.model import INIT_FROM_GATE, build_models
from trainer.training import (
    EpochThroughput,
    TrainingResult,
    check_monitor,
    compile_classifier,
    plan_training,
)

logger = logging.getLogger(__name__)

# TFX's Vertex AI Trainer keeps its job settings in the same custom_config, under keys with
# this prefix (see pipeline/vertex_training.py); they are not charword configuration.
TFX_CLOUD_KEY_PREFIX = "ai_platform_"


def config_from_custom_config(custom_config: Optional[dict]) -> CharwordConfig:
    """The configuration in the Trainer's ``custom_config`` (:meth:`CharwordConfig.to_dict`),
    without the entries of TFX's Vertex AI Trainer."""
    return CharwordConfig.from_dict({key: value for key, value in (custom_config or {}).items()
                                     if not key.startswith(TFX_CLOUD_KEY_PREFIX)})


def _start_from_encoder(cfg: CharwordConfig, models, tf_transform_output: tft.TFTransformOutput,
                        model_run_dir: str) -> Optional[dict]:
    """With ``model.init_from``: loads the pretrained encoder into ``models`` and writes
    what was loaded to ``<model_run_dir>/contract.INIT_FROM_REPORT``; returns it."""
    if not cfg.model.init_from:
        return None
    vocabulary = [word.decode("utf-8") for word in tf_transform_output.vocabulary_by_name(contract.WORD_VOCAB)]
    loaded = init_from.start_from(models.classifier, models.token_encoder, cfg.model, cfg.preprocessing, vocabulary)
    logger.info("Started from the pretrained encoder %s: %d tensors, %s", loaded["path"], loaded["tensors"],
                loaded["mode"])
    if distribution.is_chief():
        tf.io.gfile.makedirs(model_run_dir)
        with tf.io.gfile.GFile(os.path.join(model_run_dir, contract.INIT_FROM_REPORT), "w") as handle:
            handle.write(json.dumps(loaded, indent=2))
    return loaded


def run_fn(fn_args: tfx.components.FnArgs) -> TrainingResult:
    """Trains and exports the model; ``custom_config`` is :meth:`CharwordConfig.to_dict`.

    Returns the run's :class:`TrainingResult` (the TFX Trainer ignores it); the chief also
    writes it to ``<model_run_dir>/contract.TRAINING_REPORT`` for the run summary."""
    strategy = distribution.make_strategy()  # first: a multi-worker strategy must precede every TF op
    cfg = config_from_custom_config(fn_args.custom_config)
    training = cfg.training
    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    word_vocab_size, num_classes = data.vocabulary_sizes(tf_transform_output)

    replicas = strategy.num_replicas_in_sync
    global_batch = training.batch_size * replicas
    plan = plan_training(data.count_examples(fn_args.train_files), data.count_examples(fn_args.eval_files),
                         global_batch, training, fn_args.train_steps, fn_args.eval_steps)
    logger.info("Training with %d replica(s): global batch %d (%d per replica); %d train and %d eval examples; "
                "up to %d checks of %d steps, each check reading %d eval batches; vocabulary %d words, %d classes",
                replicas, global_batch, training.batch_size, plan.train_examples, plan.eval_examples, plan.epochs,
                plan.steps_per_epoch, plan.eval_steps, word_vocab_size, num_classes)

    # The distilled student reads BulkInferrer's raw examples with the teacher's probabilities.
    distilled = cfg.pipeline.preset == "distilled"
    datasets = soft_targets.trainer_datasets if distilled else noise.trainer_datasets
    train_ds, eval_ds = datasets(fn_args, cfg, tf_transform_output, global_batch, plan.eval_steps,
                                 keep_clean=misspelling_losses.needs_clean_features(cfg))
    train_ds, eval_ds = distribution.shard_by_examples(train_ds), distribution.shard_by_examples(eval_ds)
    word_init = pretrained.prepare(cfg, tf_transform_output, fn_args)
    weights = class_weights.weights_for(tf_transform_output, training.class_weights)
    if weights:
        logger.info("Class weights of the label loss: %s", ", ".join(f"{k} {v:.3f}" for k, v in weights.items()))
    with strategy.scope():
        models = build_models(cfg.model, cfg.preprocessing, word_vocab_size, num_classes, word_init)
        loaded = _start_from_encoder(cfg, models, tf_transform_output, fn_args.model_run_dir)
        trained = (distillation if distilled else misspelling_losses).training_model(models, cfg)
        model = compile_classifier(trained, training, plan.max_steps, weights and list(weights.values()))

    throughput = EpochThroughput(global_batch)
    monitor, mode = check_monitor(training)
    stopping = keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=training.early_stopping_patience,
                                             restore_best_weights=True)
    started = time.perf_counter()
    history = model.fit(
        train_ds,
        epochs=plan.epochs,
        steps_per_epoch=plan.steps_per_epoch,
        validation_data=eval_ds,
        validation_steps=plan.eval_steps,
        callbacks=[
            keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"),
            stopping,
            throughput,
            *weight_average.callbacks(training, plan.steps_per_epoch),
            *pretrained.callbacks(cfg.model, models.classifier),
            *([pretrained.UnfreezeAt(cfg.model.init_from_unfreeze_step, models.classifier.get_layer(INIT_FROM_GATE),
                                     "the pretrained encoder's weights")]
              if loaded and cfg.model.init_from_mode == "frozen_then_trainable" else []),
        ],
        verbose=0)  # progress (EpochThroughput, on stderr): a line per epoch, and at most one a minute within it
    wall_s = time.perf_counter() - started
    result = TrainingResult.from_fit(history, plan, stopping, throughput, fn_args.serving_model_dir, replicas,
                                     budget_is_steps=bool(fn_args.train_steps or training.train_steps),
                                     metric=training.check_metric, wall_s=wall_s, class_weights=weights)
    logger.info("Trained %d steps (%.2f passes over %d examples) in %.0f s: %s", result.steps, result.passes,
                plan.train_examples, wall_s, result.stop_reason)
    with distribution.export_dir(fn_args.serving_model_dir) as export_dir:
        export.export_saved_model(models, tf_transform_output, cfg.preprocessing, export_dir)
        logger.info("Exported SavedModel to %s", export_dir)
    if distribution.is_chief():
        result.write(fn_args.model_run_dir)
        if training.projector_words:
            inspection.write_report(fn_args.serving_model_dir, fn_args.model_run_dir,
                                    projector_words=training.projector_words)
            logger.info("Wrote projector files and map.png of the token vectors to %s", fn_args.model_run_dir)
    return result
