"""Predictions for the CLI, from a loaded model or a running server, as TF Serving rows.

Only :func:`remote` is needed for a server URL, and it does not import TensorFlow.
"""
from typing import List, Tuple

import httpx

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
    values = [text.encode("utf-8") for text in texts]
    outputs = protocol.flag_empty(signature, values, model.run(signature, values))
    return str(model.version), protocol.predict_response(outputs, columnar=False)["predictions"]

