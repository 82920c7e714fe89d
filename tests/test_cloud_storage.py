"""Custom components on a non-local filesystem: every artefact URI is ``fakegcs://``,
which only TFX's fileio layer can read (see tests/fake_cloud_fs.py), as ``gs://`` is on
Kubeflow. The components run through their real TFX executors."""
import os
import shutil

import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.dsl.io import fileio
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import path_utils

from charword import contract
from components import anomaly_gate, servable_check
from tests import fake_cloud_fs
from tests.conftest import learnable_pairs

EVAL_TEXTS = 8


@pytest.fixture
def cloud_root(tmp_path, monkeypatch):
    """A ``fakegcs://`` pipeline root; the test runs in an empty working directory, which
    must stay empty (builtin ``os.makedirs``/``open`` on a URI would create ``fakegcs:`` there)."""
    fake_cloud_fs.register()
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    (tmp_path / "bucket").mkdir()
    yield fake_cloud_fs.to_uri(tmp_path / "bucket")
    assert not os.listdir(workdir), f"something wrote URIs as local paths: {os.listdir(workdir)}"


def _output_dir(uri: str) -> str:
    """Creates an output artefact's directory, as the TFX launcher does before an executor runs."""
    fileio.makedirs(uri)
    return uri


def _examples(root: str) -> standard_artifacts.Examples:
    """ExampleGen-style output on the fake filesystem: gzipped TFRecords of raw examples."""
    examples = standard_artifacts.Examples()
    examples.uri = f"{root}/CsvExampleGen/examples/3"
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    split_dir = fake_cloud_fs.to_local(f"{examples.uri}/Split-eval")
    os.makedirs(split_dir)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(os.path.join(split_dir, "data_tfrecord-00000-of-00001.gz"), options) as writer:
        for text, label in learnable_pairs(EVAL_TEXTS, seed=5):
            writer.write(tf.train.Example(features=tf.train.Features(feature={
                contract.RAW_TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                contract.RAW_LABEL: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
            })).SerializeToString())
    return examples


def _model(root: str, saved_model_dir: str) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.uri = f"{root}/Trainer/model/7"
    shutil.copytree(saved_model_dir, fake_cloud_fs.to_local(path_utils.serving_model_path(model.uri)))
    return model


def _run_servable_check(root: str, model, evaluator_blessed: bool = True, **exec_properties):
    model_blessing = standard_artifacts.ModelBlessing()
    model_blessing.uri = _output_dir(f"{root}/Evaluator/blessing/8")
    model_blessing.set_int_custom_property("blessed", int(evaluator_blessed))
    blessing = standard_artifacts.InfraBlessing()
    blessing.uri = _output_dir(f"{root}/ServableCheck/blessing/9")
    executor = servable_check.ServableCheck.EXECUTOR_SPEC.executor_class()
    executor.Do({"model": [model], "model_blessing": [model_blessing], "examples": [_examples(root)]},
                {"blessing": [blessing]}, exec_properties)
    return blessing


def _read(uri: str) -> str:
    with fileio.open(uri) as handle:
        return handle.read()


def test_fake_scheme_is_out_of_reach_of_builtin_and_tensorflow_io(cloud_root):
    fileio.makedirs(f"{cloud_root}/x")
    with fileio.open(f"{cloud_root}/x/f", "w") as handle:
        handle.write("y")
    assert fileio.exists(f"{cloud_root}/x/f") and not os.path.exists(f"{cloud_root}/x/f")
    with pytest.raises(tf.errors.UnimplementedError):
        tf.io.gfile.exists(f"{cloud_root}/x/f")


def test_servable_check_blesses_a_good_model_on_cloud_storage(cloud_root, trained_model):
    model = _model(cloud_root, trained_model.model_dir)
    blessing = _run_servable_check(cloud_root, model, num_requests=5)
    reason = blessing.get_string_custom_property("reason")
    assert blessing.get_int_custom_property("blessed") == 1, reason
    assert "answered 5 canned requests" in reason
    assert _read(f"{blessing.uri}/{servable_check.BLESSED_FILE}").strip() == reason
    assert not fileio.exists(f"{blessing.uri}/{servable_check.NOT_BLESSED_FILE}")
    model_uri = path_utils.serving_model_path(model.uri)
    assert f"model at {model_uri} answered all {len(contract.SIGNATURES)} signatures on 5 requests" in _read(
        f"{blessing.uri}/{servable_check.PROBE_LOG}")
    requests = fake_cloud_fs.to_local(f"{blessing.uri}/{servable_check.REQUESTS_FILE}")
    assert sum(1 for _ in tf.data.TFRecordDataset(requests)) == 5


def test_servable_check_refuses_a_model_without_the_contract_signatures(cloud_root, tmp_path):
    module = tf.Module()
    module.f = tf.function(lambda x: {"y": x}, input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "incomplete"), signatures={contract.SERVING_DEFAULT: module.f})
    model = _model(cloud_root, str(tmp_path / "incomplete"))
    blessing = _run_servable_check(cloud_root, model)
    assert blessing.get_int_custom_property("blessed") == 0
    marker = _read(f"{blessing.uri}/{servable_check.NOT_BLESSED_FILE}")
    assert not fileio.exists(f"{blessing.uri}/{servable_check.BLESSED_FILE}")
    assert marker.startswith("servable check failed: ")
    assert f"model at {path_utils.serving_model_path(model.uri)} is not servable: NotServableError" in marker
    assert f"lacks the signature(s) {sorted(set(contract.SIGNATURES) - {contract.SERVING_DEFAULT})}" in marker
    assert f"log: {blessing.uri}/{servable_check.PROBE_LOG}" in marker
    assert "NotServableError" in _read(f"{blessing.uri}/{servable_check.PROBE_LOG}")
    assert blessing.get_string_custom_property("reason") == marker.strip()


def test_servable_check_marks_a_model_the_evaluator_refused_without_probing(cloud_root, tmp_path):
    model = standard_artifacts.Model()
    model.uri = f"{cloud_root}/Trainer/model/7"
    blessing = _run_servable_check(cloud_root, model, evaluator_blessed=False)
    assert blessing.get_int_custom_property("blessed") == 0
    assert "the Evaluator did not bless" in _read(f"{blessing.uri}/{servable_check.NOT_BLESSED_FILE}")
    assert not fileio.exists(f"{blessing.uri}/{servable_check.PROBE_LOG}")


def _anomalies(root: str, found: bool) -> standard_artifacts.ExampleAnomalies:
    artifact = standard_artifacts.ExampleAnomalies()
    artifact.uri = f"{root}/ExampleValidator/anomalies/4"
    report = anomalies_pb2.Anomalies()
    if found:
        report.anomaly_info[contract.RAW_LABEL].short_description = "Unexpected string values"
        report.anomaly_info[contract.RAW_LABEL].description = "Examples contain values missing from the schema: meh."
    fileio.makedirs(f"{artifact.uri}/Split-eval")
    with fileio.open(f"{artifact.uri}/Split-eval/{anomaly_gate.ANOMALIES_FILE}", "wb") as handle:
        handle.write(report.SerializeToString())
    return artifact


def test_anomaly_gate_reads_reports_on_cloud_storage(cloud_root):
    executor = anomaly_gate.AnomalyGate.EXECUTOR_SPEC.executor_class()
    executor.Do({"anomalies": [_anomalies(f"{cloud_root}/clean", found=False)]}, {}, {})
    artifact = _anomalies(cloud_root, found=True)
    with pytest.raises(anomaly_gate.DataAnomaliesError) as raised:
        executor.Do({"anomalies": [artifact]}, {}, {})
    assert (f"eval: feature '{contract.RAW_LABEL}': Unexpected string values" in str(raised.value)
            and f"[report: {artifact.uri}/Split-eval/{anomaly_gate.ANOMALIES_FILE}]" in str(raised.value))
