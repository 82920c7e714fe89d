"""ServableCheck: proves a blessed model serves before Pusher may push it.

TFX's InfraValidator needs TF Serving in Docker or Kubernetes. Where neither exists
(a laptop, CI, the Kubeflow V2 runner), this component loads the candidate SavedModel in
a fresh Python process and calls every signature on canned requests taken from the
examples' ``split``. Its output is a standard ``InfraBlessing``, so Pusher refuses to
push when it fails.

Artefacts may live on any filesystem TFX reaches (``gs://`` on Kubeflow), so every
artefact read and write goes through ``tfx.dsl.io.fileio``. The probe process reads
local files only: the model directory and the canned requests are first copied into a
local scratch directory through fileio. Copying (rather than letting the probe read
``gs://`` with ``tf.io.gfile``) makes the check work on every filesystem that has a TFX
plugin, including ones TensorFlow's own file layer does not know, keeps the probe a plain
"load this directory" check, and costs one copy of the model on the worker's disk,
deleted afterwards. The probe log, the canned requests and the ``INFRA_BLESSED`` /
``INFRA_NOT_BLESSED`` marker are written to the blessing URI through fileio.
"""
import os
import subprocess
import sys
import tempfile

import tensorflow as tf
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.types import standard_artifact_utils
from tfx.utils import io_utils, path_utils

from components import duplicate_check

BLESSED_FILE = "INFRA_BLESSED"
NOT_BLESSED_FILE = "INFRA_NOT_BLESSED"
REQUESTS_FILE = "canned_requests.tfrecord"
PROBE_LOG = "probe.log"


def write_canned_requests(examples: tfx.types.standard_artifacts.Examples, split: str, count: int,
                          output_path: str) -> int:
    """Writes the first ``count`` serialized examples of ``split`` to the local TFRecord
    file ``output_path``; returns how many there were.

    The split's gzipped TFRecord shards may be on any fileio filesystem: they are copied
    one at a time beside ``output_path`` until ``count`` records are read.
    """
    split_uri = standard_artifact_utils.get_split_uri([examples], split)
    shards = sorted(fileio.glob(os.path.join(split_uri, "*")))
    if not shards:
        raise FileNotFoundError(f"no example files in split '{split}' at {split_uri}")
    local_shard = output_path + ".shard"
    records = []
    for shard in shards:
        fileio.copy(shard, local_shard, overwrite=True)
        dataset = tf.data.TFRecordDataset(local_shard, compression_type="GZIP").take(count - len(records))
        records.extend(record.numpy() for record in dataset)
        if len(records) >= count:
            break
    os.remove(local_shard)
    with tf.io.TFRecordWriter(output_path) as writer:
        for record in records:
            writer.write(record)
    return len(records)


def _mark(blessing: tfx.types.standard_artifacts.InfraBlessing, blessed: bool, reason: str) -> None:
    io_utils.write_string_file(os.path.join(blessing.uri, BLESSED_FILE if blessed else NOT_BLESSED_FILE),
                               reason + "\n")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("reason", reason[-2000:])


def _probe(model_uri: str, local_model: str, requests_path: str, timeout_seconds: int):
    """(exit code or ``None`` on timeout, output) of the probe on the local copy; the
    output names ``model_uri`` rather than the scratch copy."""
    try:
        probe = subprocess.run([sys.executable, "-m", "components.servable_probe", local_model, requests_path],
                               capture_output=True, text=True, timeout=timeout_seconds, check=False)
    except subprocess.TimeoutExpired:
        return None, f"model at {model_uri} did not answer within {timeout_seconds} s\n"
    return probe.returncode, (probe.stdout + probe.stderr).replace(local_model, model_uri)


@tfx.dsl.components.component
def ServableCheck(  # pylint: disable=invalid-name
        model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
        model_blessing: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelBlessing],
        examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
        blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.InfraBlessing],
        split: tfx.dsl.components.Parameter[str] = "eval",
        num_requests: tfx.dsl.components.Parameter[int] = 16,
        timeout_seconds: tfx.dsl.components.Parameter[int] = 300) -> None:
    """Blesses the model only if a fresh process can load it and every signature answers."""
    if model_blessing.get_int_custom_property("blessed") != 1:
        _mark(blessing, False, "not checked: " + (model_blessing.get_string_custom_property(duplicate_check.REASON)
                                                  or "the Evaluator did not bless this model"))
        return
    model_uri = path_utils.serving_model_path(model.uri)
    log_uri = os.path.join(blessing.uri, PROBE_LOG)
    with tempfile.TemporaryDirectory(prefix="servable_check_") as scratch:
        requests_path = os.path.join(scratch, REQUESTS_FILE)
        count = write_canned_requests(examples, split, num_requests, requests_path)
        fileio.copy(requests_path, os.path.join(blessing.uri, REQUESTS_FILE), overwrite=True)
        local_model = os.path.join(scratch, "model")
        io_utils.copy_dir(model_uri, local_model)
        returncode, output = _probe(model_uri, local_model, requests_path, timeout_seconds)
    io_utils.write_string_file(log_uri, output)
    if returncode == 0:
        _mark(blessing, True, f"loaded in a fresh process; all signatures answered {count} canned requests")
    else:
        lines = output.strip().splitlines()
        reason = lines[-1] if lines else f"exit code {returncode}"
        _mark(blessing, False, f"servable check failed: {reason} (log: {log_uri})")
