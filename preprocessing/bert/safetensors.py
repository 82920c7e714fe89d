"""Reads a ``.safetensors`` file into numpy arrays, without PyTorch.

Format: an 8-byte little-endian header length ``n``, ``n`` bytes of JSON mapping each
tensor name to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to
the end of the header) plus an optional ``__metadata__`` entry, then the raw
little-endian tensor bytes. Files are read through ``tf.io.gfile``, so ``gs://`` works.
"""
import json
import struct
from typing import Dict

import numpy as np
import tensorflow as tf

DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
          "U8": "u1", "BOOL": "?"}
_MAX_HEADER_BYTES = 100 * 1024 * 1024


class SafetensorsError(ValueError):
    """A file that is not valid safetensors; the message names the file and the tensor."""


def _parse_header(path: str, blob: bytes) -> Dict[str, dict]:
    if len(blob) < 8:
        raise SafetensorsError(f"{path}: {len(blob)} bytes, too short for a safetensors header")
    (length,) = struct.unpack("<Q", blob[:8])
    if length > min(_MAX_HEADER_BYTES, len(blob) - 8):
        raise SafetensorsError(f"{path}: header length {length} does not fit in the file ({len(blob)} bytes)")
    try:
        header = json.loads(blob[8:8 + length].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise SafetensorsError(f"{path}: the header is not JSON: {error}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: the header is not a JSON object")
    header.pop("__metadata__", None)
    return header


def _tensor(path: str, name: str, entry: object, data: memoryview) -> np.ndarray:
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
        raise SafetensorsError(f"{path}: tensor {name!r} lacks dtype, shape or data_offsets: {entry!r}")
    dtype = DTYPES.get(entry["dtype"])
    if dtype is None:
        raise SafetensorsError(f"{path}: tensor {name!r} has dtype {entry['dtype']!r}; supported: {sorted(DTYPES)}")
    shape = [int(dim) for dim in entry["shape"]]
    begin, end = (int(offset) for offset in entry["data_offsets"])
    expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(dtype).itemsize
    if not 0 <= begin <= end <= len(data) or end - begin != expected:
        raise SafetensorsError(f"{path}: tensor {name!r} of shape {shape} and dtype {entry['dtype']} needs "
                               f"{expected} bytes, its data_offsets are [{begin}, {end}] of {len(data)}")
    return np.frombuffer(data[begin:end], dtype=dtype).reshape(shape)


def read_safetensors(path: str) -> Dict[str, np.ndarray]:
    """Every tensor of the file at ``path`` by name (read-only numpy arrays, native shapes)."""
    try:
        with tf.io.gfile.GFile(path, "rb") as handle:
            blob = handle.read()
    except (tf.errors.NotFoundError, OSError) as error:
        raise SafetensorsError(f"{path}: cannot read: {error}") from None
    header = _parse_header(path, blob)
    (length,) = struct.unpack("<Q", blob[:8])
    data = memoryview(blob)[8 + length:]
    return {name: _tensor(path, name, entry, data) for name, entry in header.items()}

