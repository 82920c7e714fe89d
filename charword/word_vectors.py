"""Reads pretrained word vectors in the text formats of GloVe, word2vec and fastText.

One word a line, ``word v_1 ... v_D`` separated by spaces; plain or gzip-compressed
(``.gz``); read with ``tf.io.gfile``, so ``gs://`` and every other TensorFlow
filesystem work. Rules:

* an optional first line ``N D`` (word2vec and fastText ``.vec`` headers) gives the
  number of vectors and their dimension; without it the first line fixes ``D``;
* blank lines are skipped; every other line must have ``D`` values; a line with another count stops the read with the
  file and line number (``glove.txt.gz, line 7: 49 values, expected 50``);
* file words are normalised as the preprocessing normalises text: Unicode NFKC, then
  lower-cased when ``lowercase`` (:func:`normalize_word`). When several file words
  normalise to the same word, the first occurrence wins (files list frequent words
  first, so ``the`` wins over ``The``);
* only the words asked for are parsed into floats: each line is split at its first
  space and the word looked up before the rest is touched, so a 400,000-word file
  costs little more than reading it (measured in docs/pretrained.md).

Words must not contain spaces (true of GloVe 6B/42B, word2vec and fastText files).
"""
import gzip
import unicodedata
from dataclasses import dataclass
from typing import Collection, Dict, Iterator, Optional, Tuple

import numpy as np


class WordVectorsError(ValueError):
    """A vectors file that cannot be read; the message names the file and the line."""


@dataclass(frozen=True)
class WordVectors:
    """Vectors read from a file.

    Attributes:
      path: the file read.
      dim: values per vector (``D``).
      index: normalised word -> row of ``vectors``.
      vectors: float32 ``[len(index), D]``.
      lines: word lines in the file (header excluded).
    """

    path: str
    dim: int
    index: Dict[str, int]
    vectors: np.ndarray
    lines: int

    def get(self, word: str) -> Optional[np.ndarray]:
        """The vector of an already normalised word, or None."""
        row = self.index.get(word)
        return None if row is None else self.vectors[row]


def normalize_word(word: str, lowercase: bool) -> str:
    """NFKC, then lower-case when ``lowercase``: what the preprocessing does to text."""
    if word.isascii():
        return word.lower() if lowercase else word
    word = unicodedata.normalize("NFKC", word)
    return word.lower() if lowercase else word


def _lines(path: str) -> Iterator[bytes]:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (only the read needs TF)
    try:
        with tf.io.gfile.GFile(path, "rb") as raw:
            yield from (gzip.GzipFile(fileobj=raw, mode="rb") if path.endswith(".gz") else raw)
    except tf.errors.NotFoundError:
        raise WordVectorsError(f"{path}: no such file") from None
    except (OSError, EOFError, tf.errors.OpError) as error:
        raise WordVectorsError(f"{path}: cannot read the file ({error})") from None


def _header(first: bytes) -> Optional[Tuple[int, int]]:
    fields = first.split()
    if len(fields) == 2 and all(field.isdigit() for field in fields):
        return int(fields[0]), int(fields[1])
    return None


def _bad_line(path: str, number: int, rest: bytes, problem: str) -> WordVectorsError:
    try:
        rest.decode("ascii")
    except UnicodeDecodeError:
        problem = ("the values are not text (binary word2vec files are not supported; convert them to the text "
                   "format)")
    return WordVectorsError(f"{path}, line {number}: {problem}")


def _values(path: str, number: int, rest: bytes, dim: int) -> np.ndarray:
    fields = rest.split()
    if len(fields) != dim:
        raise _bad_line(path, number, rest, f"{len(fields)} values, expected {dim}")
    try:
        return np.array([float(field) for field in fields], dtype=np.float32)
    except ValueError:
        raise _bad_line(path, number, rest, "a value is not a number") from None


def read_word_vectors(path: str, words: Optional[Collection[str]] = None, lowercase: bool = True) -> WordVectors:
    """Reads the vectors of ``words`` (normalised words; None: every word) from ``path``.

    Raises :class:`WordVectorsError` for a missing, empty, binary or malformed file.
    """
    wanted = None if words is None else set(words)
    index: Dict[str, int] = {}
    rows = []
    dim, expected, lines, number = 0, None, 0, 0
    for number, line in enumerate(_lines(path), start=1):
        line = line.rstrip()
        if number == 1:
            header = _header(line)
            if header is not None:
                expected, dim = header
                continue
        if not line:
            continue
        word_bytes, _, rest = line.partition(b" ")
        if not dim:
            dim = len(rest.split())
            if dim == 0:
                raise WordVectorsError(f"{path}, line {number}: a word without values")
        elif rest.count(b" ") + 1 != dim and len(rest.split()) != dim:
            raise _bad_line(path, number, rest, f"{len(rest.split())} values, expected {dim}")
        lines += 1
        try:
            word = normalize_word(word_bytes.decode("utf-8"), lowercase)
        except UnicodeDecodeError:
            raise WordVectorsError(f"{path}, line {number}: the word is not UTF-8 text") from None
        if word in index or (wanted is not None and word not in wanted):
            continue
        index[word] = len(rows)
        rows.append(_values(path, number, rest, dim))
    if lines == 0:
        raise WordVectorsError(f"{path}: no vectors in the file" + (" (empty)" if number == 0 else ""))
    if expected is not None and expected != lines:
        raise WordVectorsError(f"{path}: the header announces {expected} vectors, the file holds {lines}")
    vectors = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
    return WordVectors(path, dim, index, vectors, lines)
