"""Reads a benchmark's data with the project's reader and splits it deterministically.

``--data`` is a directory holding ``train.{tsv,csv}`` and one of ``dev``, ``validation``,
``valid``, ``eval`` or ``test`` (``.tsv``/``.csv``), a train file with ``--eval-data``,
or one file that is split (seeded) into train and dev. Every file goes through
:func:`charword.data.stage_dataset`, so the usual column names, delimiters and
row-drop policy apply. A share of the (sampled) training rows is held out: the
Trainer's eval split (early stopping) and the selection set settings are chosen on;
the dev set stays unseen until evaluation.
"""
import csv
import os
import random
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from charword import contract
from charword.config import DataConfig
from charword.data import DataError, StagedData, stage_dataset

Label = Union[int, str]
Row = Tuple[str, Label]

TRAIN_STEMS = ("train",)
DEV_STEMS = ("dev", "validation", "valid", "eval", "test")
TEXT_GUESSES = ("text", "sentence", "review", "content", "document", "tweet")
LABEL_GUESSES = ("label", "labels", "sentiment", "class", "target")


@dataclass(frozen=True)
class Splits:
    """Rows of each split (labels are ints when every label is an integer)."""

    train: List[Row]
    validation: List[Row]
    dev: List[Row]
    labels: Tuple[str, ...]
    train_file: str
    dev_file: str
    text_column: str
    label_column: str
    train_rows_available: int


def _by_stem(directory: str, stems: Sequence[str]) -> Optional[str]:
    names = set(os.listdir(directory))
    for stem in stems:
        for ext in (".tsv", ".csv"):
            if f"{stem}{ext}" in names:
                return os.path.join(directory, f"{stem}{ext}")
    return None


def locate(data: str, eval_data: Optional[str]) -> Tuple[str, Optional[str]]:
    """``(train_file, dev_file or None)``; ``None`` means: split the train file."""
    if eval_data:
        return data, eval_data
    if os.path.isfile(data):
        return data, None
    if not os.path.isdir(data):
        raise DataError(f"{data}: no such file or directory")
    train, dev = _by_stem(data, TRAIN_STEMS), _by_stem(data, DEV_STEMS)
    if not train or not dev:
        raise DataError(f"{data}: expected train.tsv|csv and one of {', '.join(DEV_STEMS)} (.tsv|.csv); "
                        "or pass one file (split deterministically) or --eval-data")
    return train, dev


def resolve_columns(path: str, text_column: Optional[str], label_column: Optional[str]) -> Tuple[str, str]:
    """The given column names, else the first common name found in the header."""
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with open(path, encoding="utf-8-sig", newline="") as handle:
        header = [name.strip() for name in next(csv.reader(handle, delimiter=delimiter), [])]

    def pick(given, guesses, role):
        if given:
            return given
        for name in guesses:
            if name in header:
                return name
        raise DataError(f"{path}: no {role} column among {header}; name it with --{role}-column")
    return pick(text_column, TEXT_GUESSES, "text"), pick(label_column, LABEL_GUESSES, "label")


def _read_staged(staged: StagedData, integers: bool) -> List[Row]:
    with open(staged.csv_path, encoding="utf-8", newline="") as handle:
        return [(row[contract.RAW_TEXT], int(row[contract.RAW_LABEL]) if integers else row[contract.RAW_LABEL])
                for row in csv.DictReader(handle)]


def shuffled(rows: Sequence[Row], seed: int, salt: str) -> List[Row]:
    """A copy of ``rows`` in a seeded order (``salt`` names the purpose)."""
    rows = list(rows)
    random.Random(f"{salt}:{seed}").shuffle(rows)
    return rows


def _shingles(tokens: Sequence[str], size: int) -> List[Tuple[str, ...]]:
    return [tuple(tokens[i:i + size]) for i in range(len(tokens) - size + 1)]


def hold_out(rows: Sequence[Row], fraction: float, seed: int, overlap_tokens: int = 5
             ) -> Tuple[List[Row], List[Row]]:
    """``(training rows, held-out rows)`` with about ``fraction`` of ``rows`` held out and
    no training row overlapping a held-out one: rows are drawn in a seeded order, and
    each drawn row brings along every row whose text contains it or is contained in it
    (whole tokens, at least ``overlap_tokens`` of them), and the rows contained in those."""
    tokens = [text.split() for text, _ in rows]
    by_text: dict = {}
    by_shingle: dict = {}
    for i, words in enumerate(tokens):
        by_text.setdefault(tuple(words), []).append(i)
        for shingle in set(_shingles(words, overlap_tokens)):
            by_shingle.setdefault(shingle, []).append(i)

    def containing(i: int) -> List[int]:
        words = tokens[i]
        if len(words) < overlap_tokens:
            return by_text[tuple(words)]
        needle = f" {' '.join(words)} "
        return [j for j in by_shingle[tuple(words[:overlap_tokens])] if needle in f" {' '.join(tokens[j])} "]

    def contained(i: int) -> List[int]:
        words = tokens[i]
        return [j for size in range(overlap_tokens, len(words) + 1) for gram in set(_shingles(words, size))
                for j in by_text.get(gram, ())]

    order = list(range(len(rows)))
    random.Random(f"hold-out:{seed}").shuffle(order)
    held: set = set()
    wanted = max(1, round(fraction * len(rows)))
    for i in order:
        if len(held) >= wanted:
            break
        if i in held:
            continue
        for j in containing(i):
            held.add(j)
            held.update(contained(j))
    return [row for i, row in enumerate(rows) if i not in held], [row for i, row in enumerate(rows) if i in held]


def whole_texts(rows: Sequence[Row]) -> List[Row]:
    """The rows whose text no other row contains (the sentences of a phrase data set)."""
    texts = {f" {text} " for text, _ in rows}
    return [row for row in rows if not any(f" {row[0]} " in other and f" {row[0]} " != other for other in texts)]


def load_splits(data: str, eval_data: Optional[str], text_column: Optional[str], label_column: Optional[str],
                work_dir: str, seed: int, held_out_fraction: float = 0.05, dev_fraction: float = 0.1,
                train_limit: Optional[int] = None) -> Splits:
    """Stages, samples (at most ``train_limit`` training rows) and splits the data (see
    the module docstring); ``dev_fraction`` of a single file becomes the dev set."""
    train_file, dev_file = locate(data, eval_data)
    text_column, label_column = resolve_columns(train_file, text_column, label_column)
    cfg = DataConfig(text_column=text_column, label_column=label_column)
    staged_train = stage_dataset(train_file, os.path.join(work_dir, "staged", "train"), cfg)
    staged_dev = stage_dataset(dev_file, os.path.join(work_dir, "staged", "dev"), cfg) if dev_file else None
    integers = staged_train.labels_are_integers and (staged_dev is None or staged_dev.labels_are_integers)
    rows = _read_staged(staged_train, integers)
    if staged_dev is None:
        rows = shuffled(rows, seed, "dev-split")
        n_dev = max(1, round(dev_fraction * len(rows)))
        dev, rows = rows[:n_dev], rows[n_dev:]
    else:
        dev = _read_staged(staged_dev, integers)
    available = len(rows)
    rows = shuffled(rows, seed, "train-sample")[: train_limit or None]
    train, validation = hold_out(rows, held_out_fraction, seed)
    labels = tuple(sorted({str(label) for _, label in train}, key=int if integers else str))
    unknown = {str(label) for _, label in dev} - set(labels)
    if unknown:
        raise DataError(f"dev labels {sorted(unknown)} never occur in the training rows")
    return Splits(train, validation, dev, labels, train_file, dev_file or f"{train_file} (seeded split)",
                  text_column, label_column, available)
