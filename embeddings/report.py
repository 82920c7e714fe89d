"""Everything :mod:`embeddings` makes for one model, written to a directory:

  projector_config.pbtxt, metadata.tsv, word.tsv, char.tsv, merged.tsv   (projector.py)
  map.png                                                                (plot.py)
  report.md, report.json   word similarity and misspelling neighbours    (intrinsic.py)

Word similarity is scored for the pretrained vectors as loaded (``vectors``, read with
the model's lower-casing), the trained word branch (vocabulary words only: an
out-of-vocabulary word has only a shared hash bucket), the char branch and the merged
vectors (every word, out-of-vocabulary words included). The misspelling test uses the
merged and the char vectors.
"""
import json
import os
from typing import Dict, List, Optional, Sequence, Union

import numpy as np

from charword.misspellings import by_correction, read_lexicon
from charword.word_vectors import read_word_vectors
from embeddings import intrinsic, plot, projector
from embeddings.model import BRANCH_TITLES, ModelEmbeddings, load
from embeddings.neighbours import VocabularyIndex

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
MAP_PNG = "map.png"
PRETRAINED = "pretrained vectors (as loaded)"
KS = (1, 5, 10)


def _gfile_open(path: str, mode: str = "r"):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    return tf.io.gfile.GFile(path, mode)


def read_misspellings(path: str, model: ModelEmbeddings) -> Dict[str, tuple]:
    """Normalised correction -> its misspellings, from a lexicon file."""
    return by_correction(read_lexicon(path, opener=_gfile_open), model.lowercase)


def similarity_scores(model: ModelEmbeddings, paths: Sequence[str], vectors: Optional[str]) -> Dict[str, dict]:
    """Set name -> vector source -> :func:`intrinsic.spearman` result."""
    sets = [intrinsic.read_similarity(path) for path in paths]
    words = sorted({word for s in sets for pair in s.pairs for word in pair[:2]})
    embedded = model.embed(words)
    row = {word: i for i, word in enumerate(words)}
    vocabulary = set(model.vocabulary)
    sources = {}
    if vectors:
        loaded = read_word_vectors(vectors, {model.normalize(word) for word in words}, model.lowercase)
        sources[PRETRAINED] = lambda word: loaded.get(model.normalize(word))
    for branch in model.branches:
        table = embedded.vectors[branch]
        if branch == "word":
            sources[BRANCH_TITLES[branch]] = (
                lambda word, t=table: t[row[word]] if model.normalize(word) in vocabulary else None)
        else:
            sources[BRANCH_TITLES[branch]] = lambda word, t=table: t[row[word]]
    return {s.name: {source: intrinsic.spearman(s.pairs, lookup) for source, lookup in sources.items()}
            for s in sets}


def misspelling_scores(model: ModelEmbeddings, lexicon: str) -> Dict[str, dict]:
    """Branch title -> :func:`intrinsic.misspelling_neighbours` result, for the merged and char vectors."""
    pairs = [(model.normalize(wrong), model.normalize(right)) for wrong, right in read_lexicon(lexicon, _gfile_open)]
    embedded = model.embed([wrong for wrong, _ in pairs])
    return {BRANCH_TITLES[branch]: intrinsic.misspelling_neighbours(pairs, embedded.vectors[branch],
                                                                    VocabularyIndex(model, branch), KS)
            for branch in ("merged", "char") if branch in model.branches}


def _cell(result: dict) -> str:
    rho = result["spearman"]
    shown = "n/a" if rho != rho else f"{rho:.3f}"
    return f"{shown} ({result['pairs_used']}/{result['pairs']})"


def markdown(result: dict) -> str:
    """The report's tables."""
    lines = []
    similarity = result.get("similarity") or {}
    if similarity:
        names = list(similarity)
        sources = list(dict.fromkeys(source for scores in similarity.values() for source in scores))
        lines += ["Word similarity: Spearman's rho of cosine similarity vs human scores (pairs covered / pairs).",
                  "", "| vectors | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
        lines += [f"| {source} | " + " | ".join(_cell(similarity[name][source]) if source in similarity[name]
                                                 else "n/a" for name in names) + " |" for source in sources]
        lines.append("")
    misspelled = result.get("misspellings") or {}
    if misspelled:
        lines += [f"Misspelling neighbours ({result['lexicon']}): share of misspellings whose correct word is among "
                  "their k nearest vocabulary words (cosine).", "",
                  "| vectors | pairs used | " + " | ".join(f"k={k}" for k in KS) + " | misspellings OOV |",
                  "|---" * (len(KS) + 3) + "|"]
        for branch, scores in misspelled.items():
            lines.append(f"| {branch} | {scores['pairs_used']} of {scores['pairs']} | "
                         + " | ".join(f"{scores[f'hits_at_{k}']:.1%}" for k in KS)
                         + f" | {scores['misspellings_out_of_vocabulary']} |")
        lines.append("")
    return "\n".join(lines)


def write_report(model: Union[str, ModelEmbeddings], out_dir: str, similarity: Sequence[str] = (),
                 lexicon: Optional[str] = None, vectors: Optional[str] = None, projector_words: int = 5000,
                 plot_words: Optional[List[str]] = None, draw_map: bool = True, method: str = "pca") -> dict:
    """Writes the files (see the module docstring) for ``model`` (a SavedModel directory
    or a loaded :class:`ModelEmbeddings`); ``projector_words`` 0 and ``draw_map`` False
    skip those parts, and the intrinsic report needs ``similarity`` files or a
    ``lexicon``. Returns ``{"paths", "similarity", "misspellings", "markdown"}``."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    if isinstance(model, str):
        model = load(model)
    tf.io.gfile.makedirs(out_dir)
    misspellings = read_misspellings(lexicon, model) if lexicon else {}
    paths: Dict[str, str] = {}
    if projector_words:
        paths.update(projector.write(model, out_dir, projector_words, misspellings))
    if draw_map:
        paths["map"] = os.path.join(out_dir, MAP_PNG)
        plot.draw(model, plot_words, paths["map"], misspellings, method=method)
    result = {"similarity": similarity_scores(model, similarity, vectors) if similarity else {},
              "misspellings": misspelling_scores(model, lexicon) if lexicon else {},
              "vectors": vectors, "lexicon": lexicon, "branches": model.branches}
    if similarity or lexicon:
        result["markdown"] = markdown(result)
        paths["json"], paths["markdown"] = os.path.join(out_dir, REPORT_JSON), os.path.join(out_dir, REPORT_MD)
        with tf.io.gfile.GFile(paths["json"], "w") as handle:
            handle.write(json.dumps({k: v for k, v in result.items() if k != "markdown"}, indent=2,
                                    default=_jsonable) + "\n")
        with tf.io.gfile.GFile(paths["markdown"], "w") as handle:
            handle.write(result["markdown"] + "\n")
    result["paths"] = paths
    return result


def _jsonable(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON-serialisable: {type(value).__name__}")
