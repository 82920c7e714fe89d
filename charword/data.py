"""Reads CSV/TSV files and stages them as clean CSV for TFX's CsvExampleGen.

:func:`read_dataset` reads and checks a source and writes nothing; :func:`stage_dataset`
also writes it. A training run stages its train and eval splits with
:mod:`charword.staging`, which checks the classes first.

Policies:

* ``source`` is a file, or a directory whose ``*.csv`` and ``*.tsv`` files (not
  recursive) are read in name order; every file has its own header. Unlabelled texts
  (pretraining) may also come as ``*.txt`` files, one text a line, no header.
* Files are UTF-8 (a leading byte-order mark is dropped); any line ending works. The
  delimiter is ``data.delimiter``, else a tab for ``.tsv`` files and a comma otherwise.
* Row numbers in messages are what a spreadsheet shows: the header is row 1. Blank
  lines are skipped (they still count in row numbers).
* Unreadable data stops staging with a :class:`DataError`. A row with empty or
  whitespace-only text or an empty label is dropped and counted, unless more than
  ``data.max_dropped_fraction`` of the rows read would be dropped.
* A quoted cell may hold line breaks (legal CSV); such cells are counted and the first
  is reported with its row and lines, since a quote left open by a broken export makes
  one row of several.
* Text longer than ``data.max_text_chars`` characters is cut to that length and the
  row counted as truncated: CsvExampleGen's CSV parser refuses cells over 131,072
  characters, and the model keeps only the first ``preprocessing.max_tokens`` tokens.
* The staged file ``<out_dir>/data.csv`` has exactly the columns ``text,label``, one
  record per line (line breaks inside a cell become one space) and every value quoted.
  It is rewritten only when its bytes change: ExampleGen's input fingerprint includes
  file modification times, so an unchanged file lets TFX reuse cached outputs.
"""
import csv
import dataclasses
import io
import json
import os
import re
import tempfile
from dataclasses import dataclass
from typing import List, Optional, Tuple

from charword import contract
from charword.config import DataConfig

STAGED_CSV = "data.csv"
TABLE_SUFFIXES = (".csv", ".tsv")
TEXT_SUFFIXES = (".csv", ".tsv", ".txt")  # unlabelled texts (pretraining)
STAGING_REPORT = "staging_report.json"
REPORTED_DROPPED_ROWS = 100

_BOM = b"\xef\xbb\xbf"
_LINE_BREAKS = re.compile("[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_INTEGER = re.compile("-?[0-9]+")


class DataError(ValueError):
    """Data that cannot be staged; the message names the file, and the row and column."""


@dataclass(frozen=True)
class DroppedRow:
    """A row left out of the staged data, and why."""

    file: str
    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class MultilineCell:
    """A cell whose text runs over several lines of the file (a quoted line break)."""

    file: str
    row: int
    lines: Tuple[int, int]
    column: str
    preview: str

    def __str__(self) -> str:
        return (f"{self.file}, row {self.row} (lines {self.lines[0]}-{self.lines[1]}), column {self.column!r}: "
                f"{self.preview!r}")


@dataclass(frozen=True)
class StagedData:
    """What :func:`read_dataset` found and :func:`stage_dataset` wrote (``csv_path``;
    ``None`` while nothing is written)."""

    csv_path: Optional[str]
    source_files: Tuple[str, ...]
    rows_read: int
    rows_kept: int
    dropped: Tuple[DroppedRow, ...]
    label_values: Tuple[str, ...]
    labels_are_integers: bool
    truncated_rows: int
    multiline_cells: int = 0
    first_multiline_cell: Optional[MultilineCell] = None


Row = Tuple[str, str]


def read_dataset(source: str, cfg: DataConfig, labelled: bool = True) -> Tuple[List[Row], StagedData]:
    """The usable ``(text, label)`` rows of ``source`` (texts cut to ``data.max_text_chars``)
    and what reading found; writes nothing. Raises :class:`DataError` on unreadable data.

    ``labelled=False`` reads texts alone (pretraining): no label column is needed, every
    label is ``""``, and ``.txt`` files (one text a line) are read too."""
    files = _source_files(source, TEXT_SUFFIXES if not labelled else TABLE_SUFFIXES)
    kept: List[Row] = []
    dropped: List[DroppedRow] = []
    multiline: List[MultilineCell] = []
    rows_read = 0
    for path in files:
        if path.lower().endswith(".txt"):
            rows_read += _read_lines(path, kept, dropped)
        else:
            rows_read += _read_file(path, cfg, kept, dropped, multiline, labelled)
    truncated_rows = sum(len(text) > cfg.max_text_chars for text, _ in kept)
    kept = [(text[: cfg.max_text_chars], label) for text, label in kept]
    if len(dropped) / rows_read > cfg.max_dropped_fraction:  # every file has at least one row
        first = "; ".join(f"{d.file} row {d.row} ({d.field}): {d.reason}" for d in dropped[:5])
        raise DataError(f"{len(dropped)} of {rows_read} rows dropped ({len(dropped) / rows_read:.1%}), more than "
                        f"data.max_dropped_fraction={cfg.max_dropped_fraction:g}; first: {first}")
    labels = {label for _, label in kept}
    integers = all(_INTEGER.fullmatch(label) for label in labels)
    return kept, StagedData(
        csv_path=None, source_files=tuple(files), rows_read=rows_read, rows_kept=len(kept), dropped=tuple(dropped),
        label_values=tuple(sorted(labels, key=int if integers else str)), labels_are_integers=integers,
        truncated_rows=truncated_rows, multiline_cells=len(multiline),
        first_multiline_cell=multiline[0] if multiline else None)


def write_rows(rows: List[Row], csv_path: str) -> None:
    """Writes ``rows`` as the staged CSV ``csv_path`` (unless its bytes are already there)."""
    os.makedirs(os.path.dirname(csv_path) or ".", exist_ok=True)
    _write_if_changed(csv_path, _staged_csv(rows))


def write_report(report: dict, path: str) -> None:
    """Writes a staging report (JSON) to ``path`` (unless its bytes are already there)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    _write_if_changed(path, (json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def report(staged: StagedData) -> dict:
    """``staged`` as a JSON-ready dict, the dropped rows capped at ``REPORTED_DROPPED_ROWS``."""
    values = dataclasses.asdict(staged)
    values["dropped"] = values["dropped"][:REPORTED_DROPPED_ROWS]
    values["dropped_total"] = len(staged.dropped)
    values["first_multiline_cell"] = str(staged.first_multiline_cell) if staged.first_multiline_cell else None
    return values


def stage_dataset(source: str, out_dir: str, cfg: DataConfig) -> StagedData:
    """Reads ``source`` and writes ``<out_dir>/data.csv`` and ``<out_dir>/staging_report.json``."""
    rows, staged = read_dataset(source, cfg)
    staged = dataclasses.replace(staged, csv_path=os.path.join(out_dir, STAGED_CSV))
    write_rows(rows, staged.csv_path)
    write_report(report(staged), os.path.join(out_dir, STAGING_REPORT))
    return staged


def _source_files(source: str, suffixes: Tuple[str, ...]) -> List[str]:
    if os.path.isfile(source):
        return [source]
    if not os.path.isdir(source):
        raise DataError(f"{source}: no such file or directory")
    files = [os.path.join(source, name) for name in sorted(os.listdir(source))
             if name.lower().endswith(suffixes) and os.path.isfile(os.path.join(source, name))]
    if not files:
        raise DataError(f"{source}: directory holds no {' or '.join(suffixes)} files")
    return files


def _read_lines(path: str, kept: List[Row], dropped: List[DroppedRow]) -> int:
    """Appends each non-blank line of a text file to ``kept`` as an unlabelled row;
    returns lines read (blank ones too, which are dropped)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        text = raw[len(_BOM) if raw.startswith(_BOM) else 0:].decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}, line {line}: invalid UTF-8 (byte 0x{raw[e.start]:02x} at byte offset {e.start}); "
                        "save the file as UTF-8") from None
    lines = text.splitlines()
    if not lines:
        raise DataError(f"{path}: no lines (the file is empty)")
    for number, line in enumerate(lines, start=1):
        if line.strip():
            kept.append((line, ""))
        else:
            dropped.append(DroppedRow(path, number, "line", "blank line"))
    return len(lines)


def _read_file(path: str, cfg: DataConfig, kept: List[Row], dropped: List[DroppedRow],
               multiline: List[MultilineCell], labelled: bool = True) -> int:
    """Appends the file's usable rows to ``kept``, the others to ``dropped`` and its cells
    that span lines to ``multiline``; returns rows read. Unlabelled: labels are ``""``."""
    delimiter = cfg.delimiter or ("\t" if path.lower().endswith(".tsv") else ",")
    records = _parse(path, _decode(path, delimiter), delimiter)
    if not records:
        raise DataError(f"{path}: no rows (the file is empty)")
    (_, _, header), body = records[0], records[1:]
    header = [name.strip() for name in header]
    text_index = _column(path, header, cfg.text_column, "text", delimiter)
    label_index = _column(path, header, cfg.label_column, "label", delimiter) if labelled else None
    if not body:
        raise DataError(f"{path}: no rows below the header")
    for row, lines, fields in body:
        if len(fields) != len(header):
            raise DataError(f"{path}, row {row}: {len(fields)} fields, but the header has {len(header)} "
                            f"(delimiter {delimiter!r}; quote cells that contain it)")
        for name, value in zip(header, fields):
            if len(value.encode("utf-8")) > cfg.max_field_bytes:
                raise DataError(f"{path}, row {row}, column {name!r}: cell is larger than "
                                f"data.max_field_bytes={cfg.max_field_bytes} bytes")
        if lines[0] != lines[1]:
            multiline.extend(MultilineCell(path, row, lines, name, value[:80]) for name, value in zip(header, fields)
                             if _LINE_BREAKS.search(value))
        text = _LINE_BREAKS.sub(" ", fields[text_index])
        label = _LINE_BREAKS.sub(" ", fields[label_index]).strip() if labelled else ""
        reason = ("empty text" if not text else "whitespace-only text" if not text.strip()
                  else "missing label" if labelled and not label else None)
        if reason:
            dropped.append(DroppedRow(path, row, header[label_index if reason == "missing label" else text_index],
                                      reason))
        else:
            kept.append((text, label))
    return len(body)


def _decode(path: str, delimiter: str) -> str:
    """The file's text; invalid UTF-8 is reported with its row, column and byte offset."""
    with open(path, "rb") as f:
        data = f.read()
    start = len(_BOM) if data.startswith(_BOM) else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as e:
        offset = start + e.start
        # Parse the valid text before the bad byte, plus a stand-in character, to find
        # the record and field that the bad byte belongs to.
        records = _parse(path, data[start:offset].decode("utf-8") + "?", delimiter)
        row, _, fields = records[-1]
        header_row, _, header = records[0]
        column = len(fields) - 1
        where = (f"header column {column + 1}" if row == header_row else
                 f"column {header[column].strip()!r}" if column < len(header) else f"column {column + 1}")
        raise DataError(f"{path}, row {row}, {where}: invalid UTF-8 (byte 0x{data[offset]:02x} at byte offset "
                        f"{offset}); save the file as UTF-8") from None


def _parse(path: str, text: str, delimiter: str) -> List[Tuple[int, Tuple[int, int], List[str]]]:
    """Non-blank records with their row numbers and their first and last line."""
    # csv's own cell limit counts characters; lift it here (the whole text is in memory
    # anyway) and let _read_file enforce data.max_field_bytes with a precise message.
    previous_limit = csv.field_size_limit(max(len(text), 1))
    records, row, line = [], 0, 0
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        for fields in reader:
            row += 1
            if fields:
                records.append((row, (line + 1, reader.line_num), fields))
            line = reader.line_num
    except csv.Error as e:
        raise DataError(f"{path}, row {row + 1}: not valid CSV ({e})") from None
    finally:
        csv.field_size_limit(previous_limit)
    return records


def _column(path: str, header: List[str], name: str, role: str, delimiter: str) -> int:
    positions = [i for i, found in enumerate(header) if found == name]
    if not positions:
        raise DataError(f"{path}: no {role} column {name!r}; columns found: {header} (delimiter {delimiter!r}). "
                        f"Name the {role} column with --{role}-column (data.{role}_column)")
    if len(positions) > 1:
        raise DataError(f"{path}: the header has {len(positions)} columns named {name!r}")
    return positions[0]


def write_texts(texts: List[str], csv_path: str) -> None:
    """Writes unlabelled ``texts`` as a staged CSV of the one column ``text`` (pretraining)."""
    os.makedirs(os.path.dirname(csv_path) or ".", exist_ok=True)
    _write_if_changed(csv_path, _staged_csv([(text,) for text in texts], (contract.RAW_TEXT,)))


def _staged_csv(rows: List[tuple], columns: Tuple[str, ...] = (contract.RAW_TEXT, contract.RAW_LABEL)) -> bytes:
    # TFX reads the header with a plain split(","), so it stays unquoted.
    out = io.StringIO()
    out.write(",".join(columns) + "\n")
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")


def _write_if_changed(path: str, content: bytes) -> None:
    """Atomic write (temporary file, then rename); an identical file is left untouched."""
    try:
        with open(path, "rb") as f:
            if f.read() == content:
                return
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
