"""Builds charword's ``tfx.dsl.Pipeline`` from the typed configuration.

    CsvExampleGen ─ StatisticsGen ─ SchemaGen ─ ExampleValidator (vs. the pinned schema, once
      there is one) ─ AnomalyGate ─ Transform ─ Trainer ─ Evaluator (vs. the latest blessed
      model) ─ MisspellingCheck ─ DuplicateCheck ─ ServableCheck | InfraValidator ─ Pusher

Local runs read the train and eval splits staging wrote (:func:`staged_splits_config`);
on Kubeflow ExampleGen hash-splits the data root's CSV by default, or reads ``train/`` and
``eval/`` folders (:func:`example_gen_configs`). MisspellingCheck (when
``evaluation.misspelled_fraction`` > 0) scores the candidate on misspelled eval text and
may refuse the blessing (``evaluation.min_misspelled_accuracy``). DuplicateCheck passes the
blessing on unless the candidate is the model already serving (a cached Trainer's output,
pushed by an earlier run), so an unchanged rerun pushes nothing.

``pipeline.preset`` chooses the model Transform, Trainer and the gates see: the default
char + word model, the ``accurate`` preset's fine-tuned encoder model
(:meth:`CharwordConfig.teacher_config`), or, ``distilled``, the default model trained as
the student of that model: the teacher branch (:mod:`pipeline.distillation`) runs beside
Transform, and the Trainer reads its BulkInferrer's examples with the teacher's
probabilities.

The same function serves the local runner and the Kubeflow compiler. Before Pusher,
``serving_check="local"`` proves the model loads and answers in a fresh process
(no model server needed); ``"tf_serving"`` uses TFX's InfraValidator with TF Serving
on Kubernetes, for orchestrators that support that component.
"""
from typing import Optional, Tuple

from tfx import v1 as tfx
from tfx.proto import example_gen_pb2

from charword import staging
from charword.config import CharwordConfig
from components.anomaly_gate import AnomalyGate
from components.duplicate_check import DuplicateCheck
from components.misspelling_check import MisspellingCheck
from components.servable_check import ServableCheck
from pipeline import layout
from pipeline.beam_args import resolve_beam_args
from pipeline.distillation import teacher_branch
from pipeline.eval_config import build_eval_config
from pipeline.training_steps import trainer_step, transform_step
from pipeline.vertex_training import VertexTraining

RESOLVER_ID = "latest_blessed_model_resolver"


MISSPELLING_CHECK_ID = "MisspellingCheck"
EVALUATOR_ID = "Evaluator"
DUPLICATE_CHECK_ID = "DuplicateCheck"


def staged_splits_config() -> example_gen_pb2.Input:
    """ExampleGen's input config for a data root that holds the splits as folders,
    ``train/*.csv`` and ``eval/*.csv`` (what :mod:`charword.staging` writes)."""
    return example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name=split, pattern=f"{split}/*.csv")
                                         for split in staging.SPLITS])


def example_gen_configs(cfg: CharwordConfig) -> Tuple[example_gen_pb2.Input, Optional[example_gen_pb2.Output]]:
    """ExampleGen's input and output split configs on Kubeflow: with ``data.eval_data``,
    the ``train/`` and ``eval/`` folders under the data root are the two splits (no output
    config); without it, every ``*.csv`` of the data root, hash-split into train and eval.
    Local runs always read the folders their staging wrote."""
    if cfg.data.eval_data:
        return staged_splits_config(), None
    return (example_gen_pb2.Input(splits=[example_gen_pb2.Input.Split(name="all", pattern="*.csv")]),
            example_gen_pb2.Output(split_config=example_gen_pb2.SplitConfig(splits=[
                example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=cfg.data.train_buckets),
                example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=cfg.data.eval_buckets),
            ])))


def create_pipeline(cfg: CharwordConfig, data_root: str, num_classes: int, pipeline_root: str,
                    schema_file: Optional[str] = None, metadata_connection_config=None,
                    serving_check: str = "local", beam_args=None,
                    train_args=None, push_dir: Optional[str] = None,
                    vertex_training: Optional[VertexTraining] = None, input_config=None,
                    output_config=None) -> tfx.dsl.Pipeline:
    """The charword pipeline.

    Args:
      cfg: the configuration; Transform and Trainer get what they read of the pushed
        model's (:meth:`CharwordConfig.pushed_model_config`), the teacher branch the
        teacher's.
      data_root: directory of staged CSV files (see :mod:`charword.data`).
      num_classes: label classes, for the Evaluator's AUC / macro-F1 set-up.
      pipeline_root: where TFX writes artefacts.
      schema_file: a pinned schema to validate the data against (ImportSchemaGen);
        ``None`` validates against the schema inferred from this data.
      metadata_connection_config: ML Metadata store (local runs).
      serving_check: ``local`` (ServableCheck) or ``tf_serving`` (InfraValidator on
        Kubernetes).
      beam_args: Beam pipeline arguments; default from ``cfg.pipeline``.
      train_args: Trainer ``TrainArgs`` (a runtime parameter on Kubeflow); default
        ``cfg.training.train_steps`` steps, or passes over the data when that is unset.
      push_dir: where Pusher writes version folders (any filesystem TFX can write,
        e.g. ``gs://``); default :func:`pipeline.layout.push_dir`.
      vertex_training: run the Trainer as a Vertex AI training job with these
        worker pools (TFX's Vertex AI Trainer); ``None`` trains in the step itself.
      input_config, output_config: ExampleGen's split configs (runtime parameters on
        Kubeflow); default :func:`example_gen_configs`.
    """
    default_input, default_output = example_gen_configs(cfg)
    example_gen = tfx.components.CsvExampleGen(
        input_base=data_root, input_config=input_config or default_input,
        output_config=output_config if input_config is not None else default_output)
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    validation_schema = schema_gen
    if schema_file:
        validation_schema = tfx.components.ImportSchemaGen(schema_file=schema_file).with_id("PinnedSchema")
    example_validator = tfx.components.ExampleValidator(statistics=statistics_gen.outputs["statistics"],
                                                        schema=validation_schema.outputs["schema"])
    anomaly_gate = AnomalyGate(anomalies=example_validator.outputs["anomalies"])
    examples, schema = example_gen.outputs["examples"], schema_gen.outputs["schema"]
    pushed_cfg = cfg.pushed_model_config()
    transform = transform_step(pushed_cfg, examples, schema, anomaly_gate)
    teacher, training_examples = None, transform.outputs["transformed_examples"]
    if cfg.pipeline.preset == "distilled":
        teacher = teacher_branch(cfg, examples, schema, anomaly_gate, num_classes, vertex_training)
        training_examples = teacher.labelled_examples
    trainer = trainer_step(pushed_cfg, training_examples, transform, schema, train_args, vertex_training)
    check_misspellings = cfg.evaluation.misspelled_fraction > 0
    final_gate = MISSPELLING_CHECK_ID if check_misspellings else EVALUATOR_ID
    baseline_resolver = tfx.dsl.Resolver(
        strategy_class=tfx.dsl.experimental.LatestBlessedModelStrategy,
        model=tfx.dsl.Channel(type=tfx.types.standard_artifacts.Model),
        # The final blessing only: with the misspelling check, a model the Evaluator blessed
        # but the check refused is no baseline; the distilled preset's teacher is never one.
        model_blessing=tfx.dsl.Channel(type=tfx.types.standard_artifacts.ModelBlessing,
                                       producer_component_id=final_gate, output_key="blessing"),
    ).with_id(RESOLVER_ID)
    evaluator = tfx.components.Evaluator(
        examples=example_gen.outputs["examples"], model=trainer.outputs["model"],
        baseline_model=baseline_resolver.outputs["model"],
        eval_config=build_eval_config(cfg.evaluation, num_classes)).with_id(EVALUATOR_ID)
    blessing_gate = [evaluator]
    if check_misspellings:
        blessing_gate.append(MisspellingCheck(
            model=trainer.outputs["model"], model_blessing=evaluator.outputs["blessing"],
            examples=example_gen.outputs["examples"], fraction=cfg.evaluation.misspelled_fraction,
            lexicon=cfg.evaluation.misspelling_lexicon or "", min_accuracy=cfg.evaluation.min_misspelled_accuracy,
            seed=cfg.training.seed).with_id(MISSPELLING_CHECK_ID))
    push_destination = push_dir or layout.push_dir(cfg.pipeline)
    duplicate_check = DuplicateCheck(model=trainer.outputs["model"],
                                     model_blessing=blessing_gate[-1].outputs["blessing"],
                                     push_dir=push_destination).with_id(DUPLICATE_CHECK_ID)
    blessing = duplicate_check.outputs["blessing"]
    if serving_check == "local":
        infra_check = ServableCheck(model=trainer.outputs["model"], model_blessing=blessing,
                                    examples=example_gen.outputs["examples"])
    elif serving_check == "tf_serving":
        infra_check = tfx.components.InfraValidator(
            model=trainer.outputs["model"], examples=example_gen.outputs["examples"],
            serving_spec=tfx.proto.ServingSpec(
                tensorflow_serving=tfx.proto.TensorFlowServing(tags=["latest"]),
                kubernetes=tfx.proto.KubernetesConfig()),
            request_spec=tfx.proto.RequestSpec(tensorflow_serving=tfx.proto.TensorFlowServingRequestSpec()))
    else:
        raise ValueError(f"serving_check must be 'local' or 'tf_serving', got {serving_check!r}")
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"], model_blessing=blessing,
        infra_blessing=infra_check.outputs["blessing"],
        push_destination=tfx.proto.PushDestination(
            filesystem=tfx.proto.PushDestination.Filesystem(base_directory=push_destination)))
    return tfx.dsl.Pipeline(
        pipeline_name=cfg.pipeline.name,
        pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen,
                    *([validation_schema] if schema_file else []),
                    example_validator, anomaly_gate, transform, *(teacher.components if teacher else []), trainer,
                    baseline_resolver, *blessing_gate, duplicate_check, infra_check, pusher],
        enable_cache=cfg.pipeline.enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_args if beam_args is not None else resolve_beam_args(cfg.pipeline)))
