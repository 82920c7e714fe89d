"""A 2-D map (PNG) of chosen words with their misspellings and inflections drawn next to
them, coloured by the class the model gives each word on its own (``predict_text``).

The map projects one branch's vectors (merged by default) of all the points with PCA
(numpy) or t-SNE (scikit-learn). Misspellings come from a lexicon; inflections are
regular English forms (``-s``, ``-ed``, ``-ing``, ``-ly``, ...) that are vocabulary words.
"""
from dataclasses import dataclass
from typing import List, Mapping, Optional, Sequence

import numpy as np

from embeddings.model import BRANCH_TITLES, ModelEmbeddings

METHODS = ("pca", "tsne")
_SUFFIXES = ("s", "es", "ed", "d", "ing", "ly", "er", "est", "ness", "ful")


@dataclass(frozen=True)
class Point:
    """A word on the map; ``of`` is the chosen word a variant belongs to ("" for chosen words)."""

    text: str
    kind: str  # "word", "misspelling" or "inflection"
    of: str = ""


def inflections(word: str, vocabulary: Sequence[str], count: int = 2) -> List[str]:
    """Up to ``count`` regular inflections of ``word`` that are vocabulary words."""
    stems = {word, word[:-1] if word.endswith("e") else word, word[:-1] + "i" if word.endswith("y") else word}
    known = set(vocabulary)
    forms = [stem + suffix for suffix in _SUFFIXES for stem in sorted(stems)]
    return [form for form in dict.fromkeys(forms) if form != word and form in known][:count]


def choose_words(model: ModelEmbeddings, per_class: int = 6, candidates: int = 3000,
                 misspellings: Mapping[str, Sequence[str]] = ()) -> List[str]:
    """The ``per_class`` words the model associates most strongly with each class, among
    the ``candidates`` most frequent alphabetic vocabulary words of 3+ letters; words
    with a misspelling or an inflection first."""
    pool = [w for w in model.vocabulary[:candidates] if w.isalpha() and len(w) >= 3]
    if not pool:
        return []
    probabilities, _ = model.predict(pool)
    with_variants = np.array([bool(misspellings.get(w)) or bool(inflections(w, model.vocabulary, 1)) for w in pool])
    chosen: List[str] = []
    for label in range(probabilities.shape[1]):
        order = np.lexsort((-probabilities[:, label], ~with_variants))
        chosen += [pool[i] for i in order if pool[i] not in chosen][:per_class]
    return chosen


def points_for(model: ModelEmbeddings, words: Sequence[str], misspellings: Mapping[str, Sequence[str]],
               per_word: int = 2) -> List[Point]:
    """The chosen words, then up to ``per_word`` misspellings and inflections of each."""
    points = [Point(model.normalize(word), "word") for word in words]
    for point in list(points):
        for wrong in list(dict.fromkeys(misspellings.get(point.text, ())))[:per_word]:
            points.append(Point(model.normalize(wrong), "misspelling", point.text))
        for form in inflections(point.text, model.vocabulary, per_word):
            points.append(Point(form, "inflection", point.text))
    return points


def project(vectors: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``[N, D]`` to ``[N, 2]`` by PCA or t-SNE."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    centred = vectors - vectors.mean(axis=0)
    if method == "tsne":
        from sklearn.manifold import TSNE  # pylint: disable=import-outside-toplevel
        perplexity = float(max(2, min(30, (len(vectors) - 1) // 3)))
        return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(centred)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    projected = centred @ components[:2].T
    return np.pad(projected, ((0, 0), (0, 2 - projected.shape[1])))


def draw(model: ModelEmbeddings, words: Optional[Sequence[str]], out_path: str,
         misspellings: Mapping[str, Sequence[str]] = (), branch: str = "merged", method: str = "pca") -> List[Point]:
    """Draws the map to ``out_path`` (PNG, 1320 x 990 pixels); ``words`` None picks them
    with :func:`choose_words`. Returns the points drawn."""
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (tf.io.gfile: gs:// too)

    if branch not in model.branches:
        raise ValueError(f"the model has no {branch} vectors (it has: {', '.join(model.branches)})")
    words = list(words) if words else choose_words(model, misspellings=misspellings)
    points = points_for(model, words, misspellings)
    if len(points) < 3:
        raise ValueError(f"a map needs at least 3 words, got {[p.text for p in points]}")
    vectors = np.nan_to_num(model.embed([p.text for p in points]).vectors[branch])
    xy = project(vectors, method)
    probabilities, classes = model.predict([p.text for p in points])
    fig, ax = plt.subplots(figsize=(12, 9), dpi=110)
    if len(classes) == 2:
        colours = plt.get_cmap("coolwarm")(probabilities[:, 1])
        mappable = plt.cm.ScalarMappable(cmap="coolwarm", norm=plt.Normalize(0, 1))
        fig.colorbar(mappable, ax=ax, label=f"P({classes[1]}) of the word alone")
    else:
        colours = plt.get_cmap("tab10")(probabilities.argmax(axis=1) % 10)
        for i, name in enumerate(classes):
            ax.scatter([], [], color=plt.get_cmap("tab10")(i % 10), label=name)
        ax.legend(title="predicted class of the word alone")
    where = {p.text: xy[i] for i, p in enumerate(points) if p.kind == "word"}
    markers = {"word": ("o", 90, "bold", 11), "misspelling": ("^", 45, "normal", 9), "inflection": ("s", 40,
                                                                                                   "normal", 9)}
    for i, point in enumerate(points):
        marker, size, weight, fontsize = markers[point.kind]
        if point.of:
            ax.plot([where[point.of][0], xy[i, 0]], [where[point.of][1], xy[i, 1]], color="0.75", lw=0.8, zorder=1)
        ax.scatter(xy[i, 0], xy[i, 1], marker=marker, s=size, color=colours[i], edgecolors="0.2", zorder=2)
        ax.annotate(point.text, xy[i], xytext=(4, 3), textcoords="offset points", fontsize=fontsize,
                    fontweight=weight, fontstyle="normal" if point.kind == "word" else "italic")
    ax.set_title(f"{BRANCH_TITLES[branch]} ({method.upper()}): words (●), their misspellings (▲) and "
                 "inflections (■)")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    with tf.io.gfile.GFile(out_path, "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
    return points
