"""TensorBoard projector files of a model's token vectors.

One vectors TSV per branch the model has (``word.tsv``, ``char.tsv``, ``merged.tsv``,
one row per word, tab-separated values), one ``metadata.tsv`` shared by all (header,
then a row per word: ``word``, ``frequency_rank`` (1 = most frequent vocabulary word,
empty for out-of-vocabulary words), ``vocabulary`` (``in-vocabulary`` or ``OOV``) and
``misspelling_of`` (the correct word, for misspellings)), and ``projector_config.pbtxt``
naming them. Open with ``tensorboard --logdir DIR``, tab "Projector".

Rows: the ``words`` most frequent vocabulary words, then misspellings of those words
from a lexicon (at most ``misspellings_per_word`` each).
"""
import os
from dataclasses import dataclass
from typing import Dict, List, Mapping, Sequence

import numpy as np

from embeddings.model import BRANCH_TITLES, ModelEmbeddings

METADATA = "metadata.tsv"
METADATA_COLUMNS = ("word", "frequency_rank", "vocabulary", "misspelling_of")


@dataclass(frozen=True)
class Row:
    """One projector point."""

    word: str
    frequency_rank: int  # 0: not a vocabulary word
    misspelling_of: str = ""

    def fields(self) -> List[str]:
        return [_cell(self.word), str(self.frequency_rank) if self.frequency_rank else "",
                "in-vocabulary" if self.frequency_rank else "OOV", _cell(self.misspelling_of)]


def _cell(text: str) -> str:
    return " ".join(text.split()) or " "


def rows(model: ModelEmbeddings, words: int, misspellings: Mapping[str, Sequence[str]] = (),
         misspellings_per_word: int = 3) -> List[Row]:
    """The projector's points (see the module docstring); ``misspellings`` maps a
    normalised correction to its misspellings."""
    rank = {word: i + 1 for i, word in enumerate(model.vocabulary)}
    chosen = [Row(word, i + 1) for i, word in enumerate(model.vocabulary[:words])]
    seen = {row.word for row in chosen}
    for row in list(chosen):
        for wrong in list(dict.fromkeys(misspellings.get(row.word, ())))[:misspellings_per_word]:
            wrong = model.normalize(wrong)
            if wrong not in seen:
                seen.add(wrong)
                chosen.append(Row(wrong, rank.get(wrong, 0), row.word))
    return chosen


def write(model: ModelEmbeddings, out_dir: str, words: int = 5000, misspellings: Mapping[str, Sequence[str]] = (),
          ) -> Dict[str, str]:
    """Writes the projector files to ``out_dir``; returns their paths by name."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (tf.io.gfile: gs:// too)
    from tensorboard.plugins import projector  # pylint: disable=import-outside-toplevel
    points = rows(model, words, misspellings)
    embedded = model.embed([row.word for row in points])
    tf.io.gfile.makedirs(out_dir)
    paths = {"metadata": os.path.join(out_dir, METADATA)}
    with tf.io.gfile.GFile(paths["metadata"], "w") as handle:
        handle.write("\t".join(METADATA_COLUMNS) + "\n")
        handle.write("".join("\t".join(row.fields()) + "\n" for row in points))
    config = projector.ProjectorConfig()
    for branch in model.branches:
        paths[branch] = os.path.join(out_dir, f"{branch}.tsv")
        vectors = np.nan_to_num(embedded.vectors[branch])
        with tf.io.gfile.GFile(paths[branch], "w") as handle:
            handle.write("".join("\t".join(f"{value:.6g}" for value in vector) + "\n" for vector in vectors))
        embedding = config.embeddings.add()
        embedding.tensor_name = BRANCH_TITLES[branch]
        embedding.tensor_path = f"{branch}.tsv"
        embedding.metadata_path = METADATA
        embedding.tensor_shape.extend(vectors.shape)
    projector.visualize_embeddings(out_dir, config)
    paths["config"] = os.path.join(out_dir, "projector_config.pbtxt")
    return paths
