"""The pipeline definition: components, wiring, thresholds from config, Kubeflow file."""
import json

import pytest
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from charword.config import CharwordConfig
from pipeline.eval_config import build_eval_config
from pipeline.kubeflow_dag import compile_pipeline
from pipeline.pipeline import create_pipeline

CFG = CharwordConfig().replace(evaluation=dict(min_accuracy=0.72, max_accuracy_drop=0.03, min_oov_accuracy=0.5),
                               training=dict(train_steps=321))


def _ids(pipeline):
    return [component.id for component in pipeline.components]


def test_local_pipeline_has_every_component_in_dependency_order(tmp_path):
    pipeline = create_pipeline(CFG, data_root=str(tmp_path), num_classes=2, pipeline_root=str(tmp_path))
    ids = _ids(pipeline)
    assert sorted(ids) == sorted(["CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
                                  "Transform", "Trainer", "latest_blessed_model_resolver", "Evaluator",
                                  "ServableCheck", "Pusher"])
    chain = ["CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate", "Transform",
             "Trainer", "Evaluator", "ServableCheck", "Pusher"]
    assert [ids.index(c) for c in chain] == sorted(ids.index(c) for c in chain)


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
    assert nodes["Pusher"].inputs["model_blessing"].producer_component_id == "Evaluator"
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
                            data_root="gs://bucket/data", num_classes=2)
    with open(path, encoding="utf-8") as handle:
        document = json.load(handle)
    spec = json_format.ParseDict(document["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    tasks = set(spec.root.dag.tasks)
    for component in ("CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator", "AnomalyGate",
                      "Transform", "Trainer", "Evaluator", "ServableCheck", "Pusher"):
        assert component in tasks
    assert "AnomalyGate" in spec.root.dag.tasks["Transform"].dependent_tasks
    assert set(spec.root.input_definitions.parameters) == {"data-root", "train-args"}
    executors = spec.deployment_spec.fields["executors"].struct_value.fields
    transform = executors["Transform_executor"].struct_value.fields["container"].struct_value.fields
    assert transform["image"].string_value == "registry.example/charword:1.2"
    args = [value.string_value for value in transform["args"].list_value.values]
    for arg in beam_args:
        assert arg in args
