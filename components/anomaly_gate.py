"""AnomalyGate: stops the pipeline when ExampleValidator found anomalies.

TFX 1.16's ExampleValidator records anomalies but lets the run go on. This component
runs before Transform (a task dependency) and fails on any anomaly, so nothing
downstream (Transform, Trainer, Pusher) runs on bad data. Reports are read through
TFX's fileio, so the anomalies may be on ``gs://`` (Kubeflow).
"""
import logging
import os
from typing import List

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.utils import io_utils

ANOMALIES_FILE = "SchemaDiff.pb"


class DataAnomaliesError(RuntimeError):
    """The data does not match the schema; the message lists anomalies and the report."""


def _split_dirs(anomalies: tfx.types.standard_artifacts.ExampleAnomalies) -> List[str]:
    return sorted(fileio.glob(os.path.join(anomalies.uri, "Split-*")))


def read_anomalies(anomalies: tfx.types.standard_artifacts.ExampleAnomalies) -> List[str]:
    """One line per anomaly: ``split: feature: description``, with the report path."""
    found = []
    for split_dir in _split_dirs(anomalies):
        split = os.path.basename(split_dir)[len("Split-"):]
        report = os.path.join(split_dir, ANOMALIES_FILE)
        anomalies = anomalies_pb2.Anomalies()
        anomalies.ParseFromString(io_utils.read_bytes_file(report))
        for feature, info in sorted(anomalies.anomaly_info.items()):
            found.append(f"{split}: feature '{feature}': {info.short_description} ({info.description}) "
                         f"[report: {report}]")
        if anomalies.HasField("dataset_anomaly_info"):
            info = anomalies.dataset_anomaly_info
            found.append(f"{split}: dataset: {info.short_description} ({info.description}) [report: {report}]")
    return found


@tfx.dsl.components.component
def AnomalyGate(  # pylint: disable=invalid-name
        anomalies: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ExampleAnomalies]) -> None:
    """Raises :class:`DataAnomaliesError` when any split has an anomaly."""
    found = read_anomalies(anomalies)
    if found:
        raise DataAnomaliesError("ExampleValidator found anomalies; the run stops before Transform and Trainer:\n  "
                                 + "\n  ".join(found))
    logging.info("AnomalyGate: ExampleValidator found no anomalies in %d split(s)", len(_split_dirs(anomalies)))
