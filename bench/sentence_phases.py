"""Phases of the sentence-path benchmark (:mod:`bench.sentence_report`), each run in its
own forked process by :class:`bench.phases.PhaseRunner`.

* :func:`dev_features_phase`: the dev texts (clean and misspelled) through the transform
  graph's serving layer, once; the features are saved for every model to score;
* :func:`sentence_head_phase`: the "sentence path alone" baseline, an MLP head trained on
  the frozen sentence vectors Transform materialised (same steps, batch, rate and early
  stopping as the Trainer), scored on the dev vectors;
* :func:`evaluate_phase`: each exported classifier on the saved dev features, plus a check
  that the ``predict_text`` signature (raw text in) gives the same labels on a sample;
* :func:`fit_speed_phase`: training examples/s of ``run_fn`` for a few epochs.
"""
import glob
import os
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras

import charword
from bench.phases import progress
from bench.training import run_trainer
from charword import contract
from charword.config import CharwordConfig
from harness.transform import TransformedData
from trainer import training as trainer_training
from trainer.export import label_names

BATCH = 256


def dev_features_phase(graph_dir: str, texts_by_condition: Dict[str, List[str]], out_path: str) -> dict:
    """Transformed features of each condition's texts, saved to ``out_path`` (.npz, keys
    ``<condition>/<feature>``); returns texts/s of the serving layer per condition."""
    layer = tft.TFTransformOutput(graph_dir).transform_features_layer()
    arrays, rates = {}, {}
    for condition, texts in texts_by_condition.items():
        started = time.perf_counter()
        parts: Dict[str, List[np.ndarray]] = {}
        for start in range(0, len(texts), BATCH):
            out = layer({contract.RAW_TEXT: tf.constant(texts[start:start + BATCH])})
            for name, value in contract.model_features(out).items():
                parts.setdefault(name, []).append(value.numpy())
        rates[condition] = len(texts) / (time.perf_counter() - started)
        for name, chunks in parts.items():
            arrays[f"{condition}/{name}"] = np.concatenate(chunks)
        progress(f"  dev features ({condition}): {len(texts)} texts, {rates[condition]:.1f} texts/s")
    np.savez(out_path, **arrays)
    return {"path": out_path, "texts_per_s": rates}


def label_ids(graph_dir: str, labels: Sequence[str]) -> np.ndarray:
    """Class ids of ``labels`` (strings) in the transform graph's label vocabulary."""
    names = label_names(tft.TFTransformOutput(graph_dir))
    return np.array([names.index(label) for label in labels])


def load_features(path: str) -> Dict[str, Dict[str, np.ndarray]]:
    """``{condition: {feature: array}}`` from :func:`dev_features_phase`'s file."""
    with np.load(path) as saved:
        result: Dict[str, Dict[str, np.ndarray]] = {}
        for key in saved.files:
            condition, name = key.split("/", 1)
            result.setdefault(condition, {})[name] = saved[key]
    return result


def _records(pattern: str, graph_dir: str) -> Tuple[np.ndarray, np.ndarray]:
    """(sentence vectors, label ids) of the transformed TFRecords matching ``pattern``."""
    spec = tft.TFTransformOutput(graph_dir).transformed_feature_spec()
    spec = {name: spec[name] for name in (contract.SENTENCE_VECTOR, contract.LABEL_ID)}
    dataset = tf.data.TFRecordDataset(sorted(glob.glob(pattern)), compression_type="GZIP").batch(1024).map(
        lambda records: tf.io.parse_example(records, spec))
    vectors, labels = [], []
    for batch in dataset:
        vectors.append(batch[contract.SENTENCE_VECTOR].numpy())
        labels.append(batch[contract.LABEL_ID].numpy())
    return np.concatenate(vectors), np.concatenate(labels)


def sentence_head_phase(data: TransformedData, cfg: CharwordConfig, hidden: int, features_path: str,
                        dev_labels: Sequence[str], label: str) -> dict:
    """An MLP (``hidden`` ReLU units, dropout, softmax) on the frozen sentence vectors,
    trained like ``run_fn`` trains (steps split into epochs, Adam at the configured rate,
    early stopping on the held-out loss); dev accuracy per condition."""
    training = cfg.training
    keras.utils.set_random_seed(training.seed)
    train_x, train_y = _records(data.train_pattern, data.transform_graph_dir)
    val_x, val_y = _records(data.eval_pattern, data.transform_graph_dir)
    classes = int(max(train_y.max(), val_y.max())) + 1
    model = keras.Sequential([keras.Input(shape=(train_x.shape[1],)),
                              keras.layers.Dense(hidden, activation="relu"),
                              keras.layers.Dropout(cfg.model.dropout),
                              keras.layers.Dense(classes, activation="softmax")])
    trainer_training.compile_classifier(model, training)
    epochs, steps = trainer_training.epoch_split(training.train_steps, training)
    train = tf.data.Dataset.from_tensor_slices((train_x, train_y)).shuffle(len(train_y), seed=training.seed)
    model.fit(train.repeat().batch(training.batch_size), epochs=epochs, steps_per_epoch=steps,
              validation_data=(val_x, val_y), verbose=2,
              callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", patience=training.early_stopping_patience,
                                                       restore_best_weights=True)])
    accuracy, gold = {}, label_ids(data.transform_graph_dir, dev_labels)
    for condition, features in load_features(features_path).items():
        predicted = model.predict(features[contract.SENTENCE_VECTOR], batch_size=BATCH, verbose=0).argmax(-1)
        accuracy[condition] = float(np.mean(predicted == gold))
    progress(f"  {label}: " + ", ".join(f"{c} {a:.3f}" for c, a in accuracy.items()))
    return {"accuracy": accuracy}


def evaluate_phase(models: Dict[str, Tuple[str, Tuple[str, ...]]], graph_dir: str, features_path: str,
                   dev_labels: Sequence[str], reference: str, check_texts: Sequence[str]) -> dict:
    """Dev accuracy of each exported model, ``{name: (model_dir, its input features)}``: its
    classifier on the saved features (of the transform graph ``graph_dir``); and the share
    of ``check_texts`` (the first texts of condition ``reference``) on which its
    ``predict_text`` signature (raw text in) gives the same label."""
    features = load_features(features_path)
    gold = label_ids(graph_dir, dev_labels)
    classes = label_names(tft.TFTransformOutput(graph_dir))
    results = {}
    for name, (model_dir, input_names) in sorted(models.items()):
        loaded = charword.load_model(model_dir)
        predicted = {condition: np.concatenate([
            loaded.classifier({k: tf.constant(values[k][i:i + BATCH]) for k in input_names},
                              training=False).numpy().argmax(-1) for i in range(0, len(dev_labels), BATCH)])
            for condition, values in features.items()}
        accuracy = {c: float(np.mean(p == gold)) for c, p in predicted.items()}
        clean = predicted[reference]
        served = loaded.signatures[contract.PREDICT_TEXT](**{contract.TEXT_INPUT: tf.constant(list(check_texts))})
        served_labels = [label.decode("utf-8") for label in served[contract.LABEL].numpy()]
        agreement = float(np.mean([s == classes[p] for s, p in zip(served_labels, clean[: len(check_texts)])]))
        results[name] = {"accuracy": accuracy, "predict_text_agreement": agreement}
        progress(f"  {name}: " + ", ".join(f"{c} {a:.3f}" for c, a in accuracy.items())
                 + f"; predict_text agrees on {agreement:.0%} of {len(check_texts)}")
    return results


def fit_speed_phase(data: TransformedData, cfg: CharwordConfig, work_dir: str, label: str) -> dict:
    """``run_fn`` for ``cfg.training.train_steps`` steps; examples/s of each epoch (the first
    includes tracing) and the exported model's size on disk."""
    result = run_trainer(data, cfg, work_dir, label)
    return {**result, "size_mb": directory_mb(result["model_dir"])}


def directory_mb(path: str) -> float:
    """Total size of the files under ``path``, in MB."""
    return sum(os.path.getsize(os.path.join(root, name)) for root, _, names in os.walk(path) for name in names) / 1e6
