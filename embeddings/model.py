"""A model's vectors of any words, through its own ``embed_tokens`` signature.

The token vectors are context-free (each token's word and char vectors and their merge
depend on that token alone), so several words are packed into one text, one fewer than
the model's ``max_tokens``. A text whose words do not come back as exactly one token
each (a word with punctuation inside, like ``don't``) is embedded word by word instead;
a word the tokenizer splits gets the mean of its tokens' vectors (of the first
``max_tokens``), a word with no token at all (empty, white space) a row of NaN.
"""
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

import charword
from charword import contract
from charword.servability import Runner, saved_model_runner
from charword.word_vectors import normalize_word

# Branch name -> embed_tokens output.
BRANCHES = {"word": contract.WORD_EMBEDDINGS, "char": contract.CHAR_EMBEDDINGS, "merged": contract.EMBEDDINGS}
BRANCH_TITLES = {"word": "word branch", "char": "char branch", "merged": "merged token vectors"}


@dataclass(frozen=True)
class Embedded:
    """Vectors of some words.

    Attributes:
      words: the words, as asked.
      tokens: the model's tokens for each word (one for most words).
      vectors: branch -> float32 ``[len(words), dim]``, for the branches the model has.
    """

    words: Tuple[str, ...]
    tokens: Tuple[Tuple[str, ...], ...]
    vectors: Dict[str, np.ndarray]


class ModelEmbeddings:
    """Word, char and merged vectors of any words from a charword model.

    ``run`` calls one signature on a batch of strings (:data:`charword.servability.Runner`:
    a served version's ``run`` or :func:`load`); ``vocabulary`` is the model's word
    vocabulary (its ``contract.WORD_VOCAB`` asset), most frequent first.
    """

    def __init__(self, run: Runner, vocabulary: Sequence[str], texts_per_call: int = 64):
        self.run = run
        self.vocabulary = [word for word in vocabulary if word]
        self.texts_per_call = texts_per_call
        probe = run(contract.EMBED_TOKENS, [b"A"])
        self.max_tokens = probe[contract.TOKENS].shape[1]
        self.lowercase = probe[contract.TOKENS][0, 0] == b"a"
        self.dims = {name: probe[key].shape[-1] for name, key in BRANCHES.items()
                     if key in probe and probe[key].shape[-1] > 0}
        self.branches = list(self.dims)
        self._vocabulary_vectors: Optional[Embedded] = None

    def normalize(self, word: str) -> str:
        """The word as the model's preprocessing writes it (NFKC, lower-cased if it lower-cases)."""
        return normalize_word(word, self.lowercase)

    def embed(self, words: Sequence[str]) -> Embedded:
        """Vectors of ``words`` in every branch the model has."""
        words = tuple(words)
        vectors = {branch: np.full((len(words), dim), np.nan, np.float32) for branch, dim in self.dims.items()}
        tokens: List[Tuple[str, ...]] = [()] * len(words)
        alone = []
        # One word fewer than fits, so that a word giving two tokens shows as one token too many.
        per_text = max(1, self.max_tokens - 1)
        packs = [list(range(start, min(start + per_text, len(words)))) for start in range(0, len(words), per_text)]
        for first in range(0, len(packs), self.texts_per_call):
            group = packs[first:first + self.texts_per_call]
            out = self.run(contract.EMBED_TOKENS, [" ".join(words[i] for i in pack).encode("utf-8") for pack in group])
            for row, pack in enumerate(group):
                kept = np.flatnonzero(out[contract.MASK][row])
                if len(kept) != len(pack) or any(not words[i].strip() for i in pack):
                    alone.extend(pack)
                    continue
                for position, i in enumerate(pack):
                    tokens[i] = (out[contract.TOKENS][row, position].decode("utf-8", "replace"),)
                    self._store(vectors, i, out, row, [position])
        for first in range(0, len(alone), self.texts_per_call):
            group = alone[first:first + self.texts_per_call]
            out = self.run(contract.EMBED_TOKENS, [words[i].encode("utf-8") for i in group])
            for row, i in enumerate(group):
                kept = np.flatnonzero(out[contract.MASK][row])
                tokens[i] = tuple(out[contract.TOKENS][row, k].decode("utf-8", "replace") for k in kept)
                self._store(vectors, i, out, row, kept)
        return Embedded(words, tuple(tokens), vectors)

    @staticmethod
    def _store(vectors: dict, i: int, out: dict, row: int, positions) -> None:
        if len(positions):
            for branch, array in vectors.items():
                array[i] = out[BRANCHES[branch]][row][list(positions)].mean(axis=0)

    def vocabulary_vectors(self) -> Embedded:
        """Vectors of every vocabulary word (computed once)."""
        if self._vocabulary_vectors is None:
            self._vocabulary_vectors = self.embed(self.vocabulary)
        return self._vocabulary_vectors

    def predict(self, texts: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
        """``(probabilities [N, classes], class names)`` of ``predict_text`` on each text."""
        probabilities, classes = [], None
        for first in range(0, len(texts), 256):
            out = self.run(contract.PREDICT_TEXT, [text.encode("utf-8") for text in texts[first:first + 256]])
            probabilities.append(out[contract.PROBABILITIES])
            classes = [name.decode("utf-8") for name in out[contract.CLASSES][0]]
        if classes is None:
            return np.zeros((0, 0), np.float32), []
        return np.concatenate(probabilities), classes


def load(path: str) -> ModelEmbeddings:
    """:class:`ModelEmbeddings` of the SavedModel directory ``path`` (a Trainer output or a
    pushed version)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    saved_model = charword.load_model(path)
    with tf.io.gfile.GFile(os.path.join(path, "assets", contract.WORD_VOCAB)) as handle:
        vocabulary = [line.rstrip("\n") for line in handle]
    model = ModelEmbeddings(saved_model_runner(saved_model), vocabulary)
    model.saved_model = saved_model  # the runner's signatures need the loaded object alive
    return model
