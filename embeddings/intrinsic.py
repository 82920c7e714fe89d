"""Intrinsic scores of word vectors.

Word similarity: Spearman's rank correlation between the cosine similarity of the two
words' vectors and the human score, over the pairs whose words both have a vector
(coverage reported). Files: ``#`` comment lines, then ``word1<TAB>word2<TAB>score``
(WordSim-353, SimLex-999 as gensim ships them).

Misspelling neighbours: for ``(misspelling, correction)`` pairs whose correction is a
vocabulary word, how often the correction is among the ``k`` vocabulary words nearest
to the misspelling's vector (the misspelling itself left out when it is a vocabulary
word too).
"""
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
from scipy import stats

from embeddings.neighbours import VocabularyIndex, unit

Lookup = Callable[[str], Optional[np.ndarray]]


class SimilarityFileError(ValueError):
    """A word-similarity file that cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class SimilaritySet:
    """Word pairs with human similarity scores."""

    name: str
    pairs: Tuple[Tuple[str, str, float], ...]


def read_similarity(path: str) -> SimilaritySet:
    """Reads a word-similarity file (see the module docstring); named after the file."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (tf.io.gfile: gs:// too)
    try:
        with tf.io.gfile.GFile(path) as handle:
            lines = handle.read().splitlines()
    except tf.errors.OpError as error:
        raise SimilarityFileError(f"{path}: cannot read the file ({error.message})") from None
    pairs = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        try:
            if len(fields) != 3:
                raise ValueError
            pairs.append((fields[0].strip(), fields[1].strip(), float(fields[2])))
        except ValueError:
            raise SimilarityFileError(f"{path}, line {number}: expected 'word1<TAB>word2<TAB>score', "
                                      f"got {line!r}") from None
    if not pairs:
        raise SimilarityFileError(f"{path}: no word pairs in the file")
    return SimilaritySet(os.path.splitext(os.path.basename(path))[0], tuple(pairs))


def spearman(pairs: Sequence[Tuple[str, str, float]], lookup: Lookup) -> Dict[str, float]:
    """``{"spearman", "pairs_used", "pairs"}``: Spearman's rho of cosine similarity vs the
    human score over the pairs both of whose words ``lookup`` finds (None: not found)."""
    cosines, scores = [], []
    for first, second, score in pairs:
        a, b = lookup(first), lookup(second)
        if a is None or b is None or not (np.isfinite(a).all() and np.isfinite(b).all()):
            continue
        cosines.append(float(unit(a) @ unit(b)))
        scores.append(score)
    rho = float(stats.spearmanr(cosines, scores).correlation) if len(cosines) >= 2 else float("nan")
    return {"spearman": rho, "pairs_used": len(cosines), "pairs": len(pairs)}


def misspelling_neighbours(pairs: Sequence[Tuple[str, str]], vectors: np.ndarray, index: VocabularyIndex,
                           ks: Sequence[int] = (1, 5, 10)) -> Dict[str, object]:
    """Hits at each ``k`` for normalised ``(misspelling, correction)`` pairs whose
    correction is in ``index``; ``vectors`` [len(pairs), dim] are the misspellings'."""
    used = [i for i, (wrong, right) in enumerate(pairs)
            if right in index.position and wrong != right and np.isfinite(vectors[i]).all()]
    nearest = index.nearest(vectors[used], max(ks), exclude=[pairs[i][0] for i in used])
    ranks: List[Optional[int]] = []
    for i, found in zip(used, nearest):
        words = [word for word, _ in found]
        ranks.append(words.index(pairs[i][1]) + 1 if pairs[i][1] in words else None)
    hits = {f"hits_at_{k}": (sum(1 for r in ranks if r is not None and r <= k) / len(ranks) if ranks
                             else float("nan")) for k in ks}
    oov = sum(1 for i in used if pairs[i][0] not in index.position)
    return {**hits, "pairs_used": len(used), "pairs": len(pairs), "misspellings_out_of_vocabulary": oov}
