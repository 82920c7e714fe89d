"""Stages the data of a training run as ExampleGen's two splits, after checking what
can be checked before any pipeline step runs.

:func:`prepare` reads the data (and the held-out eval file, if any), checks its
classes and splits it, writing nothing; :func:`write` then writes
``<out_dir>/splits/train/data.csv``, ``<out_dir>/splits/eval/data.csv`` and
``<out_dir>/staging_report.json``. So a refused run leaves no file behind.

Checks, each a :class:`charword.data.DataError` naming the file, the problem and the fix:

* at least two classes, and at least ``data.min_class_rows`` rows of every class;
* with a held-out eval file: its labels are classes of the training data, typed alike;
* a non-empty eval split.

:func:`prepare_texts` and :func:`write_texts_splits` stage unlabelled texts for
pretraining the same way, without the class checks.

The split (without a held-out file) is stratified so that every class trains: each
text hashes into one of ``data.train_buckets + data.eval_buckets`` buckets and the last
``eval_buckets`` make the eval split, except for a class none of whose rows hashed into
train, which stays wholly in train. The hash is of the text alone (identical texts share
a split) and is stable, so a row keeps its split when rows are added.
"""
import collections
import dataclasses
import hashlib
import os
from typing import Dict, List, Optional, Tuple

from charword.config import DataConfig
from charword.data import (
    STAGED_CSV,
    STAGING_REPORT,
    DataError,
    Row,
    StagedData,
    read_dataset,
    report,
    write_report,
    write_rows,
    write_texts,
)

SPLITS = ("train", "eval")  # ExampleGen's splits, each a folder of the data root
SPLITS_DIR = "splits"  # the data root, inside the staging folder
LISTED_CLASSES = 10  # rare classes named in a message


@dataclasses.dataclass(frozen=True)
class StagedSplits:
    """The staged training data and its split (paths set once :func:`write` ran)."""

    data: StagedData  # the training data as read
    held_out: Optional[StagedData]  # the held-out eval file as read, if any
    split_rows: Dict[str, Tuple[Row, ...]]  # split name -> rows
    class_rows: Dict[str, Dict[str, int]]  # class -> split name -> rows
    kept_in_train: Tuple[str, ...]  # classes kept wholly in train by the stratified split
    data_root: Optional[str] = None
    report_path: Optional[str] = None

    @property
    def label_values(self) -> Tuple[str, ...]:
        return self.data.label_values

    @property
    def labels_are_integers(self) -> bool:
        return self.data.labels_are_integers

    def csv_path(self, split: str) -> str:
        return os.path.join(self.data_root, split, STAGED_CSV)


def prepare(source: str, cfg: DataConfig) -> StagedSplits:
    """Reads ``source`` (and ``cfg.eval_data``), checks the classes and splits; writes nothing."""
    rows, data = read_dataset(source, cfg)
    counts = collections.Counter(label for _, label in rows)
    _check_classes(source, counts, cfg)
    held_out = None
    if cfg.eval_data:
        eval_rows, held_out = read_dataset(cfg.eval_data, cfg)
        _check_held_out(source, data, cfg.eval_data, held_out)
        split, kept_in_train = {"train": rows, "eval": eval_rows}, ()
    else:
        split, kept_in_train = _stratified_split(rows, cfg)
    if not split["eval"]:
        raise DataError(f"{source}: the eval split is empty: none of the {len(rows)} rows hashed into the eval "
                        f"buckets (data.eval_buckets={cfg.eval_buckets} of {cfg.train_buckets + cfg.eval_buckets}). "
                        "Add rows, or hold out an eval file with --eval-data")
    class_rows = {label: {name: 0 for name in SPLITS} for label in data.label_values}
    for name, split_rows in split.items():
        for _, label in split_rows:
            class_rows[label][name] += 1
    return StagedSplits(data, held_out, {name: tuple(split[name]) for name in SPLITS}, class_rows, kept_in_train)


def write(prepared: StagedSplits, out_dir: str) -> StagedSplits:
    """Writes the splits and the staging report under ``out_dir``; returns them with their paths."""
    data_root = os.path.join(out_dir, SPLITS_DIR)
    staged = dataclasses.replace(prepared, data_root=data_root, report_path=os.path.join(out_dir, STAGING_REPORT))
    for name in SPLITS:
        write_rows(list(prepared.split_rows[name]), staged.csv_path(name))
    write_report({"data": report(prepared.data), "eval_data": report(prepared.held_out) if prepared.held_out else None,
                  "split": {"method": "held-out file" if prepared.held_out else "stratified hash buckets",
                            "rows": {name: len(rows) for name, rows in prepared.split_rows.items()},
                            "class_rows": prepared.class_rows, "kept_in_train": list(prepared.kept_in_train),
                            "files": {name: staged.csv_path(name) for name in SPLITS}}},
                 staged.report_path)
    return staged


@dataclasses.dataclass(frozen=True)
class StagedTexts:
    """Unlabelled texts staged for pretraining (paths set once :func:`write_texts_splits` ran)."""

    data: StagedData
    split_texts: Dict[str, Tuple[str, ...]]  # split name -> texts
    data_root: Optional[str] = None
    report_path: Optional[str] = None

    def csv_path(self, split: str) -> str:
        return os.path.join(self.data_root, split, STAGED_CSV)


def prepare_texts(source: str, cfg: DataConfig) -> StagedTexts:
    """Reads the unlabelled texts of ``source`` (text files, one text a line, or CSV/TSV
    with the ``data.text_column``) and hash-splits them as :func:`prepare` does (the eval
    split measures perplexity); writes nothing."""
    rows, data = read_dataset(source, cfg, labelled=False)
    buckets = cfg.train_buckets + cfg.eval_buckets
    split: Dict[str, List[str]] = {name: [] for name in SPLITS}
    for text, _ in rows:
        split["eval" if _bucket(text, buckets) >= cfg.train_buckets else "train"].append(text)
    for name in SPLITS:
        if not split[name]:
            raise DataError(f"{source}: the {name} split is empty: none of the {len(rows)} texts hashed into it "
                            f"(data.train_buckets={cfg.train_buckets}, data.eval_buckets={cfg.eval_buckets}); "
                            "add texts")
    return StagedTexts(data, {name: tuple(texts) for name, texts in split.items()})


def write_texts_splits(prepared: StagedTexts, out_dir: str) -> StagedTexts:
    """Writes the text splits (one ``text`` column) and the staging report under ``out_dir``."""
    staged = dataclasses.replace(prepared, data_root=os.path.join(out_dir, SPLITS_DIR),
                                 report_path=os.path.join(out_dir, STAGING_REPORT))
    for name in SPLITS:
        write_texts(list(prepared.split_texts[name]), staged.csv_path(name))
    write_report({"data": report(prepared.data),
                  "split": {"method": "hash buckets", "rows": {name: len(texts) for name, texts in
                                                               prepared.split_texts.items()},
                            "files": {name: staged.csv_path(name) for name in SPLITS}}},
                 staged.report_path)
    return staged


def _check_classes(source: str, counts: Dict[str, int], cfg: DataConfig) -> None:
    if len(counts) < 2:
        (label, rows), = counts.items()
        raise DataError(f"{source}: every usable row has the label {label!r} ({rows} rows, column "
                        f"{cfg.label_column!r}); a classifier needs at least 2 classes. Add rows of other classes, "
                        "or name the label column with --label-column")
    rare = sorted((rows, label) for label, rows in counts.items() if rows < cfg.min_class_rows)
    if rare:
        listed = ", ".join(f"{label!r} ({rows} row{'s' if rows > 1 else ''})" for rows, label in rare[:LISTED_CLASSES])
        more = f" and {len(rare) - LISTED_CLASSES} more" if len(rare) > LISTED_CLASSES else ""
        raise DataError(f"{source}: {len(rare)} of {len(counts)} classes {'has' if len(rare) == 1 else 'have'} fewer "
                        f"than data.min_class_rows="
                        f"{cfg.min_class_rows} rows (column {cfg.label_column!r}): {listed}{more}. Add rows of "
                        "these classes, merge or drop them, or lower data.min_class_rows with --config")


def _check_held_out(source: str, data: StagedData, eval_source: str, held_out: StagedData) -> None:
    unknown = sorted(set(held_out.label_values) - set(data.label_values))
    if unknown:
        raise DataError(f"{eval_source}: eval labels {unknown} never occur in the training data {source} "
                        f"(classes {list(data.label_values)})")
    if held_out.labels_are_integers != data.labels_are_integers:
        kinds = {True: "integers", False: "strings"}
        raise DataError(f"{eval_source}: eval labels are {kinds[held_out.labels_are_integers]}, the training "
                        f"labels in {source} are {kinds[data.labels_are_integers]}")


def _bucket(text: str, buckets: int) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") % buckets


def _stratified_split(rows: List[Row], cfg: DataConfig) -> Tuple[Dict[str, List[Row]], Tuple[str, ...]]:
    buckets = cfg.train_buckets + cfg.eval_buckets
    in_eval = [_bucket(text, buckets) >= cfg.train_buckets for text, _ in rows]
    trains = {label for (_, label), evaluated in zip(rows, in_eval) if not evaluated}
    kept_in_train = tuple(sorted({label for _, label in rows} - trains))
    split: Dict[str, List[Row]] = {name: [] for name in SPLITS}
    for row, evaluated in zip(rows, in_eval):
        split["eval" if evaluated and row[1] not in kept_in_train else "train"].append(row)
    return split, kept_in_train
