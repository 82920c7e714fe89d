"""``run_fn`` of the pretraining pipeline's Trainer: trains the bidirectional language
model (:mod:`trainer.language_model`) on transformed unlabelled texts under the same
distribution strategy as the classifier, keeps the weights of the check with the lowest
held-out cross-entropy, and writes the encoder directory a classifier starts from
(:mod:`trainer.init_from`) together with an ``embed_tokens`` SavedModel, both in the
serving model directory that Pusher versions.

The run directory gets ``contract.TRAINING_REPORT`` (as the classifier's) and
``contract.LANGUAGE_MODEL_REPORT``: held-out perplexity before and after training,
training tokens per second, vocabulary and sampled classes. With ``model.word_vectors`` the
language model's word rows start from the file (its coverage goes to
``contract.WORD_VECTORS_REPORT``, as in classification), and the encoder is written folded
(:func:`trainer.language_model.fold_word_vectors`), so a classifier starts from it without the file.
"""
import dataclasses
import json
import logging
import math
import os
import time

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx

from charword import contract
from trainer import data, distribution, export, init_from, pretrained
from trainer.language_model import build_language_model, fold_word_vectors
from trainer.optimizers import LazyAdam
from trainer.task import config_from_custom_config
from trainer.training import EpochThroughput, TrainingResult, plan_training

logger = logging.getLogger(__name__)


def _mean_tokens(check_ds: tf.data.Dataset, batches: int) -> float:
    """Real tokens per text over the check batches (the held-out texts)."""
    tokens = texts = 0
    for features in check_ds.take(batches):
        word_ids = features[contract.WORD_IDS]
        tokens += int(tf.reduce_sum(tf.cast(word_ids != contract.WORD_PAD_ID, tf.int64)))
        texts += int(tf.shape(word_ids)[0])
    return tokens / max(texts, 1)


def run_fn(fn_args: tfx.components.FnArgs) -> TrainingResult:
    """Pretrains and exports the encoder; ``custom_config`` is :meth:`CharwordConfig.to_dict`."""
    strategy = distribution.make_strategy()  # first: a multi-worker strategy must precede every TF op
    cfg = config_from_custom_config(fn_args.custom_config)
    training = dataclasses.replace(cfg.training, max_epochs=cfg.pretraining.max_epochs)
    keras.utils.set_random_seed(training.seed)
    if training.deterministic:
        tf.config.experimental.enable_op_determinism()
    tf_transform_output = tft.TFTransformOutput(fn_args.transform_output)
    vocabulary = [word.decode("utf-8") for word in tf_transform_output.vocabulary_by_name(contract.WORD_VOCAB)]

    global_batch = training.batch_size * strategy.num_replicas_in_sync
    plan = plan_training(data.count_examples(fn_args.train_files), data.count_examples(fn_args.eval_files),
                         global_batch, training, fn_args.train_steps, fn_args.eval_steps)
    train_ds = data.make_text_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, global_batch,
                                      seed=training.seed)
    eval_ds = data.make_text_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, global_batch,
                                     batches=plan.eval_steps)
    tokens_per_text = _mean_tokens(eval_ds, plan.eval_steps)
    train_ds, eval_ds = distribution.shard_by_examples(train_ds), distribution.shard_by_examples(eval_ds)
    word_init = pretrained.prepare(cfg, tf_transform_output, fn_args)
    with strategy.scope():
        language_model = build_language_model(cfg.model, cfg.preprocessing, len(vocabulary),
                                              cfg.pretraining.num_sampled, word_init)
        language_model.compile(optimizer=LazyAdam(training.learning_rate))
    logger.info("Pretraining a language model over %d words (%d sampled per step) on %d texts (%d held out, "
                "%.1f tokens each): up to %d passes of %d steps", len(vocabulary), language_model.num_sampled,
                plan.train_examples, plan.eval_examples, tokens_per_text, plan.epochs, plan.steps_per_epoch)
    untrained = language_model.evaluate(eval_ds, steps=plan.eval_steps, verbose=0, return_dict=True)

    throughput = EpochThroughput(global_batch)
    stopping = keras.callbacks.EarlyStopping(monitor="val_loss", mode="min",
                                             patience=training.early_stopping_patience, restore_best_weights=True)
    started = time.perf_counter()
    history = language_model.fit(
        train_ds, epochs=plan.epochs, steps_per_epoch=plan.steps_per_epoch, validation_data=eval_ds,
        validation_steps=plan.eval_steps,
        callbacks=[keras.callbacks.TensorBoard(log_dir=fn_args.model_run_dir, update_freq="epoch"), stopping,
                   throughput, *pretrained.callbacks(cfg.model, language_model.token_encoder)],
        verbose=0)
    wall_s = time.perf_counter() - started
    best_loss = min(history.history["val_loss"])
    result = TrainingResult.from_fit(history, plan, stopping, throughput, fn_args.serving_model_dir,
                                     strategy.num_replicas_in_sync,
                                     budget_is_steps=bool(fn_args.train_steps or training.train_steps),
                                     metric="loss", wall_s=wall_s)
    report = {"perplexity": math.exp(best_loss), "untrained_perplexity": math.exp(untrained["loss"]),
              "cross_entropy": best_loss, "vocabulary_words": len(vocabulary),
              "num_sampled": language_model.num_sampled, "tokens_per_text": tokens_per_text,
              "tokens_per_s": [rate * tokens_per_text for rate in throughput.rates],
              "held_out_texts": result.eval_examples_checked}
    logger.info("Pretrained %d steps (%.2f passes) in %.0f s: held-out perplexity %.1f (untrained %.1f); %s",
                result.steps, result.passes, wall_s, report["perplexity"], report["untrained_perplexity"],
                result.stop_reason)
    if word_init is not None:  # the encoder a classifier starts from has no trace of the vectors file
        with strategy.scope():
            language_model = fold_word_vectors(language_model, cfg.model, cfg.preprocessing, len(vocabulary))
    with distribution.export_dir(fn_args.serving_model_dir) as export_dir:
        export.export_encoder(language_model, tf_transform_output, cfg.preprocessing, export_dir)
        init_from.save_encoder(language_model, export_dir, cfg.preprocessing, cfg.model, vocabulary)
        logger.info("Exported the encoder to %s", export_dir)
    if distribution.is_chief():
        result.write(fn_args.model_run_dir)
        with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, contract.LANGUAGE_MODEL_REPORT), "w") as handle:
            handle.write(json.dumps(report, indent=2))
    return result
