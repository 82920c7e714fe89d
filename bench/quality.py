"""Quality and robustness phases: Transform, Trainer runs, and dev-set evaluation.

Each function is one phase (run in its own process by :mod:`bench.phases`):

* :func:`transform_phase` runs the project's ``preprocessing_fn`` on the training and
  validation rows (:func:`harness.transform.transform_rows`);
* :func:`train_phase` trains one variant/seed with the real ``run_fn`` and exports it;
* :func:`evaluate_phase` loads every exported SavedModel and scores the dev texts
  through the ``predict_text`` signature (raw text in, so serving preprocessing is
  what is measured), clean, with typos and with real misspellings; OOV examples are
  found with the transform graph's own ``has_oov`` feature. With a dev lexicon it also
  asks, through the ``embed_tokens`` signature, whether the merged vector of each
  misspelling has its correct word among the 5 nearest vocabulary words
  (:func:`embeddings.report.misspelling_scores`).
"""
import json
import os
import shutil
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf
import tensorflow_transform as tft

import charword
from bench.phases import progress
from bench.training import run_trainer
from charword import contract
from charword.config import CharwordConfig
from harness.transform import TransformedData, rows_from_pairs, transform_rows
from trainer.data import vocabulary_sizes

BATCH = 256


RESULT_FILE = "result.json"


def _finished(out_dir: str) -> Optional[dict]:
    """What a phase that finished in ``out_dir`` returned (its ``result.json``), or None."""
    path = os.path.join(out_dir, RESULT_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _keep(out_dir: str, result: dict) -> dict:
    with open(os.path.join(out_dir, RESULT_FILE), "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return result


def transform_phase(train_rows: Sequence[tuple], validation_rows: Sequence[tuple], cfg: CharwordConfig,
                    out_dir: str, beam_args: Sequence[str]) -> dict:
    """Transform graph and transformed TFRecords of the training and validation rows
    (those of an earlier run into ``out_dir`` when it finished)."""
    finished = _finished(out_dir)
    if finished:
        progress(f"  Transform: reusing the finished run in {out_dir}")
        return {**finished, "data": TransformedData(*finished["data"])}
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    progress(f"  Transform: {len(train_rows)} training + {len(validation_rows)} validation rows, "
             f"Beam args {' '.join(beam_args) or '(defaults)'}")
    data = transform_rows(rows_from_pairs(train_rows), rows_from_pairs(validation_rows),
                                   cfg, out_dir, beam_args)
    words, classes = vocabulary_sizes(data.transform_graph_dir)
    _keep(out_dir, {"data": list(data), "word_vocab_size": words, "num_classes": classes})
    return {"data": data, "word_vocab_size": words, "num_classes": classes}


def train_phase(data, cfg: CharwordConfig, work_dir: str, label: str) -> dict:
    """One Trainer run (``run_fn``) of ``cfg.model.variant`` with ``cfg.training.seed``
    (the result of an earlier run into ``work_dir`` when it finished)."""
    finished = _finished(work_dir)
    if finished:
        progress(f"  {label}: reusing the finished run in {work_dir}")
        return finished
    progress(f"  {label}: run_fn, batches of {cfg.training.batch_size}, "
             + (f"{cfg.training.train_steps} steps" if cfg.training.train_steps
                else f"up to {cfg.training.max_epochs} passes"))
    result = run_trainer(data, cfg, work_dir, label)
    return _keep(work_dir, result)


def _transformed_counts(layer, texts: List[str]) -> Dict[str, list]:
    counts = {contract.HAS_OOV: [], contract.OOV_COUNT: [], "kept_tokens": []}
    for start in range(0, len(texts), BATCH):
        out = layer({contract.RAW_TEXT: tf.constant(texts[start:start + BATCH])})
        counts[contract.HAS_OOV].extend(out[contract.HAS_OOV].numpy().tolist())
        counts[contract.OOV_COUNT].extend(out[contract.OOV_COUNT].numpy().tolist())
        kept = out[contract.TOKEN_COUNT].numpy() - out[contract.DROPPED_TOKEN_COUNT].numpy()
        counts["kept_tokens"].extend(kept.tolist())
    return counts


def _predict(signature, texts: List[str]) -> List[str]:
    labels: List[str] = []
    for start in range(0, len(texts), BATCH):
        out = signature(**{contract.TEXT_INPUT: tf.constant(texts[start:start + BATCH])})
        labels.extend(label.decode("utf-8") for label in out[contract.LABEL].numpy())
    return labels


def _accuracy(correct: List[bool]) -> float:
    return sum(correct) / len(correct) if correct else float("nan")


def _correct_bits(correct: List[bool]) -> str:
    return "".join("1" if c else "0" for c in correct)


def _nearest_hits(model_dir: str, lexicon: str) -> dict:
    from embeddings import model as embedding_model  # pylint: disable=import-outside-toplevel
    from embeddings import report  # pylint: disable=import-outside-toplevel
    return report.misspelling_scores(embedding_model.load(model_dir), lexicon)


def evaluate_phase(models: Dict[Tuple[str, int], str], graph_dir: str, dev_labels: List[str],
                   texts_by_rate: Dict[float, List[str]], misspelled: Optional[Dict[str, List[str]]] = None,
                   nearest_lexicon: Optional[str] = None, selection: Optional[dict] = None) -> dict:
    """Dev accuracy of every model at every typo rate and on every ``misspelled`` set,
    OOV-slice accuracy (clean), per-example correctness (``correct``: a 0/1 string per
    set, for paired tests) and, with ``nearest_lexicon``, the nearest-word hits of its
    misspellings. ``selection`` (``labels``, ``clean`` and ``misspelled`` texts of the
    held-out slice of train) gives each model a ``selection`` accuracy on both, for
    choosing settings without looking at the dev set.

    Returns ``{"oov": {...}, "models": {(variant, seed): {...}}}``.
    """
    misspelled = misspelled or {}

    layer = tft.TFTransformOutput(graph_dir).transform_features_layer()
    counts = {rate: _transformed_counts(layer, texts) for rate, texts in texts_by_rate.items()}
    has_oov = counts[0.0][contract.HAS_OOV]
    oov = {
        "examples": len(has_oov),
        "examples_with_oov": int(sum(has_oov)),
        "token_oov_rate": {rate: sum(c[contract.OOV_COUNT]) / max(1, sum(c["kept_tokens"]))
                           for rate, c in counts.items()},
    }
    results = {}
    for (variant, seed), model_dir in sorted(models.items()):
        signature = charword.load_model(model_dir).signatures[contract.PREDICT_TEXT]
        entry = {"accuracy": {}, "misspelled": {}, "correct": {}}
        for rate, texts in texts_by_rate.items():
            correct = [p == g for p, g in zip(_predict(signature, texts), dev_labels)]
            entry["accuracy"][rate] = _accuracy(correct)
            if rate == 0.0:
                entry["oov_accuracy"] = _accuracy([c for c, o in zip(correct, has_oov) if o])
                entry["in_vocab_accuracy"] = _accuracy([c for c, o in zip(correct, has_oov) if not o])
                entry["correct"]["clean"] = _correct_bits(correct)
        for name, texts in misspelled.items():
            correct = [p == g for p, g in zip(_predict(signature, texts), dev_labels)]
            entry["misspelled"][name] = _accuracy(correct)
            entry["correct"][name] = _correct_bits(correct)
        if selection:
            entry["selection"] = {
                kind: _accuracy([p == g for p, g in zip(_predict(signature, selection[kind]), selection["labels"])])
                for kind in ("clean", "misspelled")}
        if nearest_lexicon:
            entry["nearest"] = _nearest_hits(model_dir, nearest_lexicon)
        results[(variant, seed)] = entry
        progress(f"  evaluated {variant} seed {seed}: "
                 + ", ".join(f"p={rate:g} {acc:.3f}" for rate, acc in entry["accuracy"].items())
                 + "".join(f", {name} {acc:.3f}" for name, acc in entry["misspelled"].items())
                 + f", OOV slice {entry['oov_accuracy']:.3f}")
    return {"oov": oov, "models": results}
