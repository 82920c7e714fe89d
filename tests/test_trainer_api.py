"""The trainer's public training parts that run_fn and the benchmarks share: the epoch
split, the compile step, the throughput callback, vocabulary sizes, the char encoder
builder, and the TrainingResult run_fn returns."""
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

from charword import contract
from charword.config import TrainingConfig
from standalone.fn_args import make_fn_args
from standalone.transform import written_to
from tests import two_replicas
from tests.model_helpers import tiny_config
from trainer import class_weights, weight_average
from trainer.class_weights import balanced_weights
from trainer.data import vocabulary_sizes
from trainer.model import build_char_encoder, build_models, model_inputs
from trainer.optimizers import LazyAdam
from trainer.training import (
    EpochThroughput,
    check_monitor,
    compile_classifier,
    plan_training,
    stop_reason,
)


@pytest.mark.parametrize("examples,overrides,expected", [
    (1000, {}, (32, 10)),                            # passes: ceil(1000 / 32) steps, max_epochs checks
    (1000, {"max_epochs": 3}, (32, 3)),
    (1000, {"train_steps": 100}, (25, 4)),           # a step budget: an even share of it per check, <= a pass
    (1000, {"train_steps": 3}, (3, 1)),              # shorter than a pass: one check at the end
    (64, {"train_steps": 7}, (2, 4)),                # an uneven share is rounded up: 8 steps
    (1000, {"checks_per_pass": 4, "max_epochs": 3}, (8, 12)),  # a pass of 32 steps checked 4 times
    (1000, {"checks_per_pass": 4, "train_steps": 20}, (7, 3)),  # a budget: shares no longer than a check
])
def test_plan_training_passes_or_a_step_budget(examples, overrides, expected):
    plan = plan_training(examples, 500, 32, TrainingConfig(**overrides))
    assert (plan.steps_per_epoch, plan.epochs) == expected
    assert plan.max_steps == expected[0] * expected[1]


@pytest.mark.parametrize("eval_examples,overrides,expected", [
    (500, {}, 16),                                   # the whole eval split: ceil(500 / 32)
    (50_000, {}, 313),                               # capped at max_eval_examples (10,000)
    (50_000, {"max_eval_examples": 640}, 20),
    (500, {"eval_steps": 4}, 4),
])
def test_plan_training_checks_the_eval_split_up_to_a_cap(eval_examples, overrides, expected):
    assert plan_training(1000, eval_examples, 32, TrainingConfig(**overrides)).eval_steps == expected


def test_plan_training_takes_the_trainer_args_over_the_config():
    plan = plan_training(1000, 500, 32, TrainingConfig(train_steps=100, eval_steps=4), train_steps=10, eval_steps=2)
    assert (plan.steps_per_epoch, plan.epochs, plan.eval_steps) == (10, 1, 2)


@pytest.mark.parametrize("train_examples,eval_examples,split", [(0, 10, "train"), (10, 0, "eval")])
def test_plan_training_refuses_an_empty_split(train_examples, eval_examples, split):
    with pytest.raises(ValueError, match=f"the {split} split holds no examples"):
        plan_training(train_examples, eval_examples, 32, TrainingConfig())


def test_stop_reason_says_why_and_which_weights():
    plan = plan_training(1000, 500, 32, TrainingConfig(max_epochs=6))
    assert stop_reason(plan, 4, 1, False) == "early stopping: the eval loss stopped improving (weights of check 2 kept)"
    assert stop_reason(plan, 4, 1, False, "accuracy").startswith("early stopping: the eval accuracy stopped")
    assert stop_reason(plan, 6, 5, False) == "reached 6 passes (max_epochs) (last weights kept)"
    quarters = plan_training(1000, 500, 32, TrainingConfig(max_epochs=2, checks_per_pass=4))
    assert stop_reason(quarters, 8, 6, False) == "reached 2 passes (max_epochs) (weights of check 7 kept)"
    steps = plan_training(1000, 500, 32, TrainingConfig(train_steps=64))
    assert stop_reason(steps, 2, 0, True) == "reached the step budget (64 steps) (weights of check 1 kept)"



def _batch(rows=6, tokens=5, chars=7, seed=0):
    rng = np.random.default_rng(seed)
    inputs = {contract.WORD_IDS: rng.integers(1, 20, size=(rows, tokens)),
              contract.CHAR_IDS: rng.integers(1, 257, size=(rows, tokens, chars))}
    return inputs, rng.integers(0, 3, size=rows)


def test_compile_classifier_uses_adam_at_the_configured_rate_and_cross_entropy():
    cfg = tiny_config()
    model = build_models(cfg.model, cfg.preprocessing, word_vocab_size=20, num_classes=3).classifier
    assert compile_classifier(model, TrainingConfig(learning_rate=0.0125)) is model
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.0125)
    inputs, labels = _batch()
    scores = model.evaluate(inputs, labels, batch_size=6, return_dict=True, verbose=0)
    probabilities = model.predict(inputs, verbose=0)
    assert set(scores) == {"loss", "accuracy"}
    assert scores["loss"] == pytest.approx(-np.mean(np.log(probabilities[np.arange(6), labels])), rel=1e-4)
    assert scores["accuracy"] == pytest.approx(np.mean(probabilities.argmax(axis=1) == labels))


@pytest.mark.slow
def test_one_process_trains_models_of_other_shapes_under_successive_mirrored_strategies():
    """Each strategy's all-reduce uses collective keys of its own: the runtime remembers
    the shapes of every key it has seen, so a reused key fails a model of another shape.
    In a child process whose CPU is split in two (test processes keep one device)."""
    script = (
        "import numpy as np, tensorflow as tf\n"
        "from trainer import distribution\n"
        "distribution.split_cpu(2)\n"
        "from charword import contract\n"
        "from tests.model_helpers import tiny_config\n"
        "from trainer.model import build_models\n"
        "from trainer.training import compile_classifier\n"
        "rng = np.random.default_rng(0)\n"
        "inputs = {contract.WORD_IDS: rng.integers(1, 20, size=(8, 5)),\n"
        "          contract.CHAR_IDS: rng.integers(1, 257, size=(8, 5, 7))}\n"
        "labels = rng.integers(0, 3, size=8)\n"
        "for word_dim in (24, 8):\n"
        "    strategy = distribution.make_strategy()\n"
        "    assert isinstance(strategy, tf.distribute.MirroredStrategy) and strategy.num_replicas_in_sync == 2\n"
        "    cfg = tiny_config(word_dim=word_dim)\n"
        "    with strategy.scope():\n"
        "        classifier = build_models(cfg.model, cfg.preprocessing, 20, 3).classifier\n"
        "        model = compile_classifier(classifier, cfg.training)\n"
        "    history = model.fit(inputs, labels, batch_size=4, epochs=1, verbose=0).history\n"
        "    print(word_dim, np.isfinite(history['loss'][0]))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False,
                          cwd=two_replicas.PROJECT_ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split()[-4:] == ["24", "True", "8", "True"]


def test_epoch_throughput_keeps_and_logs_one_rate_per_epoch(caplog):
    cfg = tiny_config()
    model = compile_classifier(build_models(cfg.model, cfg.preprocessing, 20, 3).classifier, cfg.training)
    inputs, labels = _batch(rows=8)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(4).repeat()
    throughput = EpochThroughput(global_batch_size=4)
    with caplog.at_level(logging.INFO, logger=EpochThroughput.__module__):
        started = time.perf_counter()
        model.fit(dataset, epochs=3, steps_per_epoch=2, callbacks=[throughput], verbose=0)
        wall = time.perf_counter() - started
    assert len(throughput.rates) == 3 and all(rate > 0 for rate in throughput.rates)
    # Each rate is 2 steps x 4 examples over that epoch's time; the epochs fit inside the whole fit.
    assert sum(2 * 4 / rate for rate in throughput.rates) <= wall
    lines = [record.getMessage() for record in caplog.records if "training examples/s" in record.getMessage()]
    assert [line.split(":")[0] for line in lines] == ["epoch 1", "epoch 2", "epoch 3"]
    assert "loss=" in lines[0] and "accuracy=" in lines[0]


def test_epoch_throughput_reports_progress_within_a_long_epoch(caplog):
    """With progress_every_s 0 every step but the last of each epoch gets a progress line
    (the epoch's own line follows the last), none during the warm-up steps."""
    cfg = tiny_config()
    model = compile_classifier(build_models(cfg.model, cfg.preprocessing, 20, 3).classifier, cfg.training)
    inputs, labels = _batch(rows=8)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(4).repeat()
    throughput = EpochThroughput(global_batch_size=4, warmup_steps=2, progress_every_s=0.0)
    with caplog.at_level(logging.INFO, logger=EpochThroughput.__module__):
        model.fit(dataset, epochs=2, steps_per_epoch=5, callbacks=[throughput], verbose=0)
    progress = [record.getMessage() for record in caplog.records if " of 5, " in record.getMessage()]
    assert [line.split(",")[0] for line in progress] == [
        "epoch 1: step 3 of 5", "epoch 1: step 4 of 5",
        "epoch 2: step 1 of 5", "epoch 2: step 2 of 5", "epoch 2: step 3 of 5", "epoch 2: step 4 of 5"]
    assert all("training examples/s, loss=" in line and "loss=nan" not in line for line in progress)
    quiet = EpochThroughput(global_batch_size=4)  # the default: at most a line a minute
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=EpochThroughput.__module__):
        model.fit(dataset, epochs=1, steps_per_epoch=5, callbacks=[quiet], verbose=0)
    assert not [record for record in caplog.records if " of 5, " in record.getMessage()]


def test_epoch_throughput_leaves_out_the_first_epochs_warm_up_steps():
    """A slow first step (tracing) does not count: the first epoch's rate is timed from
    step ``warmup_steps`` on."""
    cfg = tiny_config()
    model = compile_classifier(build_models(cfg.model, cfg.preprocessing, 20, 3).classifier, cfg.training)
    inputs, labels = _batch(rows=8)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(4).repeat()
    slow_first_step = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: time.sleep(2.0) if batch == 0 else None)
    throughput = EpochThroughput(global_batch_size=4, warmup_steps=3)
    model.fit(dataset, epochs=1, steps_per_epoch=6, callbacks=[slow_first_step, throughput], verbose=0)
    assert throughput.rates[0] > 6 * 4 / 2.0  # counting the slow step would give at most this


@pytest.mark.parametrize("char_encoder,layer_names", [("cnn", ("char_embedding", "char_cnn")),
                                                      ("bilstm", ("char_embedding", "char_bilstm")),
                                                      ("ngrams", ("char_ngrams",))])
def test_char_encoder_is_the_classifiers_char_branch(char_encoder, layer_names):
    cfg = tiny_config(char_encoder=char_encoder)
    inputs = model_inputs()
    assert set(inputs) == {contract.WORD_IDS, contract.CHAR_IDS}
    encoder = keras.Model(inputs[contract.CHAR_IDS], build_char_encoder(cfg.model, inputs[contract.CHAR_IDS]))
    char_ids, _ = _batch(rows=2, tokens=7, chars=9)
    assert encoder(char_ids[contract.CHAR_IDS]).shape == (2, 7, cfg.model.char_output_dim)
    classifier = build_models(cfg.model, cfg.preprocessing, 20, 2).classifier
    for name in layer_names:
        assert encoder.get_layer(name).get_config() == classifier.get_layer(name).get_config()


def test_vocabulary_sizes_from_a_graph_dir_or_a_transform_output(trained_model):
    graph_dir = trained_model.fn_args.transform_output
    sizes = vocabulary_sizes(graph_dir)
    assert sizes == vocabulary_sizes(tft.TFTransformOutput(graph_dir))
    output = tft.TFTransformOutput(graph_dir)
    assert sizes.words == len(output.vocabulary_by_name(contract.WORD_VOCAB)) > 0
    assert sizes.classes == 2  # positive, negative


def test_run_fn_returns_its_training_result(trained_model):
    result, training = trained_model.result, trained_model.cfg.training
    assert (result.replicas, result.global_batch) == (2, 2 * training.batch_size)
    assert result.train_examples == 480 and result.eval_examples_checked == 96  # every example of both splits
    assert result.steps_per_epoch == 15  # one pass: ceil(480 / 32)
    assert result.serving_model_dir == trained_model.model_dir
    assert os.path.exists(os.path.join(result.serving_model_dir, "saved_model.pb"))
    epochs_run = len(result.history["loss"])
    assert 1 <= epochs_run <= training.max_epochs
    assert result.steps == 15 * epochs_run and result.passes == pytest.approx(epochs_run)
    assert 1 <= result.best_check <= epochs_run
    assert result.best_check == 1 + int(np.argmin(result.history["val_loss"]))
    assert ("early stopping" in result.stop_reason) == (epochs_run < training.max_epochs)
    assert len(result.examples_per_s) == epochs_run and all(rate > 0 for rate in result.examples_per_s)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(result.history)
    assert all(isinstance(value, float) for values in result.history.values() for value in values)
    # The same per-epoch rates run_fn logged (to one decimal).
    logged = [float(line.split(": ")[1].split()[0]) for line in trained_model.log_text.splitlines()
              if "training examples/s" in line]
    assert logged == pytest.approx(result.examples_per_s, abs=0.051)
    with open(os.path.join(trained_model.fn_args.model_run_dir, contract.TRAINING_REPORT), encoding="utf-8") as handle:
        written = json.load(handle)
    assert written["stop_reason"] == result.stop_reason and written["steps"] == result.steps
    # Balanced class weights (the session model's setting) from Transform's label counts.
    counts = class_weights.label_counts(tft.TFTransformOutput(trained_model.fn_args.transform_output))
    assert sum(counts.values()) == 480
    assert written["class_weights"] == pytest.approx({label: 480 / (2 * count) for label, count in counts.items()})
    assert "Class weights of the label loss: " in trained_model.log_text


@pytest.mark.slow
def test_a_seeded_run_is_repeatable(trained_model, tmp_path):
    """The same seed, data and configuration give the same model: op determinism, the
    seeded shuffle and the seeded noise (two replicas, as in the first run)."""
    first_work = Path(trained_model.fn_args.transform_output).parent
    two_replicas.train(tmp_path, data_from=first_work)
    again = make_fn_args(written_to(str(first_work)), trained_model.cfg, str(tmp_path / "trainer"))
    with open(os.path.join(again.model_run_dir, contract.TRAINING_REPORT), encoding="utf-8") as handle:
        assert json.load(handle)["history"] == trained_model.result.history
    texts = tf.constant(["the plot was brilliant .", "the acting was terible", "zebra"])
    probabilities = [tf.saved_model.load(path).signatures[contract.PREDICT_TEXT](text=texts)[contract.PROBABILITIES]
                     for path in (trained_model.model_dir, again.serving_model_dir)]
    np.testing.assert_array_equal(probabilities[0].numpy(), probabilities[1].numpy())


def test_lazy_adam_is_adam_on_dense_variables():
    initial = np.arange(6, dtype=np.float32).reshape(2, 3)
    weights = {}
    for optimizer in (LazyAdam(0.1), keras.optimizers.Adam(0.1)):
        variable = tf.Variable(initial)
        for step in range(3):
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.square(variable - step))
            optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
        weights[type(optimizer)] = variable.numpy()
    np.testing.assert_allclose(weights[LazyAdam], weights[keras.optimizers.Adam], rtol=1e-6)


def test_lazy_adam_updates_only_the_rows_a_batch_looked_up():
    """Adam's step for the rows in the gradient (duplicates summed); rows the batch did not
    touch keep their weights, where Adam would move them on their old momentum."""
    lr, beta_1, beta_2, epsilon = 0.1, 0.9, 0.999, 1e-7
    optimizer = LazyAdam(lr, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    table = tf.Variable(np.ones((4, 2), np.float32))
    m, v, expected = np.zeros((4, 2)), np.zeros((4, 2)), np.ones((4, 2))
    for step, ids in enumerate(([0, 1, 1], [2, 2]), start=1):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.gather(table, ids) * [[1.0, 2.0]])
        gradient = tape.gradient(loss, table)
        assert isinstance(gradient, tf.IndexedSlices)
        optimizer.apply_gradients([(gradient, table)])
        rows = sorted(set(ids))
        summed = np.array([[ids.count(row) * 1.0, ids.count(row) * 2.0] for row in rows])
        m[rows] = beta_1 * m[rows] + (1 - beta_1) * summed
        v[rows] = beta_2 * v[rows] + (1 - beta_2) * summed ** 2
        alpha = lr * np.sqrt(1 - beta_2 ** step) / (1 - beta_1 ** step)
        expected[rows] -= alpha * m[rows] / (np.sqrt(v[rows]) + epsilon)
        np.testing.assert_allclose(table.numpy(), expected, rtol=1e-5)
        if step == 1:
            after_first = table.numpy()
    np.testing.assert_array_equal(table.numpy()[[0, 1, 3]], after_first[[0, 1, 3]])  # not in the second batch


def test_weight_average_samples_a_span_of_a_pass_and_is_off_at_zero():
    assert weight_average.callbacks(TrainingConfig(weight_average_span=0.0), steps_per_check=100) == []
    averaged, = weight_average.callbacks(TrainingConfig(weight_average_span=0.25, checks_per_pass=2), 400)
    assert averaged.every == 12  # a span of 200 steps, sampled 16 times
    assert averaged.momentum == pytest.approx((1 - 1 / 200) ** 12)
    short, = weight_average.callbacks(TrainingConfig(weight_average_span=0.25), 12)  # a span of 3 steps
    every = weight_average.MIN_EVERY
    assert (short.every, short.momentum) == (every, pytest.approx((1 - 1 / 3) ** every))


def test_weight_average_is_the_sampled_moving_average_of_the_weights():
    """Every ``every`` steps the average moves towards the weights by ``1 - momentum``; at
    an epoch's last step it replaces them."""
    model = keras.Sequential([keras.layers.Dense(2)])
    model.build((None, 3))
    initial = [weight.copy() for weight in model.get_weights()]
    averaging = weight_average.WeightAverage(span_steps=64)
    averaging.set_model(model)
    averaging.set_params({"steps": 8})
    averaging.on_train_begin()
    momentum = (1 - 1 / 64) ** 4
    assert averaging.every == 4 and averaging.momentum == pytest.approx(momentum)
    for step in range(1, 9):
        model.set_weights([np.full_like(weight, step) for weight in initial])
        averaging.on_train_batch_end(step - 1)
    expected = [momentum * (momentum * weight + (1 - momentum) * 4) + (1 - momentum) * 8 for weight in initial]
    for weight, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(weight, want, rtol=1e-5)


def test_weight_averaging_puts_the_average_in_place_at_each_check():
    """With ``weight_average_span``, the weights a check evaluates (and early stopping
    keeps) are the moving average of the weights: after the last step of every check, the
    weights equal the average, and they differ from plain training's."""
    cfg = tiny_config()
    inputs, labels = _batch(rows=8)
    dataset = tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(4).repeat()
    finals = {}
    for span in (0.0, 0.25):
        keras.utils.set_random_seed(3)
        training = TrainingConfig(learning_rate=0.05, weight_average_span=span)
        model = compile_classifier(build_models(cfg.model, cfg.preprocessing, 20, 3).classifier, training)
        averaging = weight_average.callbacks(training, steps_per_check=12)
        at_checks = []

        def compare(epoch, logs, model=model, averaging=averaging, at_checks=at_checks):
            at_checks.append(all(np.array_equal(average.numpy(), variable.numpy())
                                 for average, variable in zip(averaging[0].averages, model.trainable_variables)))

        checks = [keras.callbacks.LambdaCallback(on_epoch_end=compare)] if averaging else []
        model.fit(dataset, epochs=2, steps_per_epoch=12, verbose=0, callbacks=[*averaging, *checks])
        finals[span] = model.get_weights()
        assert at_checks == ([True, True] if span else [])
    assert any(not np.allclose(plain, averaged) for plain, averaged in zip(finals[0.0], finals[0.25]))


def test_balanced_class_weights_make_every_class_weigh_the_same():
    counts = [30, 10, 20]
    weights = balanced_weights(counts)
    assert weights == pytest.approx([60 / 90, 60 / 30, 60 / 60])
    assert len({round(count * weight, 9) for count, weight in zip(counts, weights)}) == 1
    assert sum(count * weight for count, weight in zip(counts, weights)) == pytest.approx(sum(counts))  # mean 1
    with pytest.raises(ValueError, match="every class"):
        balanced_weights([5, 0])


def test_class_weighted_loss_scales_each_examples_cross_entropy():
    cfg = tiny_config()
    model = build_models(cfg.model, cfg.preprocessing, word_vocab_size=20, num_classes=3).classifier
    compile_classifier(model, TrainingConfig(), class_weights=[0.5, 2.0, 3.0])
    inputs, labels = _batch()
    loss = model.evaluate(inputs, labels, batch_size=6, return_dict=True, verbose=0)["loss"]
    probabilities = model.predict(inputs, verbose=0)
    terms = -np.log(probabilities[np.arange(6), labels]) * np.array([0.5, 2.0, 3.0])[labels]
    assert loss == pytest.approx(np.mean(terms), rel=1e-4)


def test_balanced_class_weights_lift_a_rare_class():
    """On texts that say nothing of their class, one class in ten: trained without
    weights the model predicts the prior (about 0.1 for the rare class); with balanced
    weights every class weighs the same and the rare class's probability rises to about
    a half."""
    cfg = tiny_config()
    text, _ = _batch(rows=1)
    inputs = {name: np.repeat(ids, 40, axis=0) for name, ids in text.items()}  # one text, 40 times
    labels = np.array([1] * 4 + [0] * 36)
    rare = {}
    for weights in (None, balanced_weights([36, 4])):
        keras.utils.set_random_seed(5)
        model = compile_classifier(build_models(cfg.model, cfg.preprocessing, 20, 2).classifier,
                                   TrainingConfig(learning_rate=0.02), class_weights=weights)
        model.fit(inputs, labels, batch_size=20, epochs=10, verbose=0)
        rare[weights is not None] = float(model.predict(inputs, verbose=0)[:, 1].mean())
    assert rare[False] < 0.2 < 0.35 < rare[True] < 0.65, rare


def test_checks_compare_loss_or_accuracy():
    assert check_monitor(TrainingConfig()) == ("val_loss", "min")
    assert check_monitor(TrainingConfig(check_metric="accuracy")) == ("val_accuracy", "max")

