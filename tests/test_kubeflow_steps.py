"""Steps of the compiled Kubeflow pipeline, started as KFP starts them.

``charword compile-kubeflow`` writes the pipeline file; :mod:`tests.kfp_launcher` builds
each step's ``ExecutorInput`` from it (parameters, typed input artefacts, provisioned
outputs) and runs the step's container command, ``python -m
tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor ...``, in a subprocess
against local artefacts. What KFP's driver and launcher do around that (Kubernetes pods,
ML Metadata, artefact upload) cannot run here and is not simulated beyond the
``ExecutorInput`` / ``ExecutorOutput`` contract. Each step is a fresh process importing
TFX, so the steps that also run Beam or load a model are in the slow suite. The distilled
preset's steps: its BulkInferrer (TeacherInference) on a teacher trained by ``run_fn``, and
the student's Trainer on BulkInferrer's output.
"""
import copy
import json
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2

import charword
from charword import contract
from charword.config import load_config
from cli.main import main
from components.anomaly_gate import ANOMALIES_FILE
from components.servable_check import BLESSED_FILE, NOT_BLESSED_FILE
from pipeline.kubeflow_dag import DATA_ROOT_PARAMETER, TRAIN_ARGS_PARAMETER
from standalone.fn_args import make_fn_args
from standalone.transform import rows_from_pairs, transform_rows
from tests import kfp_launcher
from tests.bert_helpers import write_checkpoint
from tests.conftest import learnable_pairs
from tests.kfp_launcher import InputArtifact
from trainer import task

SPLITS = ("train", "eval")
SPLIT_NAMES = json.dumps(list(SPLITS))


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    """The compiled pipeline file, with in-memory Beam so each step starts one process."""
    root = tmp_path_factory.mktemp("kfp")
    output = root / "charword.json"
    assert main(["compile-kubeflow", "--output", str(output), "--pipeline-root", str(root / "pipeline_root"),
                 "--serving-dir", str(root / "serving"), "--data-root", str(root / "data"),
                 "--train-steps", "321", "--beam-arg=--direct_running_mode=in_memory",
                 "--beam-arg=--direct_num_workers=1"]) == 0
    return kfp_launcher.load(str(output))


def _raw_examples(directory, pairs_per_split: int = 24) -> InputArtifact:
    """An ``Examples`` artefact as CsvExampleGen writes it: gzipped tf.Examples per split."""
    for seed, split in enumerate(SPLITS):
        os.makedirs(directory / f"Split-{split}")
        path = str(directory / f"Split-{split}" / "data_tfrecord-00000-of-00001.gz")
        with tf.io.TFRecordWriter(path, options="GZIP") as writer:
            for text, label in learnable_pairs(pairs_per_split, seed):
                writer.write(tf.train.Example(features=tf.train.Features(feature={
                    contract.RAW_TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
                    contract.RAW_LABEL: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()])),
                })).SerializeToString())
    return InputArtifact(str(directory), {"split_names": SPLIT_NAMES})


def _anomalies(directory, anomalous_feature: str = "") -> InputArtifact:
    """An ``ExampleAnomalies`` artefact as ExampleValidator writes it."""
    for split in SPLITS:
        report = anomalies_pb2.Anomalies()
        if anomalous_feature:
            info = report.anomaly_info[anomalous_feature]
            info.short_description = "Unexpected string values"
            info.description = "Examples contain values missing from the schema: neutral (~4%)."
        os.makedirs(directory / f"Split-{split}")
        (directory / f"Split-{split}" / ANOMALIES_FILE).write_bytes(report.SerializeToString())
    return InputArtifact(str(directory), {"split_names": SPLIT_NAMES})


def _output(result: kfp_launcher.StepResult, name: str) -> dict:
    return result.executor_output["artifacts"][name]["artifacts"][0]


def test_the_file_is_what_kfp_2_accepts_with_its_parameter_defaults(job):
    spec = json_format.ParseDict(job["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert spec.schema_version == "2.1.0"  # KFP 2.x's API server refuses any other
    values = job["runtimeConfig"]["parameterValues"]
    assert values[DATA_ROOT_PARAMETER].endswith("/data")
    assert json.loads(values[TRAIN_ARGS_PARAMETER]) == {"num_steps": 321}


@pytest.mark.slow
def test_statistics_gen_step_computes_statistics_of_every_split(job, tmp_path):
    examples = _raw_examples(tmp_path / "examples")
    result = kfp_launcher.run_step(job, "StatisticsGen", {"examples": examples}, str(tmp_path / "task"))
    assert result.returncode == 0, result.output[-3000:]
    statistics = _output(result, "statistics")
    assert statistics["uri"] == result.output_uri("statistics")
    assert json.loads(statistics["metadata"]["split_names"]) == list(SPLITS)
    for split in SPLITS:
        stats = statistics_pb2.DatasetFeatureStatisticsList()
        with open(os.path.join(statistics["uri"], f"Split-{split}", "FeatureStats.pb"), "rb") as handle:
            stats.ParseFromString(handle.read())
        dataset = stats.datasets[0]
        assert dataset.num_examples == 24
        assert {f.path.step[0] for f in dataset.features} == {contract.RAW_TEXT, contract.RAW_LABEL}


def test_anomaly_gate_step_passes_clean_data(job, tmp_path):
    result = kfp_launcher.run_step(job, "AnomalyGate", {"anomalies": _anomalies(tmp_path / "anomalies")},
                                   str(tmp_path / "task"))
    assert result.returncode == 0, result.output[-3000:]
    assert f"found no anomalies in {len(SPLITS)} split(s)" in result.output  # it read every split's report
    assert result.executor_output is not None


def test_anomaly_gate_step_fails_the_run_on_an_anomaly(job, tmp_path):
    result = kfp_launcher.run_step(job, "AnomalyGate",
                                   {"anomalies": _anomalies(tmp_path / "anomalies", contract.RAW_LABEL)},
                                   str(tmp_path / "task"))
    assert result.returncode != 0
    assert "DataAnomaliesError: ExampleValidator found anomalies" in result.output
    assert f"train: feature '{contract.RAW_LABEL}': Unexpected string values" in result.output
    assert result.executor_output is None  # nothing for KFP to record: the task failed


def _gate_inputs(tmp_path, trained_model, evaluator_blessed):
    """Inputs of a step that reads the trained model, the Evaluator's blessing and raw
    eval examples. KFP hands an upstream artefact's custom properties over as metadata
    (numbers as floats)."""
    model = tmp_path / "model"
    shutil.copytree(trained_model.model_dir, model / "Format-Serving")
    model_blessing = tmp_path / "model_blessing"
    model_blessing.mkdir()
    return {"model": InputArtifact(str(model)),
            "model_blessing": InputArtifact(str(model_blessing), {"blessed": float(evaluator_blessed)}),
            "examples": _raw_examples(tmp_path / "examples")}


@pytest.mark.slow
@pytest.mark.parametrize("evaluator_blessed", [True, False])
def test_servable_check_step_blesses_only_a_blessed_model_that_serves(job, tmp_path, trained_model,
                                                                      evaluator_blessed):
    result = kfp_launcher.run_step(job, "ServableCheck", _gate_inputs(tmp_path, trained_model, evaluator_blessed),
                                   str(tmp_path / "task"))
    assert result.returncode == 0, result.output[-3000:]
    blessing = _output(result, "blessing")
    assert blessing["metadata"]["blessed"] == float(evaluator_blessed)  # what Pusher reads downstream
    marker = BLESSED_FILE if evaluator_blessed else NOT_BLESSED_FILE
    assert sorted(f for f in os.listdir(blessing["uri"]) if f.startswith("INFRA_")) == [marker]
    reason = (tmp_path / "task" / "blessing" / marker).read_text()
    assert ("all signatures answered 16 canned requests" in reason if evaluator_blessed
            else "not checked: the Evaluator did not bless this model" in reason)


@pytest.mark.slow
@pytest.mark.parametrize("evaluator_blessed", [True, False])
def test_misspelling_check_step_scores_misspelled_eval_text_and_passes_the_verdict_on(
        job, tmp_path, trained_model, evaluator_blessed):
    result = kfp_launcher.run_step(job, "MisspellingCheck", _gate_inputs(tmp_path, trained_model, evaluator_blessed),
                                   str(tmp_path / "task"))
    assert result.returncode == 0, result.output[-3000:]
    blessing = _output(result, "blessing")
    metadata = blessing["metadata"]
    assert metadata["blessed"] == float(evaluator_blessed)  # no bound configured: the Evaluator's verdict
    assert metadata["examples"] == 24 and 0.0 <= metadata["misspelled_accuracy"] <= 1.0
    assert 0.08 <= metadata["misspelled_tokens"] / metadata["tokens"] <= 0.12
    marker = "BLESSED" if evaluator_blessed else "NOT_BLESSED"
    assert (tmp_path / "task" / "blessing" / marker).exists()
    written = json.loads((tmp_path / "task" / "blessing" / "misspelled_eval.json").read_text())
    assert written["misspelled_accuracy"] == pytest.approx(metadata["misspelled_accuracy"])


@pytest.mark.slow
@pytest.mark.parametrize("serving", ["the same model", "another model"])
def test_duplicate_check_step_passes_the_blessing_on_unless_the_model_is_already_serving(job, tmp_path, serving):
    job = copy.deepcopy(job)
    push_dir = tmp_path / "serving" / "charword"
    parameters = job["pipelineSpec"]["root"]["dag"]["tasks"]["DuplicateCheck"]["inputs"]["parameters"]
    parameters["push_dir"]["runtimeValue"]["constant"] = str(push_dir)
    candidate = tmp_path / "model" / "Format-Serving"
    for directory, weights in ((candidate, b"weights"), (push_dir / "1796545392", b"weights" if serving ==
                                                          "the same model" else b"other weights")):
        (directory / "variables").mkdir(parents=True)
        (directory / "variables" / "variables.data-00000-of-00001").write_bytes(weights)
        (directory / contract.SAVED_MODEL_FILE).write_bytes(b"graph")
    model_blessing = tmp_path / "model_blessing"
    model_blessing.mkdir()
    result = kfp_launcher.run_step(job, "DuplicateCheck", {
        "model": InputArtifact(str(tmp_path / "model")),
        "model_blessing": InputArtifact(str(model_blessing), {"blessed": 1.0})}, str(tmp_path / "task"))
    assert result.returncode == 0, result.output[-3000:]
    metadata = _output(result, "blessing")["metadata"]
    if serving == "the same model":
        assert metadata["blessed"] == 0.0 and metadata["duplicate_of"] == str(push_dir / "1796545392")
        assert "already serving" in metadata["reason"] and (tmp_path / "task" / "blessing" / "NOT_BLESSED").exists()
    else:
        assert metadata["blessed"] == 1.0 and metadata["duplicate_of"] == ""
        assert (tmp_path / "task" / "blessing" / "BLESSED").exists()


# ---- the distilled preset's steps -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def distilled(tmp_path_factory):
    """The compiled distilled pipeline, its tiny teacher checkpoint and configuration."""
    root = tmp_path_factory.mktemp("kfp_distilled")
    checkpoint = str(root / "checkpoint")
    write_checkpoint(checkpoint)
    config = root / "config.json"
    config.write_text(json.dumps({"preprocessing": {"max_tokens": 10, "max_chars": 16},
                                  "model": {"word_dim": 16, "char_output_dim": 16, "token_dim": 16,
                                            "sentence_units": 8, "char_ngram_buckets": 1000},
                                  "teacher": {"max_pieces": 12, "batch_size": 8}}))
    output = root / "charword.json"
    assert main(["compile-kubeflow", "--output", str(output), "--pipeline-root", str(root / "pipeline_root"),
                 "--serving-dir", str(root / "serving"), "--data-root", str(root / "data"), "--config", str(config),
                 "--preset", "distilled", "--teacher-checkpoint", checkpoint, "--train-steps", "12",
                 "--beam-arg=--direct_running_mode=in_memory", "--beam-arg=--direct_num_workers=1"]) == 0
    cfg = load_config(str(config), {"pipeline": {"preset": "distilled"}, "teacher": {"checkpoint": checkpoint}})
    return kfp_launcher.load(str(output)), cfg, root


@pytest.fixture(scope="module")
def teacher_inference(distilled):
    """The TeacherInference (BulkInferrer) step run on raw examples with a teacher trained
    by run_fn on the teacher's Transform of the same data."""
    job, cfg, root = distilled
    teacher_cfg = cfg.teacher_config()
    pairs = {split: learnable_pairs(24, seed) for seed, split in enumerate(SPLITS)}
    data = transform_rows(rows_from_pairs(pairs["train"]), rows_from_pairs(pairs["eval"]), teacher_cfg,
                          str(root / "teacher_transform"))
    trained = task.run_fn(make_fn_args(data, teacher_cfg, str(root / "teacher"), train_steps=6))
    model = root / "teacher_model"
    shutil.copytree(trained.serving_model_dir, model / "Format-Serving")
    examples = _raw_examples(root / "examples")
    result = kfp_launcher.run_step(job, "TeacherInference", {"examples": examples, "model": InputArtifact(str(model))},
                                   str(root / "inference"))
    return result, examples, str(model / "Format-Serving")


@pytest.mark.slow
def test_teacher_inference_step_writes_the_teachers_probabilities_into_every_example(teacher_inference):
    result, examples, teacher_dir = teacher_inference
    assert result.returncode == 0, result.output[-3000:]
    labelled = _output(result, "output_examples")
    assert json.loads(labelled["metadata"]["split_names"]) == sorted(SPLITS)
    teacher = charword.load_model(teacher_dir)
    for split in SPLITS:
        files = tf.io.gfile.glob(os.path.join(labelled["uri"], f"Split-{split}", "*"))
        written = [tf.train.Example.FromString(r.numpy())
                   for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
        assert len(written) == 24
        probabilities = np.array([e.features.feature[contract.TEACHER_PROBABILITIES].float_list.value
                                  for e in written])
        raw = [tf.train.Example.FromString(e.SerializeToString()) for e in written]
        for example in raw:
            del example.features.feature[contract.TEACHER_PROBABILITIES]
        scored = teacher.signatures[contract.SERVING_DEFAULT](
            examples=tf.constant([e.SerializeToString() for e in raw]))[contract.PROBABILITIES].numpy()
        np.testing.assert_allclose(probabilities, scored, atol=1e-5)


@pytest.mark.slow
def test_student_trainer_step_trains_on_the_teacher_inference(distilled, teacher_inference, tmp_path):
    job, cfg, _ = distilled
    labelled = _output(teacher_inference[0], "output_examples")
    pairs = {split: learnable_pairs(24, seed) for seed, split in enumerate(SPLITS)}
    data = transform_rows(rows_from_pairs(pairs["train"]), rows_from_pairs(pairs["eval"]), cfg,
                          str(tmp_path / "transform"))
    schema = tmp_path / "schema"
    schema.mkdir()
    (schema / "schema.pbtxt").write_text("")
    result = kfp_launcher.run_step(job, "Trainer", {
        "examples": InputArtifact(labelled["uri"], labelled["metadata"]),
        "transform_graph": InputArtifact(data.transform_graph_dir),
        "schema": InputArtifact(str(schema))}, str(tmp_path / "task"))
    assert result.returncode == 0, result.output[-3000:]
    with open(os.path.join(result.output_uri("model_run"), contract.TRAINING_REPORT), encoding="utf-8") as handle:
        report = json.load(handle)
    assert 0 < report["steps"] <= 12 and report["train_examples"] == 24  # the step budget, or early stopping
    history = report["history"]
    assert len(history["soft_target_loss"]) == len(history["loss"]) > 0  # the distillation loss trained it
    student = charword.load_model(os.path.join(result.output_uri("model"), "Format-Serving"))
    assert contract.EMBED_SENTENCE not in student.signatures  # the fast model: no encoder
