"""Nearest vocabulary words of any vectors, by cosine similarity."""
from typing import List, Sequence, Tuple

import numpy as np

from embeddings.model import ModelEmbeddings


def unit(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero; NaN rows stay NaN)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-9)


class VocabularyIndex:
    """A model's vocabulary words in one branch (``merged``, ``word`` or ``char``), for
    nearest-word lookups by cosine similarity."""

    def __init__(self, model: ModelEmbeddings, branch: str = "merged"):
        if branch not in model.branches:
            raise ValueError(f"the model has no {branch} vectors (it has: {', '.join(model.branches)})")
        self.words = model.vocabulary
        self.position = {word: i for i, word in enumerate(self.words)}
        self._unit = unit(model.vocabulary_vectors().vectors[branch])

    def nearest(self, vectors: np.ndarray, count: int, exclude: Sequence[str] = ()) -> List[List[Tuple[str, float]]]:
        """For row ``i`` of ``vectors`` [N, dim], its ``count`` nearest vocabulary words
        with their cosine similarity, best first, leaving out the word ``exclude[i]``."""
        exclude = list(exclude) + [""] * (len(vectors) - len(exclude))
        found = []
        for first in range(0, len(vectors), 512):
            similarity = unit(vectors[first:first + 512]) @ self._unit.T
            take = min(count + 1, similarity.shape[1])
            top = np.argpartition(-similarity, take - 1, axis=1)[:, :take]
            for row, candidates, skip in zip(similarity, top, exclude[first:first + 512]):
                ranked = sorted(candidates, key=lambda j, r=row: -r[j])
                found.append([(self.words[j], float(row[j])) for j in ranked if self.words[j] != skip][:count])
        return found
