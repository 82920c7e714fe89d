"""The pipeline definition: components, wiring, thresholds from config, Kubeflow file."""
import importlib.util
import json
import os
import re

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2
from tfx.dsl.compiler import compiler
from tfx.dsl.io import fileio
from tfx.proto import example_gen_pb2

from charword import contract
from charword.config import CharwordConfig, ConfigError
from cli.main import build_parser
from pipeline import layout
from pipeline.beam_args import resolve_beam_args
from pipeline.eval_config import build_eval_config
from pipeline.kubeflow_dag import compile_pipeline
from pipeline.pipeline import create_pipeline, example_gen_configs, staged_splits_config
from tests import fake_cloud_fs

CFG = CharwordConfig().replace(evaluation=dict(min_accuracy=0.72, max_accuracy_drop=0.03, min_oov_accuracy=0.5),
                               training=dict(train_steps=321))


def _ids(pipeline):
    return [component.id for component in pipeline.components]


def baseline_blessing_sources(cfg, root):
    """The nodes whose blessings the compiled pipeline's baseline resolver reads."""
    ir = compiler.Compiler().compile(create_pipeline(cfg, data_root=str(root), num_classes=2, pipeline_root=str(root)))
    resolver, = [n.pipeline_node for n in ir.nodes if n.pipeline_node.node_info.id == "latest_blessed_model_resolver"]
    return {query.name.field_value.string_value for spec in resolver.inputs.inputs.values()
            for channel in spec.channels if channel.artifact_query.type.name == "ModelBlessing"
            for query in channel.context_queries if query.type.name == "node"}


def test_local_pipeline_has_every_component_in_dependency_order(tmp_path):
    pipeline = create_pipeline(CFG, data_root=str(tmp_path), num_classes=2, pipeline_root=str(tmp_path))
    ids = _ids(pipeline)
    assert sorted(ids) == sorted(["CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
                                  "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator",
                                  "MisspellingCheck", "DuplicateCheck", "ServableCheck", "Pusher"])
    chain = ["CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate", "Transform",
             "Trainer", "Evaluator", "MisspellingCheck", "DuplicateCheck", "ServableCheck", "Pusher"]
    assert [ids.index(c) for c in chain] == sorted(ids.index(c) for c in chain)


def test_without_the_misspelling_view_the_evaluator_blesses_alone(tmp_path):
    cfg = CFG.replace(evaluation=dict(misspelled_fraction=0.0))
    nodes = {c.id: c for c in create_pipeline(cfg, data_root=str(tmp_path), num_classes=2,
                                              pipeline_root=str(tmp_path)).components}
    assert "MisspellingCheck" not in nodes
    assert nodes["DuplicateCheck"].inputs["model_blessing"].producer_component_id == "Evaluator"
    assert nodes["Pusher"].inputs["model_blessing"].producer_component_id == "DuplicateCheck"


def test_the_misspelling_check_gets_its_settings_from_the_config(tmp_path):
    cfg = CFG.replace(evaluation=dict(misspelled_fraction=0.2, misspelling_lexicon="gs://b/lexicon.tsv",
                                      min_misspelled_accuracy=0.7))
    nodes = {c.id: c for c in create_pipeline(cfg, data_root=str(tmp_path), num_classes=2,
                                              pipeline_root=str(tmp_path)).components}
    properties = nodes["MisspellingCheck"].exec_properties
    assert (properties["fraction"], properties["lexicon"], properties["min_accuracy"]) == (0.2, "gs://b/lexicon.tsv",
                                                                                           0.7)


def test_a_held_out_eval_file_replaces_the_hash_split(tmp_path):
    def example_gen(cfg):
        nodes = {c.id: c for c in create_pipeline(cfg, data_root=str(tmp_path), num_classes=2,
                                                  pipeline_root=str(tmp_path)).components}
        return {name: json.loads(value) for name, value in nodes["CsvExampleGen"].exec_properties.items()
                if name in ("input_config", "output_config")}
    hashed = example_gen(CFG)
    assert [split["name"] for split in hashed["input_config"]["splits"]] == ["all"]
    assert [split["name"] for split in hashed["output_config"]["split_config"]["splits"]] == ["train", "eval"]
    held_out = example_gen(CFG.replace(data=dict(eval_data="dev.tsv")))
    assert held_out["input_config"]["splits"] == [{"name": "train", "pattern": "train/*.csv"},
                                                  {"name": "eval", "pattern": "eval/*.csv"}]
    assert not held_out["output_config"].get("split_config")
    # Local runs read the folders staging wrote, whatever the eval source.
    assert json_format.MessageToDict(staged_splits_config()) == held_out["input_config"]


def test_pinned_schema_is_what_the_validator_checks(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text("")
    pipeline = create_pipeline(CFG, data_root=str(tmp_path), num_classes=2, pipeline_root=str(tmp_path),
                               schema_file=str(schema))
    nodes = {component.id: component for component in pipeline.components}
    assert "PinnedSchema" in nodes
    validator_schema = nodes["ExampleValidator"].inputs["schema"]
    assert validator_schema.producer_component_id == "PinnedSchema"
    # Transform keeps the inferred schema, so re-validation does not invalidate its cache.
    assert nodes["Transform"].inputs["schema"].producer_component_id == "SchemaGen"


def test_wiring_gate_before_transform_and_blessings_into_pusher(tmp_path):
    pipeline = create_pipeline(CFG, data_root=str(tmp_path), num_classes=2, pipeline_root=str(tmp_path))
    nodes = {component.id: component for component in pipeline.components}
    assert "AnomalyGate" in {node.id for node in nodes["Transform"].upstream_nodes}
    assert nodes["Evaluator"].inputs["baseline_model"].producer_component_id == "latest_blessed_model_resolver"
    assert nodes["MisspellingCheck"].inputs["model_blessing"].producer_component_id == "Evaluator"
    assert nodes["DuplicateCheck"].inputs["model_blessing"].producer_component_id == "MisspellingCheck"
    assert nodes["ServableCheck"].inputs["model_blessing"].producer_component_id == "DuplicateCheck"
    assert nodes["Pusher"].inputs["model_blessing"].producer_component_id == "DuplicateCheck"
    assert nodes["DuplicateCheck"].exec_properties["push_dir"] == layout.push_dir(CFG.pipeline)
    # The last blessed model is one the misspelling check blessed, not one the Evaluator alone did.
    assert baseline_blessing_sources(CFG, tmp_path) == {f"{CFG.pipeline.name}.MisspellingCheck"}
    assert nodes["Pusher"].inputs["infra_blessing"].producer_component_id == "ServableCheck"
    assert json.loads(nodes["Trainer"].exec_properties["train_args"])["num_steps"] == 321
    push = nodes["Pusher"].exec_properties["push_destination"]
    assert json.loads(push)["filesystem"]["base_directory"] == layout.push_dir(CFG.pipeline)
    assert layout.push_dir(CFG.pipeline).endswith("serving/charword")


def test_eval_config_thresholds_come_from_config():
    config = build_eval_config(CFG.evaluation, num_classes=2)
    accuracy = next(m for spec in config.metrics_specs for m in spec.metrics
                    if m.class_name == "SparseCategoricalAccuracy")
    overall, oov = accuracy.per_slice_thresholds
    assert overall.threshold.value_threshold.lower_bound.value == pytest.approx(0.72)
    assert overall.threshold.change_threshold.absolute.value == pytest.approx(-0.03)
    assert not overall.slicing_specs[0].feature_keys and not overall.slicing_specs[0].feature_values
    assert dict(oov.slicing_specs[0].feature_values) == {"has_oov": "1"}
    assert oov.threshold.value_threshold.lower_bound.value == pytest.approx(0.5)
    assert [list(s.feature_keys) for s in config.slicing_specs] == [[], ["has_oov"]]


@pytest.mark.parametrize("num_classes,metric", [(2, "AUC"), (4, "F1Score")])
def test_ranking_metric_is_auc_for_binary_and_macro_f1_for_multiclass(num_classes, metric):
    config = build_eval_config(CFG.evaluation, num_classes=num_classes)
    binarized = [spec for spec in config.metrics_specs if spec.binarize.class_ids.values]
    assert [m.class_name for m in binarized[0].metrics] == [metric]
    assert list(binarized[0].binarize.class_ids.values) == list(range(num_classes))
    assert binarized[0].aggregate.macro_average


def test_beam_args_pass_through_unchanged_and_auto_mode_follows_data_size():
    dataflow = ("--runner=DataflowRunner", "--project=p", "--region=europe-west4", "--temp_location=gs://b/tmp")
    assert resolve_beam_args(CFG.replace(pipeline=dict(beam_args=dataflow)).pipeline, 10) == dataflow
    small = resolve_beam_args(CFG.pipeline, data_bytes=1_000)
    large = resolve_beam_args(CFG.pipeline, data_bytes=10**9)
    assert small == ("--direct_running_mode=in_memory", "--direct_num_workers=1")
    assert large[0] == "--direct_running_mode=multi_processing"
    forced = CFG.replace(pipeline=dict(direct_running_mode="multi_processing", direct_num_workers=3))
    assert resolve_beam_args(forced.pipeline, 1_000) == ("--direct_running_mode=multi_processing",
                                                         "--direct_num_workers=3")


def test_kubeflow_file_parses_and_holds_components_image_and_beam_args(tmp_path):
    beam_args = ("--runner=DataflowRunner", "--project=my-project", "--region=us-central1")
    cfg = CFG.replace(pipeline=dict(beam_args=beam_args))
    path = compile_pipeline(cfg, output_path=str(tmp_path / "charword.json"), image="registry.example/charword:1.2",
                            data_root="gs://bucket/data", num_classes=2, pipeline_root="gs://bucket/root",
                            push_dir="gs://bucket/serving/charword")
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    spec = json_format.ParseDict(document["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    tasks = set(spec.root.dag.tasks)
    for component in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
                      "Transform", "Trainer", "Evaluator", "ServableCheck", "Pusher"):
        assert component in tasks
    assert "AnomalyGate" in spec.root.dag.tasks["Transform"].dependent_tasks
    assert set(spec.root.input_definitions.parameters) == {"data-root", "train-args", "input-config",
                                                          "output-config"}
    executors = spec.deployment_spec.fields["executors"].struct_value.fields
    transform = executors["Transform_executor"].struct_value.fields["container"].struct_value.fields
    assert transform["image"].string_value == "registry.example/charword:1.2"
    args = [value.string_value for value in transform["args"].list_value.values]
    for arg in beam_args:
        assert arg in args


def _compile_kubeflow(*argv: str) -> int:
    """``charword compile-kubeflow ARGV`` (the parser and handler of the CLI, without its logging set-up)."""
    args = build_parser().parse_args(["compile-kubeflow", *argv])
    return args.handler(args)


def _task_parameter(task, name: str) -> str:
    return task.inputs.parameters[name].runtime_value.constant.string_value


def _pinned_schema(path) -> str:
    path.write_text("".join(f'feature {{ name: "{name}" type: BYTES }}\n'
                            for name in (contract.RAW_TEXT, contract.RAW_LABEL)))
    return str(path)


def test_compile_kubeflow_imports_the_schema_and_pushes_to_the_given_destination(tmp_path, capsys):
    fake_cloud_fs.register()  # the pipeline root is on a filesystem only TFX's fileio reaches, like gs://
    root = fake_cloud_fs.to_uri(tmp_path / "bucket" / "pipeline_root")
    schema = _pinned_schema(tmp_path / "schema.pbtxt")
    output = tmp_path / "charword.json"
    assert _compile_kubeflow("--output", str(output), "--pipeline-root", root, "--serving-dir", "gs://models/serving",
                             "--data-root", "gs://bucket/data", "--schema", schema) == 0
    with open(output, encoding="utf-8") as handle:
        spec = json_format.ParseDict(json.load(handle)["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    tasks = spec.root.dag.tasks
    staged = _task_parameter(tasks["PinnedSchema"], "schema_file")
    assert staged.startswith(f"{root}/pinned_schema/") and staged.endswith("/schema.pbtxt")
    with fileio.open(staged) as handle:
        assert handle.read() == open(schema, encoding="utf-8").read()
    assert tasks["ExampleValidator"].inputs.artifacts["schema"].task_output_artifact.producer_task == "PinnedSchema"
    assert tasks["Transform"].inputs.artifacts["schema"].task_output_artifact.producer_task == "SchemaGen"
    push = json.loads(_task_parameter(tasks["Pusher"], "push_destination"))
    assert push["filesystem"]["base_directory"] == "gs://models/serving/charword"
    printed = capsys.readouterr().out
    assert f"pipeline root:     {root}" in printed
    assert "push destination:  gs://models/serving/charword/<version>" in printed
    assert f"schema:            {schema} (read from {staged})" in printed


def test_compile_kubeflow_without_a_schema_validates_against_the_inferred_one(tmp_path, capsys):
    output = tmp_path / "charword.json"
    assert _compile_kubeflow("--output", str(output), "--pipeline-root", "gs://b/root", "--serving-dir",
                             "gs://b/serving", "--data-root", "gs://b/data") == 0
    with open(output, encoding="utf-8") as handle:
        spec = json_format.ParseDict(json.load(handle)["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert "PinnedSchema" not in spec.root.dag.tasks
    assert "schema:            none" in capsys.readouterr().out


def test_compile_kubeflow_requires_the_pipeline_root_and_data_root(tmp_path, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["compile-kubeflow", "--output", str(tmp_path / "c.json"),
                                   "--serving-dir", "gs://b/serving"])
    assert "the following arguments are required: --pipeline-root, --data-root" in capsys.readouterr().err


@pytest.mark.parametrize("flags,message", [
    ((), "--serving-dir is required"),
    (("--serving-dir", "serving"), "--serving-dir must be a URI every pipeline step can reach"),
    (("--serving-dir", "gs://b/serving", "--pipeline-root", "outputs/root"),
     "--pipeline-root must be a URI every pipeline step can reach"),
])
def test_compile_kubeflow_refuses_a_missing_or_relative_destination(tmp_path, flags, message):
    argv = {"--output": str(tmp_path / "c.json"), "--pipeline-root": "gs://b/root", "--data-root": "gs://b/data"}
    argv.update(zip(flags[::2], flags[1::2]))
    with pytest.raises(ConfigError, match=message):
        _compile_kubeflow(*[item for pair in argv.items() for item in pair])
    assert not (tmp_path / "c.json").exists()


def test_compile_kubeflow_refuses_a_schema_without_the_raw_features(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text(f'feature {{ name: "{contract.WORD_IDS}" type: INT }}\n')
    missing = sorted([contract.RAW_TEXT, contract.RAW_LABEL])
    with pytest.raises(ConfigError, match=re.escape(f"--schema {schema} lacks the feature(s) {missing}")):
        _compile_kubeflow("--output", str(tmp_path / "c.json"), "--pipeline-root", str(tmp_path / "root"),
                          "--serving-dir", "gs://b/serving", "--data-root", "gs://b/data", "--schema", str(schema))
    assert not (tmp_path / "root").exists() and not (tmp_path / "c.json").exists()


def test_submit_scripts_held_out_eval_parameters_are_the_pipelines_split_configs():
    path = os.path.join(os.path.dirname(__file__), "..", "kubeflow", "submit.py")
    spec = importlib.util.spec_from_file_location("kubeflow_submit", path)
    submit = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(submit)
    parameters = submit.pipeline_parameters("gs://bucket/data", None, held_out_eval=True)
    expected_input, expected_output = example_gen_configs(CharwordConfig().replace(data={"eval_data": "dev.tsv"}))
    assert json_format.Parse(parameters["input-config"], example_gen_pb2.Input()) == expected_input
    assert expected_output is None
    assert json_format.Parse(parameters["output-config"], example_gen_pb2.Output()) == example_gen_pb2.Output()
