"""The one check that a model serves charword's signature contract.

ServableCheck (before the Pusher) and the model server (before a new version takes
traffic) both call :func:`check_servable`. It talks to the model through a ``run``
function, ``run(signature, values) -> {output: ndarray}``, so it checks a freshly
loaded SavedModel and a served version alike, and raises :class:`NotServableError`
(never ``assert``, which ``python -O`` strips) naming the signature and what was wrong.
"""
from typing import Callable, Dict, Mapping, Optional, Sequence

import numpy as np

from charword import contract

Runner = Callable[[str, Sequence[bytes]], Dict[str, np.ndarray]]


class NotServableError(Exception):
    """The model lacks a signature or answers one with malformed outputs."""


def _require(condition: bool, signature: str, message: str) -> None:
    if not condition:
        raise NotServableError(f"{signature}: {message}")


def require_signatures(signatures: Sequence[str]) -> None:
    """Raises :class:`NotServableError` naming the contract signatures that are missing."""
    missing = sorted(set(contract.SIGNATURES) - set(signatures))
    if missing:
        raise NotServableError(f"the model lacks the signature(s) {missing}")


def check_servable(signatures: Sequence[str], run: Runner, texts: Sequence[bytes],
                   examples: Optional[Sequence[bytes]] = None) -> None:
    """Raises :class:`NotServableError` unless every contract signature is present and
    answers well-formed outputs (``embed_sentence`` too, when the model has it).

    Args:
      signatures: the signature names the model has.
      run: calls one signature on a batch of strings.
      texts: raw texts for ``predict_text`` and ``embed_tokens``.
      examples: serialized ``tf.Example`` s holding ``texts`` (same order, label
        included); when given, ``serving_default`` and ``transform_features`` are
        checked too, and ``serving_default`` must agree with ``predict_text``.
    """
    require_signatures(signatures)
    batch = len(texts)
    predicted = run(contract.PREDICT_TEXT, texts)
    probabilities = predicted[contract.PROBABILITIES]
    _require(probabilities.ndim == 2 and probabilities.shape[0] == batch and probabilities.shape[1] >= 2,
             contract.PREDICT_TEXT, f"{contract.PROBABILITIES} have shape {probabilities.shape} for {batch} texts")
    _require(bool(np.isfinite(probabilities).all()) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-3),
             contract.PREDICT_TEXT, f"{contract.PROBABILITIES} are not distributions")
    labels, classes = predicted[contract.LABEL], predicted[contract.CLASSES]
    _require(labels.shape == (batch,), contract.PREDICT_TEXT, f"{contract.LABEL} has shape {labels.shape}")
    _require(all(label in row for label, row in zip(labels, classes)), contract.PREDICT_TEXT,
             f"a {contract.LABEL} is not among the {contract.CLASSES}")

    check_embeddings(run, texts)
    if contract.EMBED_SENTENCE in signatures:
        sentence = run(contract.EMBED_SENTENCE, texts)[contract.SENTENCE_VECTOR]
        _require(sentence.ndim == 2 and sentence.shape[0] == batch and bool(np.isfinite(sentence).all()),
                 contract.EMBED_SENTENCE, f"{contract.SENTENCE_VECTOR} of shape {sentence.shape} for {batch} texts "
                 "is not a finite [texts, dim] array")
    if examples is not None:
        _check_examples(run, examples, probabilities)


def check_embeddings(run: Runner, texts: Sequence[bytes]) -> None:
    """Raises :class:`NotServableError` unless ``embed_tokens`` answers ``texts`` with
    well-formed outputs: the whole check of a pretrained encoder, which has no classifier."""
    embedded = run(contract.EMBED_TOKENS, texts)
    vectors, tokens, mask = (embedded[name] for name in (contract.EMBEDDINGS, contract.TOKENS, contract.MASK))
    _require(vectors.ndim == 3 and vectors.shape[0] == len(texts) and vectors.shape[:2] == tokens.shape == mask.shape,
             contract.EMBED_TOKENS, f"outputs have inconsistent shapes {vectors.shape}, {tokens.shape}, {mask.shape}")
    _require(bool(np.isfinite(vectors).all()), contract.EMBED_TOKENS, f"{contract.EMBEDDINGS} are not finite")


def _check_examples(run: Runner, examples: Sequence[bytes], text_probabilities: np.ndarray) -> None:
    scored = run(contract.SERVING_DEFAULT, examples)[contract.PROBABILITIES]
    _require(scored.shape == text_probabilities.shape, contract.SERVING_DEFAULT,
             f"{contract.PROBABILITIES} have shape {scored.shape}, {contract.PREDICT_TEXT} gave "
             f"{text_probabilities.shape}")
    _require(np.allclose(scored, text_probabilities, atol=1e-4), contract.SERVING_DEFAULT,
             f"disagrees with {contract.PREDICT_TEXT} on the same texts")
    transformed: Mapping[str, np.ndarray] = run(contract.TRANSFORM_FEATURES, examples)
    absent = [name for name in contract.MODEL_INPUTS if name not in transformed]
    _require(not absent, contract.TRANSFORM_FEATURES, f"lacks the feature(s) {absent}")


def saved_model_runner(saved_model) -> Runner:
    """A :data:`Runner` over a loaded SavedModel's signatures (see :func:`charword.load_model`)."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    def run(signature: str, values: Sequence[bytes]) -> Dict[str, np.ndarray]:
        function = saved_model.signatures[signature]
        outputs = function(**{contract.SIGNATURE_INPUTS[signature]: tf.constant(list(values), dtype=tf.string)})
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    return run
