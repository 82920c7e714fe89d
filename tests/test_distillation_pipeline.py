"""The presets in the pipeline definition (pipeline/pipeline.py, pipeline/distillation.py):
the distilled preset's teacher branch and its wiring into the student, the accurate
preset's Transform and Trainer, the Kubeflow file of both, and a teacher checkpoint that
cannot load stopping a run before anything runs."""
import json
import os

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.proto import bulk_inferrer_pb2

from charword import contract
from charword.config import CharwordConfig, ConfigError
from cli.main import build_parser
from pipeline import distillation, layout
from pipeline.local_run import run_local
from pipeline.pipeline import create_pipeline
from tests.bert_helpers import write_checkpoint
from tests.test_pipeline_builder import baseline_blessing_sources

CHECKPOINT = "gs://bucket/all-MiniLM-L6-v2"
DISTILLED = CharwordConfig().replace(pipeline=dict(preset="distilled"), teacher=dict(checkpoint=CHECKPOINT),
                                     training=dict(train_steps=300))
TEACHER_STEPS = ("TeacherTransform", "TeacherTrainer", "TeacherInference", "TeacherEvaluator")


def _as_json(values):
    return json.loads(json.dumps(values))  # tuples as lists, as custom_config carries them


def _nodes(cfg, tmp_path):
    pipeline = create_pipeline(cfg, data_root=str(tmp_path), num_classes=2, pipeline_root=str(tmp_path))
    return [c.id for c in pipeline.components], {c.id: c for c in pipeline.components}


def test_the_distilled_pipeline_trains_the_student_on_the_teachers_bulk_inference(tmp_path):
    ids, nodes = _nodes(DISTILLED, tmp_path)
    chain = ["AnomalyGate", "TeacherTransform", "TeacherTrainer", "TeacherInference", "Trainer", "Evaluator",
             "MisspellingCheck", "ServableCheck", "Pusher"]
    assert [ids.index(c) for c in chain] == sorted(ids.index(c) for c in chain)
    assert "TeacherEvaluator" in ids and "Transform" in ids
    teacher = DISTILLED.teacher_config()
    assert nodes["TeacherTransform"].exec_properties["custom_config"] == json.dumps(teacher.transform_config(),
                                                                                   sort_keys=True)
    assert json.loads(nodes["TeacherTrainer"].exec_properties["custom_config"]) == _as_json(teacher.to_dict())
    assert json.loads(nodes["TeacherTrainer"].exec_properties["train_args"]) == {}  # passes, not the student's steps
    assert nodes["TeacherTrainer"].inputs["examples"].producer_component_id == "TeacherTransform"
    inference = nodes["TeacherInference"]
    assert inference.inputs["examples"].producer_component_id == "CsvExampleGen"
    assert inference.inputs["model"].producer_component_id == "TeacherTrainer"
    spec = json_format.Parse(inference.exec_properties["output_example_spec"], bulk_inferrer_pb2.OutputExampleSpec())
    column, = spec.output_columns_spec[0].predict_output.output_columns
    assert (column.output_key, column.output_column) == (contract.PROBABILITIES, contract.TEACHER_PROBABILITIES)
    student = nodes["Trainer"]
    assert (student.inputs["examples"].producer_component_id, student.inputs["examples"].output_key) == (
        "TeacherInference", "output_examples")
    assert student.inputs["transform_graph"].producer_component_id == "Transform"
    assert json.loads(student.exec_properties["custom_config"]) == _as_json(DISTILLED.to_dict())
    assert json.loads(student.exec_properties["train_args"])["num_steps"] == 300
    assert nodes["Transform"].exec_properties["custom_config"] == json.dumps(DISTILLED.transform_config(),
                                                                            sort_keys=True)
    assert nodes["Evaluator"].inputs["model"].producer_component_id == "Trainer"
    assert nodes["TeacherEvaluator"].inputs["model"].producer_component_id == "TeacherTrainer"
    assert "baseline_model" not in nodes["TeacherEvaluator"].inputs
    teacher_eval = json.loads(nodes["TeacherEvaluator"].exec_properties["eval_config"])
    student_eval = json.loads(nodes["Evaluator"].exec_properties["eval_config"])
    assert "per_slice_thresholds" not in json.dumps(teacher_eval)  # reported, never gated
    assert "per_slice_thresholds" in json.dumps(student_eval)
    assert nodes["Pusher"].inputs["model"].producer_component_id == "Trainer"


@pytest.mark.parametrize("misspelled_fraction, gate", [(0.1, "MisspellingCheck"), (0.0, "Evaluator")])
def test_the_baseline_is_a_model_the_last_gate_blessed_never_the_teacher(tmp_path, misspelled_fraction, gate):
    cfg = DISTILLED.replace(evaluation=dict(misspelled_fraction=misspelled_fraction))
    assert baseline_blessing_sources(cfg, tmp_path) == {f"{cfg.pipeline.name}.{gate}"}


def test_the_accurate_preset_trains_and_pushes_the_teachers_model(tmp_path):
    accurate = DISTILLED.replace(pipeline=dict(preset="accurate"), teacher=dict(train_steps=700))
    ids, nodes = _nodes(accurate, tmp_path)
    assert not set(TEACHER_STEPS) & set(ids)
    teacher = accurate.teacher_config()
    assert nodes["Transform"].exec_properties["custom_config"] == json.dumps(teacher.transform_config(),
                                                                            sort_keys=True)
    assert json.loads(nodes["Trainer"].exec_properties["custom_config"]) == _as_json(teacher.to_dict())
    assert json.loads(nodes["Trainer"].exec_properties["train_args"])["num_steps"] == 700
    assert nodes["Trainer"].inputs["examples"].producer_component_id == "Transform"


def _compiled(tmp_path, *flags):
    checkpoint = str(tmp_path / "checkpoint")
    write_checkpoint(checkpoint)
    output = tmp_path / "charword.json"
    args = build_parser().parse_args(["compile-kubeflow", "--output", str(output), "--pipeline-root", "gs://b/root",
                                      "--serving-dir", "gs://b/serving", "--data-root", "gs://b/data",
                                      "--teacher-checkpoint", checkpoint, *flags])
    assert args.handler(args) == 0
    with open(output, encoding="utf-8") as handle:
        document = json.load(handle)
    return json_format.ParseDict(document["pipelineSpec"], pipeline_spec_pb2.PipelineSpec()), document


def test_the_kubeflow_file_holds_the_teacher_branch(tmp_path):
    spec, document = _compiled(tmp_path, "--preset", "distilled", "--train-steps", "250")
    tasks = spec.root.dag.tasks
    assert set(TEACHER_STEPS) <= set(tasks)
    examples = tasks["Trainer"].inputs.artifacts["examples"].task_output_artifact
    assert (examples.producer_task, examples.output_artifact_key) == ("TeacherInference", "output_examples")
    assert tasks["TeacherInference"].inputs.artifacts["model"].task_output_artifact.producer_task == "TeacherTrainer"
    assert "AnomalyGate" in tasks["TeacherTransform"].dependent_tasks
    assert json.loads(document["runtimeConfig"]["parameterValues"]["train-args"]) == {"num_steps": 250}


def test_the_kubeflow_file_of_the_accurate_preset_defaults_to_the_teachers_budget(tmp_path):
    spec, document = _compiled(tmp_path, "--preset", "accurate", "--config", _config_file(tmp_path, train_steps=640))
    assert not set(TEACHER_STEPS) & set(spec.root.dag.tasks)
    assert json.loads(document["runtimeConfig"]["parameterValues"]["train-args"]) == {"num_steps": 640}


def _config_file(tmp_path, **teacher):
    path = tmp_path / "teacher.json"
    path.write_text(json.dumps({"teacher": teacher}))
    return str(path)


def _broken_checkpoints(tmp_path):
    """``(directory, file the error must name)``: a missing directory and a truncated weights file."""
    missing = tmp_path / "no_such_checkpoint"
    truncated = tmp_path / "truncated"
    write_checkpoint(str(truncated))
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return [(str(missing), os.path.join(str(missing), "config.json")), (str(truncated), str(weights))]


@pytest.mark.parametrize("preset", ["accurate", "distilled"])
def test_a_teacher_checkpoint_that_cannot_load_stops_the_run_before_anything_runs(tmp_path, preset):
    data = tmp_path / "data.csv"
    data.write_text("text,label\n" + "".join(f"a fine film {i},positive\na dull film {i},negative\n"
                                             for i in range(20)))  # data staging accepts
    for checkpoint, named in _broken_checkpoints(tmp_path):
        cfg = CharwordConfig().replace(pipeline=dict(preset=preset, output_dir=str(tmp_path / "outputs")),
                                       teacher=dict(checkpoint=checkpoint))
        with pytest.raises(ConfigError) as error:
            run_local(cfg, str(data))
        assert f"teacher.checkpoint {checkpoint} cannot be used: {named}" in str(error.value)
        assert not os.path.exists(layout.pipeline_root(cfg.pipeline))
        assert not os.path.exists(layout.staged_data_dir(cfg.pipeline))


def test_compile_kubeflow_refuses_a_teacher_checkpoint_that_cannot_load(tmp_path):
    for checkpoint, named in _broken_checkpoints(tmp_path):
        args = build_parser().parse_args(["compile-kubeflow", "--output", str(tmp_path / "c.json"), "--pipeline-root",
                                          "gs://b/root", "--serving-dir", "gs://b/serving", "--data-root",
                                          "gs://b/data", "--preset", "distilled", "--teacher-checkpoint", checkpoint])
        with pytest.raises(ConfigError, match=named):
            args.handler(args)
        assert not (tmp_path / "c.json").exists()


def test_the_default_preset_reads_no_checkpoint():
    distillation.check_teacher_checkpoint(CharwordConfig().replace(teacher=dict(checkpoint="/no/such/dir")))
