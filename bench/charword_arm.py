"""A charword arm of a benchmark: Transform, the Trainer's ``run_fn`` and scoring through
the exported ``predict_text`` signature (raw text in, so serving preprocessing is what
is measured). Each step runs in a forked process (:mod:`bench.processes`) of the parent
that imported this module, so every step runs the code the run started with, and leaves a
``result.json`` beside its outputs; a later run with the same inputs reuses it, so an
interrupted benchmark loses no finished work.
"""
import hashlib
import json
import logging
import os
import shutil
import time
from typing import Dict, List, Optional, Sequence

import charword
from bench.processes import progress
from charword import contract
from charword.config import CharwordConfig
from standalone.fn_args import make_fn_args
from standalone.transform import TransformedData, rows_from_pairs, transform_rows, write_raw_examples
from trainer import task

RESULT_FILE = "result.json"
BATCH = 256


def config_key(cfg: CharwordConfig) -> str:
    """A short name for a configuration: the hash of its JSON (the same for equal configs)."""
    return hashlib.sha256(json.dumps(cfg.to_dict(), sort_keys=True).encode("utf-8")).hexdigest()[:16]


def finished(out_dir: str, inputs: dict) -> Optional[dict]:
    """What a step that finished in ``out_dir`` with the same ``inputs`` returned, or None."""
    path = os.path.join(out_dir, RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        kept = json.load(handle)
    return kept["result"] if kept.get("inputs") == json.loads(json.dumps(inputs)) else None


def keep(out_dir: str, inputs: dict, result: dict) -> dict:
    """Records ``result`` of a step run on ``inputs`` in ``out_dir``; returns it."""
    with open(os.path.join(out_dir, RESULT_FILE), "w", encoding="utf-8") as handle:
        json.dump({"inputs": inputs, "result": result}, handle)
    return result


def reuse_or_start(out_dir: str, inputs: dict, label: str) -> Optional[dict]:
    """What a step that finished in ``out_dir`` with the same ``inputs`` returned; else None,
    with ``out_dir`` emptied for the step to start afresh."""
    done = finished(out_dir, inputs)
    if done:
        progress(f"  {label}: reusing the finished run in {out_dir}")
        return done
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    return None


def transform_step(train_rows: Sequence[tuple], held_out_rows: Sequence[tuple], cfg: CharwordConfig,
                   out_dir: str, beam_args: Sequence[str]) -> dict:
    """The transform graph and transformed TFRecords of the training and held-out rows."""
    inputs = {"config": cfg.transform_config(), "rows": [len(train_rows), len(held_out_rows)]}
    done = reuse_or_start(out_dir, inputs, "Transform")
    if done:
        return done
    progress(f"  Transform: {len(train_rows)} training + {len(held_out_rows)} held-out rows")
    data = transform_rows(rows_from_pairs(train_rows), rows_from_pairs(held_out_rows), cfg, out_dir, beam_args)
    return keep(out_dir, inputs, {"data": list(data)})


def train_step(data: Sequence[str], cfg: CharwordConfig, work_dir: str, label: str) -> dict:
    """One Trainer run (``run_fn``) of ``cfg``; its budget, stop reason, throughput and model."""
    inputs = {"config": cfg.to_dict(), "data": list(data)}
    done = reuse_or_start(work_dir, inputs, label)
    if done:
        return done
    progress(f"  {label}: run_fn")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("trainer").setLevel(logging.INFO)  # the step's log shows the Trainer's own lines
    result = task.run_fn(make_fn_args(TransformedData(*data), cfg, work_dir))
    progress(f"  {label}: {result.steps} steps ({result.passes:.1f} passes) in {result.wall_s:.0f} s, "
             f"{result.stop_reason}")
    return keep(work_dir, inputs, {"model_dir": result.serving_model_dir, "wall_s": result.wall_s,
                                   "epoch_rates": list(result.examples_per_s), "steps": result.steps,
                                   "passes": result.passes, "stop_reason": result.stop_reason,
                                   "train_examples": result.train_examples})


def predict(signature, texts: Sequence[str]) -> List[str]:
    """The label the ``predict_text`` signature gives each text."""
    return [label.decode("utf-8") for out in _batches(signature, texts) for label in out[contract.LABEL].numpy()]


def _batches(signature, texts: Sequence[str]):
    """The ``predict_text`` outputs of ``texts``, ``BATCH`` texts at a time."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    for start in range(0, len(texts), BATCH):
        yield signature(**{contract.TEXT_INPUT: tf.constant(list(texts[start:start + BATCH]))})


def teacher_labels_step(teacher_dir: str, graph_dir: str, train_rows: Sequence[tuple],
                        held_out_rows: Sequence[tuple], out_dir: str) -> dict:
    """What the distilled preset's BulkInferrer writes, for the benchmark's rows: raw
    examples of the training and held-out rows, each with the teacher's class
    probabilities in the order of the student's label vocabulary (``graph_dir``)."""
    import tensorflow_transform as tft  # pylint: disable=import-outside-toplevel
    inputs = {"teacher": teacher_dir, "graph": graph_dir, "rows": [len(train_rows), len(held_out_rows)]}
    done = reuse_or_start(out_dir, inputs, "teacher probabilities")
    if done:
        return done
    student_classes = [c.decode("utf-8") for c in tft.TFTransformOutput(graph_dir).vocabulary_by_name(
        contract.LABEL_VOCAB)]
    signature = charword.load_model(teacher_dir).signatures[contract.PREDICT_TEXT]
    integers = all(isinstance(label, int) for _, label in list(train_rows) + list(held_out_rows))
    started = time.perf_counter()
    patterns = {}
    for split, rows in (("train", train_rows), ("eval", held_out_rows)):
        probabilities = []
        for out in _batches(signature, [text for text, _ in rows]):
            teacher_classes = [c.decode("utf-8") for c in out[contract.CLASSES].numpy()[0]]
            order = [teacher_classes.index(name) for name in student_classes]
            probabilities.extend(out[contract.PROBABILITIES].numpy()[:, order].tolist())
        path = os.path.join(out_dir, split, "examples.tfrecord.gz")
        write_raw_examples(rows_from_pairs(rows), path, integers, probabilities)
        patterns[split] = path
    progress(f"  teacher probabilities of {len(train_rows) + len(held_out_rows)} rows in "
             f"{time.perf_counter() - started:.0f} s")
    return keep(out_dir, inputs, {"data": [graph_dir, patterns["train"], patterns["eval"]]})


def score_step(model_dir: str, sets: Dict[str, Sequence[str]]) -> Dict[str, List[str]]:
    """The predicted labels of every text set (``{name: texts}``), the model loaded once."""
    started = time.perf_counter()
    signature = charword.load_model(model_dir).signatures[contract.PREDICT_TEXT]
    loaded = time.perf_counter()
    predictions = {name: predict(signature, texts) for name, texts in sets.items()}
    print(f"loaded in {loaded - started:.0f} s, scored {sum(map(len, sets.values()))} texts in "
          f"{time.perf_counter() - loaded:.0f} s", flush=True)
    return predictions


def has_oov(graph_dir: str, texts: Sequence[str]) -> List[bool]:
    """Whether each text has a word outside the vocabulary (the transform graph's ``has_oov``)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    import tensorflow_transform as tft  # pylint: disable=import-outside-toplevel
    layer = tft.TFTransformOutput(graph_dir).transform_features_layer()
    flags: List[bool] = []
    for start in range(0, len(texts), BATCH):
        out = layer({contract.RAW_TEXT: tf.constant(list(texts[start:start + BATCH]))})
        flags.extend(bool(v) for v in out[contract.HAS_OOV].numpy())
    return flags
