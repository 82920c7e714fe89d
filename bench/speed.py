"""Speed phases: char-encoder throughput, Trainer overhead, Transform throughput.

* :func:`char_encoder_phase` trains the CNN and the BiLSTM char encoder (same
  ``char_output_dim``) on the same in-memory batches, back to back in rounds: once as
  the whole hybrid classifier, once as the char encoder alone (char embedding, encoder,
  max-pool over tokens, softmax).
* :func:`trainer_overhead_phase` rotates the real ``run_fn`` (tfxio reading of the
  gzipped TFRecords, MirroredStrategy, TensorBoard and EarlyStopping callbacks) with a
  plain ``model.fit`` of the same model, same epochs, steps, validation steps and
  throughput callback, on the same batches streamed like ``run_fn`` streams them and
  held in memory.
* :func:`transform_phase` times :func:`harness.transform.transform_rows` on a
  token sample with given Beam arguments; :func:`text_vectorization_phase` times Keras
  ``TextVectorization.adapt`` plus a call over the same texts.
"""
import os
import statistics
import tempfile
import time
from typing import Dict, List, Sequence

import tensorflow as tf
import tf_keras as keras

from bench.phases import progress
from bench.settings import BenchSettings
from bench.training import materialise, plain_keras_fit, run_trainer
from charword import contract
from charword.config import CharwordConfig
from harness.fn_args import make_fn_args
from harness.transform import TransformedData, rows_from_pairs, transform_rows
from trainer import layers
from trainer.data import vocabulary_sizes
from trainer.model import build_char_encoder, build_models, model_inputs
from trainer.training import compile_classifier

ENCODERS = ("cnn", "bilstm")


def encoder_only_model(cfg: CharwordConfig, num_classes: int) -> keras.Model:
    """The model's char encoder (:func:`trainer.model.build_char_encoder`) alone,
    max-pooled over tokens, then softmax."""
    inputs = model_inputs()
    tokens = build_char_encoder(cfg.model, inputs[contract.CHAR_IDS])
    pooled = layers.masked_max(tokens, layers.token_mask(inputs[contract.WORD_IDS]), axis=1)
    probabilities = keras.layers.Dense(num_classes, activation="softmax")(pooled)
    return keras.Model(inputs, probabilities)


def char_encoder_phase(data: TransformedData, cfg: CharwordConfig, settings: BenchSettings, work_dir: str) -> dict:
    """Training examples per second (wall) and per CPU-second of this process, for CNN
    and BiLSTM char encoders, per round (rounds alternate which encoder goes first), and
    their CNN / BiLSTM ratios paired by round (median counts)."""
    words, classes = vocabulary_sizes(data.transform_graph_dir)
    batch = cfg.training.batch_size
    fn_args = make_fn_args(data, cfg, work_dir)
    batches = materialise(fn_args, fn_args.train_files, batch, settings.speed_batches, cfg.training.seed)
    models = {}
    for encoder in ENCODERS:
        enc_cfg = cfg.replace(model={"variant": "hybrid", "char_encoder": encoder})
        keras.utils.set_random_seed(cfg.training.seed)
        models[("hybrid_classifier", encoder)] = build_models(enc_cfg.model, enc_cfg.preprocessing, words,
                                                              classes).classifier
        models[("char_encoder_only", encoder)] = encoder_only_model(enc_cfg, classes)
    for model in models.values():
        compile_classifier(model, cfg.training).fit(batches, epochs=1,
                                                    steps_per_epoch=settings.speed_warmup_steps, verbose=0)
    rates: Dict[tuple, List[float]] = {key: [] for key in models}
    cpu_rates: Dict[tuple, List[float]] = {key: [] for key in models}
    for round_index in range(settings.speed_rounds):
        order = ENCODERS if round_index % 2 == 0 else ENCODERS[::-1]
        for scope in ("hybrid_classifier", "char_encoder_only"):
            for encoder in order:
                started, cpu_started = time.perf_counter(), time.process_time()
                models[(scope, encoder)].fit(batches, epochs=1, steps_per_epoch=settings.speed_timed_steps,
                                             verbose=0)
                examples = settings.speed_timed_steps * batch
                rates[(scope, encoder)].append(examples / (time.perf_counter() - started))
                cpu_rates[(scope, encoder)].append(examples / (time.process_time() - cpu_started))
        progress(f"  char encoders, round {round_index + 1}/{settings.speed_rounds}: "
                 + ", ".join(f"{s} {e} {r[-1]:.0f} ex/s" for (s, e), r in rates.items()))
    result = {}
    for (scope, encoder), values in rates.items():
        result.setdefault(scope, {})[encoder] = {
            "examples_per_s": statistics.median(values), "rounds": values,
            "examples_per_cpu_s": cpu_rates[(scope, encoder)], "params": models[(scope, encoder)].count_params()}
    for entry in result.values():
        # CNN and BiLSTM ran back to back in each round: pair them by round, then take the median.
        for suffix, key in (("", "rounds"), ("_per_cpu_s", "examples_per_cpu_s")):
            ratios = [cnn / bilstm for cnn, bilstm in zip(entry["cnn"][key], entry["bilstm"][key])]
            entry[f"round_ratios{suffix}"] = ratios
            entry[f"cnn_over_bilstm{suffix}"] = statistics.median(ratios)
    result["char_output_dim"] = cfg.model.char_output_dim
    result["batch_size"] = batch
    result["timed_steps"] = settings.speed_timed_steps
    return result


OVERHEAD_SIDES = ("run_fn", "keras_streamed", "keras_in_memory")


def trainer_overhead_phase(data: TransformedData, cfg: CharwordConfig, settings: BenchSettings,
                           work_dir: str) -> dict:
    """Epoch throughput of run_fn, plain Keras on run_fn's streamed dataset, and plain
    Keras on in-memory batches; the order rotates per round; epoch 1 (tracing) is left out.

    ``overhead`` (the target) compares run_fn with in-memory Keras; the streamed side
    splits it into input pipeline (streamed vs in memory) and the rest (run_fn vs
    streamed: MirroredStrategy, TensorBoard and EarlyStopping callbacks).
    """
    epochs = settings.overhead_epochs
    cfg = cfg.replace(training={"epochs": epochs, "train_steps": epochs * settings.overhead_steps_per_epoch})
    rates: Dict[str, List[float]] = {side: [] for side in OVERHEAD_SIDES}
    for round_index in range(settings.overhead_rounds):
        shift = round_index % len(OVERHEAD_SIDES)
        for side in OVERHEAD_SIDES[shift:] + OVERHEAD_SIDES[:shift]:
            label = f"overhead round {round_index + 1} {side}"
            side_dir = os.path.join(work_dir, f"{side}_{round_index}")
            if side == "run_fn":
                epoch_rates = run_trainer(data, cfg, side_dir, label)["epoch_rates"]
            else:
                epoch_rates = plain_keras_fit(data, cfg, side_dir, label, in_memory=side == "keras_in_memory")
            rates[side].extend(epoch_rates[1:])
    batch = cfg.training.batch_size
    result = {side: {"examples_per_s": statistics.median(values), "epoch_rates": values,
                     "step_ms": 1000 * batch / statistics.median(values)} for side, values in rates.items()}
    speed = {side: entry["examples_per_s"] for side, entry in result.items()}
    result.update({
        "overhead": speed["keras_in_memory"] / speed["run_fn"] - 1.0,
        "input_pipeline_share": speed["keras_in_memory"] / speed["keras_streamed"] - 1.0,
        "strategy_callbacks_share": speed["keras_streamed"] / speed["run_fn"] - 1.0,
        "epochs": epochs, "steps_per_epoch": settings.overhead_steps_per_epoch,
        "validation_steps": cfg.training.eval_steps, "batch_size": batch,
    })
    return result


def transform_phase(rows: Sequence[tuple], eval_rows: Sequence[tuple], cfg: CharwordConfig, work_dir: str,
                    beam_args: Sequence[str]) -> dict:
    """Wall time of one ``transform_rows`` run (Beam pipeline start-up included)."""
    os.makedirs(work_dir, exist_ok=True)
    out_dir = tempfile.mkdtemp(dir=work_dir, prefix="transform-")
    started = time.perf_counter()
    transform_rows(rows_from_pairs(rows), rows_from_pairs(eval_rows), cfg, out_dir,
                            beam_args)
    return {"wall_s": time.perf_counter() - started}


def text_vectorization_phase(texts: Sequence[str], cfg: CharwordConfig) -> dict:
    """Wall time of ``TextVectorization.adapt`` and of vectorising every text once.

    Lower-casing and white-space splitting (the sample is pre-tokenised), the project's
    vocabulary size and ``max_tokens``; word ids only: no char ids, no files.
    """
    prep = cfg.preprocessing
    layer = keras.layers.TextVectorization(max_tokens=prep.vocab_size + 2, standardize="lower",
                                           split="whitespace", output_sequence_length=prep.max_tokens)
    dataset = tf.data.Dataset.from_tensor_slices(list(texts)).batch(1024)
    started = time.perf_counter()
    layer.adapt(dataset)
    adapted = time.perf_counter()
    for _ in dataset.map(layer, num_parallel_calls=tf.data.AUTOTUNE):
        pass
    done = time.perf_counter()
    return {"wall_s": done - started, "adapt_s": adapted - started, "call_s": done - adapted,
            "vocabulary_size": layer.vocabulary_size()}
