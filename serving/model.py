"""One loaded SavedModel version: its signatures, TF Serving metadata, warm-up and inference."""
import os
from typing import Dict, List, Optional

import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

import charword
from charword import contract
from charword.contract import SAVED_MODEL_FILE
from charword.servability import NotServableError, check_embeddings, check_servable

WARM_UP_TEXTS = ("the movie was wonderful .", "")


class ModelError(Exception):
    """A SavedModel that does not load, lacks the signature contract or fails its warm-up."""


class InputError(ValueError):
    """Inputs the model rejected, e.g. a b64 value that is not a serialized tf.Example."""


def _string_input(function) -> Optional[str]:
    """The name of a signature's input when it takes exactly one string tensor, else None."""
    inputs = function.structured_input_signature[1]
    if len(inputs) != 1:
        return None
    (name, spec), = inputs.items()
    return name if spec.dtype == tf.string else None


def _signature_defs(path: str, names) -> Dict[str, dict]:
    """The SignatureDefs as TF Serving's metadata endpoint prints them (proto JSON)."""
    proto = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(os.path.join(path, SAVED_MODEL_FILE), "rb") as handle:
        proto.ParseFromString(handle.read())
    defs = proto.meta_graphs[0].signature_def
    return {name: json_format.MessageToDict(defs[name], preserving_proto_field_name=True) for name in names}


class LoadedModel:
    """A SavedModel version held in memory; safe to call from several threads."""

    def __init__(self, version: int, path: str):
        self.version = version
        self.path = path
        try:
            self._saved_model = charword.load_model(path)  # kept alive: the signatures use its resources
        except (OSError, ValueError, tf.errors.OpError) as error:
            raise ModelError(f"{path} is not a loadable SavedModel: {_load_failure(error)}") from None
        signatures = dict(self._saved_model.signatures)
        self._functions = signatures
        # Signatures this server can feed: one string input (all of charword's contract).
        self.input_names = {name: input_name for name, fn in signatures.items()
                            if (input_name := _string_input(fn)) is not None}
        self.signature_defs = _signature_defs(path, sorted(signatures))

    def run(self, signature: str, values: List[bytes]) -> Dict[str, np.ndarray]:
        """Calls ``signature`` on a batch of strings; outputs as numpy arrays."""
        inputs = {self.input_names[signature]: tf.constant(values, dtype=tf.string)}
        try:
            outputs = self._functions[signature](**inputs)
        except tf.errors.InvalidArgumentError as error:
            raise InputError(_reason(error.message)) from None
        return {name: tensor.numpy() for name, tensor in outputs.items()}

    def warm_up(self) -> None:
        """Answers canned texts on ``predict_text`` and ``embed_tokens`` (a pretrained
        encoder, which has no ``predict_text``: ``embed_tokens`` alone); raises
        :class:`ModelError` when :mod:`charword.servability` refuses."""
        texts = [text.encode("utf-8") for text in WARM_UP_TEXTS]
        try:
            if contract.PREDICT_TEXT not in self._functions and contract.EMBED_TOKENS in self._functions:
                check_embeddings(self.run, texts)
            else:
                check_servable(list(self._functions), self.run, texts)
        except NotServableError as error:
            raise ModelError(f"warm-up failed: {error}") from None

    def asset_lines(self, name: str) -> List[str]:
        """Lines of an asset file of the SavedModel (``contract.WORD_VOCAB`` is the word vocabulary)."""
        with tf.io.gfile.GFile(os.path.join(self.path, "assets", name)) as handle:
            return [line.rstrip("\n") for line in handle]


def _load_failure(error: Exception) -> str:
    """Why a SavedModel did not load, in words (TensorFlow's own message otherwise)."""
    message = str(error)
    if "0 MetaGraphs" in message:
        return f"its {SAVED_MODEL_FILE} holds no graph (an empty or unfinished file)"
    if "Cannot parse" in message or "Error parsing message" in message:
        return f"its {SAVED_MODEL_FILE} is not a SavedModel file (truncated, or another kind of file)"
    return _reason(message)


def _reason(message: str) -> str:
    """The line of a TensorFlow error that says what was wrong, without graph details."""
    noise = ("Graph execution error", "Detected at node", "<stack traces", "[[")
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(noise)]
    return (useful or lines or ["the model rejected the input"])[0][:300]



def load(path: str, version: int) -> LoadedModel:
    """Loads the SavedModel at ``path`` and warms it up; raises on any failure."""
    model = LoadedModel(version, path)
    model.warm_up()
    return model
