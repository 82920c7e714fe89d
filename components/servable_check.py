"""ServableCheck: proves a blessed model serves before Pusher may push it.

TFX's InfraValidator needs TF Serving in Docker or Kubernetes. Where neither exists
(a laptop, CI), this component loads the candidate SavedModel in a fresh Python
process and calls every signature on canned requests taken from the eval split. Its
output is a standard ``InfraBlessing``, so Pusher refuses to push when it fails.
"""
import glob
import os
import subprocess
import sys

import tensorflow as tf
from tfx import v1 as tfx
from tfx.types import standard_artifact_utils
from tfx.utils import path_utils

BLESSED_FILE = "INFRA_BLESSED"
NOT_BLESSED_FILE = "INFRA_NOT_BLESSED"
REQUESTS_FILE = "canned_requests.tfrecord"
PROBE_LOG = "probe.log"


def write_canned_requests(examples: tfx.types.standard_artifacts.Examples, split: str, count: int,
                          output_path: str) -> int:
    """Copies the first ``count`` serialized examples of ``split`` to a TFRecord file."""
    files = sorted(glob.glob(os.path.join(standard_artifact_utils.get_split_uri([examples], split), "*")))
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(count)
    written = 0
    with tf.io.TFRecordWriter(output_path) as writer:
        for record in records:
            writer.write(record.numpy())
            written += 1
    return written


def _mark(blessing: tfx.types.standard_artifacts.InfraBlessing, blessed: bool, reason: str) -> None:
    with open(os.path.join(blessing.uri, BLESSED_FILE if blessed else NOT_BLESSED_FILE), "w") as marker:
        marker.write(reason + "\n")
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("reason", reason[-2000:])


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
        _mark(blessing, False, "not checked: the Evaluator did not bless this model")
        return
    requests_path = os.path.join(blessing.uri, REQUESTS_FILE)
    count = write_canned_requests(examples, split, num_requests, requests_path)
    model_dir = path_utils.serving_model_path(model.uri)
    probe = subprocess.run([sys.executable, "-m", "components.servable_probe", model_dir, requests_path],
                           capture_output=True, text=True, timeout=timeout_seconds, check=False)
    with open(os.path.join(blessing.uri, PROBE_LOG), "w") as log:
        log.write(probe.stdout + probe.stderr)
    if probe.returncode == 0:
        _mark(blessing, True, f"loaded in a fresh process; all signatures answered {count} canned requests")
    else:
        reason = probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else f"exit code {probe.returncode}"
        _mark(blessing, False, f"servable check failed: {reason} (log: {os.path.join(blessing.uri, PROBE_LOG)})")
