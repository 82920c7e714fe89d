"""Predictions for the CLI, from a loaded model or a running server, as TF Serving rows.

Only :func:`remote` is needed for a server URL, and it does not import TensorFlow.
"""
from typing import List, Tuple

import httpx
import numpy as np

from charword import contract
from serving import protocol


def remote(url: str, signature: str, texts: List[str], timeout: float = 60.0) -> Tuple[str, list]:
    """(answering version, predictions) from ``URL:predict``, where ``url`` is
    ``http://HOST:PORT/v1/models/NAME`` (optionally ``/versions/V``)."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"--url must be http(s)://HOST:PORT/v1/models/NAME, got {url!r}")
    response = httpx.post(url.rstrip("/") + ":predict", json={"signature_name": signature, "instances": texts},
                          timeout=timeout)
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered HTTP {response.status_code}: {response.text[:500]}")
    return response.headers.get(protocol.VERSION_HEADER, "?"), response.json()["predictions"]


def local(model, signature: str, texts: List[str]) -> Tuple[str, list]:
    """(version, predictions) from a :class:`serving.model.LoadedModel`, as the server answers."""
    outputs = model.run(signature, [text.encode("utf-8") for text in texts])
    return str(model.version), protocol.predict_response(outputs, columnar=False)["predictions"]


class VocabularyIndex:
    """Token vectors of a loaded model's word vocabulary (its ``contract.WORD_VOCAB`` asset), for
    nearest-word lookups by cosine similarity."""

    def __init__(self, model, batch: int = 256):
        self.words = [word for word in model.asset_lines(contract.WORD_VOCAB) if word]
        vectors = np.concatenate([
            model.run(contract.EMBED_TOKENS, [word.encode("utf-8") for word in self.words[i:i + batch]])[
                contract.EMBEDDINGS][:, 0]
            for i in range(0, len(self.words), batch)])
        self._unit = _unit(vectors)

    def nearest(self, vectors: np.ndarray, count: int, exclude: List[str]) -> List[List[Tuple[str, float]]]:
        """For row ``i`` of ``vectors`` [N, dim], its ``count`` nearest words other than ``exclude[i]``."""
        similarity = _unit(vectors) @ self._unit.T
        found = []
        for row, skip in zip(similarity, exclude):
            ranked = [(self.words[j], float(row[j])) for j in np.argsort(-row)[:count + 1]]
            found.append([pair for pair in ranked if pair[0] != skip][:count])
        return found


def _unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
