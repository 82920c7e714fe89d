"""TF Serving's REST protocol: request parsing and response bodies, without I/O.

Predict requests (https://www.tensorflow.org/tfx/serving/api_rest#predict_api):

* row format: ``{"signature_name": "...", "instances": [<value>, ...]}``;
* columnar format: ``{"signature_name": "...", "inputs": [<value>, ...]}`` or
  ``{"inputs": {"<input name>": [<value>, ...]}}``.

A value is a string (UTF-8 text), ``{"b64": "<base64>"}`` (binary, e.g. a serialized
``tf.Example``, decoded per TF Serving's convention), or, in row format,
``{"<input name>": <string or b64 object>}``.

Default signature: TF Serving's is ``serving_default``, which takes serialized
``tf.Example`` s. Here text is the common case, so a request without
``signature_name`` runs ``predict_text``, unless its first value is a b64 object (what
a TF Serving client sends), which runs ``serving_default``. Either can be named:
``{"signature_name": "serving_default", "instances": [{"b64": "..."}]}``.

Responses follow TF Serving: row format answers ``{"predictions": [...]}``, one entry
per instance, a dict of outputs (or the bare value when the signature has a single
output); columnar answers ``{"outputs": {...}}`` (or the bare list). String tensors are
decoded as UTF-8; numbers and booleans become JSON numbers and booleans.

``predict_text`` answers carry one more output, ``empty``: ``true`` for a text that is
empty or white space only. Its label is only the model's guess with nothing to read.
"""
import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping

import numpy as np

from charword import contract

VERSION_HEADER = "X-Model-Version"  # names the version that answered; bodies stay TF Serving's
DEFAULT_TEXT_SIGNATURE = contract.PREDICT_TEXT
DEFAULT_BINARY_SIGNATURE = contract.SERVING_DEFAULT


class BadRequest(ValueError):
    """A request that does not follow the protocol; the message says why."""


@dataclass(frozen=True)
class PredictRequest:
    """A parsed predict request: which signature, the input batch, and the format used."""

    signature: str
    values: List[bytes]
    columnar: bool


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"b64"}


def _scalar(value: Any, where: str) -> bytes:
    if isinstance(value, str):
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest(f"{where} is not valid Unicode text") from None
    if _is_b64(value) and isinstance(value["b64"], str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise BadRequest(f"{where} has an invalid base64 string") from None
    raise BadRequest(f'{where} must be a string or {{"b64": "<base64>"}}')


def _default_signature(items: Any) -> str:
    column = next(iter(items.values()), None) if isinstance(items, dict) else items
    first = column[0] if isinstance(column, list) and column else None
    return DEFAULT_BINARY_SIGNATURE if _is_b64(first) else DEFAULT_TEXT_SIGNATURE


def _value(item: Any, index: int, input_name: str, columnar: bool) -> bytes:
    where = f"{'inputs' if columnar else 'instances'}[{index}]"
    if not columnar and isinstance(item, dict) and set(item) == {input_name}:
        return _scalar(item[input_name], where)
    return _scalar(item, where)


def parse_predict(body: bytes, input_names: Mapping[str, str], max_instances: int) -> PredictRequest:
    """Parses a predict body; ``input_names`` maps each servable signature to its input.

    Raises :class:`BadRequest` for anything malformed."""
    try:
        request = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise BadRequest(f"malformed JSON: {error}") from None
    if not isinstance(request, dict):
        raise BadRequest("the request body must be a JSON object")
    if ("instances" in request) == ("inputs" in request):
        raise BadRequest('the request needs exactly one of "instances" (row format) or "inputs" (columnar format)')
    columnar = "inputs" in request
    items = request["inputs" if columnar else "instances"]

    signature = request.get("signature_name", _default_signature(items))
    if not isinstance(signature, str) or signature not in input_names:
        raise BadRequest(f"unknown signature_name {signature!r}; this model serves {sorted(input_names)}")
    input_name = input_names[signature]

    if columnar and isinstance(items, dict):
        if set(items) != {input_name}:
            raise BadRequest(f'"inputs" must hold exactly the input {input_name!r} of signature {signature!r}')
        items = items[input_name]
    if not isinstance(items, list):
        raise BadRequest(f'"{"inputs" if columnar else "instances"}" must be a list')
    if not items:
        raise BadRequest("the request has no instances")
    if len(items) > max_instances:
        raise BadRequest(f"the request has {len(items)} instances; at most {max_instances} are allowed")
    values = [_value(item, i, input_name, columnar) for i, item in enumerate(items)]
    return PredictRequest(signature, values, columnar)


def _decode(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def to_json(array: np.ndarray) -> Any:
    """A tensor as JSON values: nested lists, strings decoded as UTF-8."""
    values = array.tolist()
    return _decode(values) if array.dtype.kind in "OSU" else values


def flag_empty(signature: str, values: List[bytes], outputs: Mapping[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """``outputs`` with :data:`contract.EMPTY` added for ``predict_text``: whether each text is
    empty or white space only (it holds no token, so its label says nothing)."""
    if signature != contract.PREDICT_TEXT:
        return dict(outputs)
    return {**outputs, contract.EMPTY: np.array([not value.decode("utf-8", "replace").strip() for value in values])}


def predict_response(outputs: Mapping[str, np.ndarray], columnar: bool) -> Dict[str, Any]:
    """The response body for a signature's outputs (batch-major arrays)."""
    columns = {name: to_json(array) for name, array in sorted(outputs.items())}
    single = next(iter(columns.values())) if len(columns) == 1 else None
    if columnar:
        return {"outputs": columns if single is None else single}
    if single is not None:
        return {"predictions": single}
    batch = len(next(iter(columns.values())))
    return {"predictions": [{name: column[i] for name, column in columns.items()} for i in range(batch)]}


def status_response(rows: Iterable) -> Dict[str, Any]:
    """``GET /v1/models/NAME`` body from rows with ``version``, ``state`` and ``error``."""
    return {"model_version_status": [
        {"version": str(row.version), "state": row.state,
         "status": {"error_code": "UNKNOWN" if row.error else "OK", "error_message": row.error}}
        for row in rows]}


def metadata_response(name: str, version: int, signature_defs: Mapping[str, dict]) -> Dict[str, Any]:
    """``GET /v1/models/NAME/metadata`` body, TF Serving's shape."""
    return {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
            "metadata": {"signature_def": {"signature_def": dict(signature_defs)}}}
