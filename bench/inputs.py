"""Reads the benchmark's data with the project's reader and splits it deterministically.

``--data`` is a directory holding ``train.{tsv,csv}`` and one of ``dev``, ``validation``,
``valid``, ``eval`` or ``test`` (``.tsv``/``.csv``), a train file with ``--eval-data``,
or one file that is split (seeded) into train and dev. Every file goes through
:func:`charword.data.stage_dataset`, so the usual column names, delimiters and
row-drop policy apply. A share of the (sampled) training rows becomes the Trainer's
eval split, used only for early stopping: the dev set stays unseen until evaluation.
"""
import csv
import os
import random
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple, Union

from bench.settings import BenchSettings
from charword import contract
from charword.config import DataConfig
from charword.data import DataError, StagedData, stage_dataset

Label = Union[int, str]
Row = Tuple[str, Label]

TRAIN_STEMS = ("train",)
DEV_STEMS = ("dev", "validation", "valid", "eval", "test")
TEXT_GUESSES = ("text", "sentence", "review", "content", "document")
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
    names = sorted(os.listdir(directory))
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


def _header(path: str) -> List[str]:
    delimiter = "\t" if path.lower().endswith(".tsv") else ","
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return [name.strip() for name in next(csv.reader(handle, delimiter=delimiter), [])]


def resolve_columns(path: str, text_column: Optional[str], label_column: Optional[str]) -> Tuple[str, str]:
    """The given column names, else the first common name found in the header."""
    header = _header(path)

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
        reader = csv.reader(handle)
        next(reader)
        return [(text, int(label) if integers else label) for text, label in reader]


def _shuffled(rows: List[Row], seed: int, salt: str) -> List[Row]:
    rows = list(rows)
    random.Random(f"{salt}:{seed}").shuffle(rows)
    return rows


def load_splits(data: str, eval_data: Optional[str], text_column: Optional[str], label_column: Optional[str],
                settings: BenchSettings, work_dir: str) -> Splits:
    """Stages, samples and splits the data (see the module docstring)."""
    train_file, dev_file = locate(data, eval_data)
    text_column, label_column = resolve_columns(train_file, text_column, label_column)
    cfg = DataConfig(text_column=text_column, label_column=label_column)
    staged_train = stage_dataset(train_file, os.path.join(work_dir, "staged", "train"), cfg)
    staged_dev = stage_dataset(dev_file, os.path.join(work_dir, "staged", "dev"), cfg) if dev_file else None
    integers = staged_train.labels_are_integers and (staged_dev is None or staged_dev.labels_are_integers)
    rows = _read_staged(staged_train, integers)
    if staged_dev is None:
        rows = _shuffled(rows, settings.split_seed, "dev-split")
        n_dev = max(1, round(settings.split_eval_fraction * len(rows)))
        dev, rows = rows[:n_dev], rows[n_dev:]
    else:
        dev = _read_staged(staged_dev, integers)
    available = len(rows)
    rows = _shuffled(rows, settings.split_seed, "train-sample")[: settings.train_limit or None]
    n_val = max(1, round(settings.validation_fraction * len(rows)))
    validation, train = rows[:n_val], rows[n_val:]
    labels = tuple(sorted({str(label) for _, label in train}, key=int if integers else str))
    unknown = {str(label) for _, label in dev} - set(labels)
    if unknown:
        raise DataError(f"dev labels {sorted(unknown)} never occur in the training rows")
    return Splits(train, validation, dev, labels, train_file, dev_file or f"{train_file} (seeded split)",
                  text_column, label_column, available)


def token_sample(rows: Sequence[Row], tokens: int, seed: int) -> List[Row]:
    """Seeded-shuffled rows, cycled, until they hold ``tokens`` whitespace tokens."""
    shuffled = _shuffled(list(rows), seed, "token-sample")
    sample, count = [], 0
    while count < tokens:
        row = shuffled[len(sample) % len(shuffled)]
        sample.append(row)
        count += len(row[0].split())
    return sample


def sample_rows(path: str, text_column: str, label_column: str, rows: int, seed: int,
                work_dir: str) -> Tuple[List[Row], List[Row]]:
    """``rows`` seeded-sampled ``(text, label)`` rows of one file, staged by the project's
    reader (labels as strings), split 90/10 into train and eval."""
    staged = stage_dataset(path, os.path.join(work_dir, "staged"),
                           DataConfig(text_column=text_column, label_column=label_column))
    with open(staged.csv_path, encoding="utf-8", newline="") as handle:
        pairs: List[Row] = [(row[contract.RAW_TEXT], row[contract.RAW_LABEL]) for row in csv.DictReader(handle)]
    random.Random(seed).shuffle(pairs)
    pairs = pairs[:rows]
    cut = max(1, len(pairs) // 10)
    return pairs[cut:], pairs[:cut]
