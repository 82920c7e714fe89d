"""Builds the pretraining pipeline (``charword pretrain``): a language model over the
classifier's token layer, trained on unlabelled texts and pushed as a versioned encoder
that ``charword run --init-from`` starts from.

    CsvExampleGen ─ StatisticsGen ─ SchemaGen ─ Transform ─ Trainer (trainer.pretraining) ─ Pusher

Transform runs the very preprocessing of classification (the staged files have a
``text`` column and no label); the Trainer keeps the weights with the lowest held-out
cross-entropy, so there is no blessing to wait for: Pusher versions every finished
encoder under ``<serving_dir>/<pretraining.encoder_name>/``. The same function serves the
local runner and the Kubeflow compiler.
"""
import dataclasses
from typing import Optional

from tfx import v1 as tfx

from charword.config import CharwordConfig, PipelineConfig
from pipeline import layout
from pipeline.beam_args import resolve_beam_args
from pipeline.pipeline import staged_splits_config
from pipeline.training_steps import PRETRAINING_RUN_FN, trainer_step, transform_step
from pipeline.vertex_training import VertexTraining


def pretraining_pipeline_config(cfg: CharwordConfig) -> PipelineConfig:
    """The pipeline section of pretraining: named ``<pipeline.name>-pretrain`` (its own
    metadata, artefacts and lock) and pushing to ``pretraining.encoder_name``."""
    return dataclasses.replace(cfg.pipeline, name=f"{cfg.pipeline.name}-pretrain",
                               model_name=cfg.pretraining.encoder_name)


def create_pretraining_pipeline(cfg: CharwordConfig, data_root: str, pipeline_root: str,
                                metadata_connection_config=None, beam_args=None, train_args=None,
                                push_dir: Optional[str] = None, vertex_training: Optional[VertexTraining] = None,
                                input_config=None) -> tfx.dsl.Pipeline:
    """The pretraining pipeline over the ``train/`` and ``eval/`` folders of ``data_root``
    (unless ``input_config`` says otherwise; see :func:`pipeline.pipeline.create_pipeline`
    for the other arguments)."""
    pipeline_cfg = pretraining_pipeline_config(cfg)
    example_gen = tfx.components.CsvExampleGen(input_base=data_root,
                                               input_config=input_config or staged_splits_config())
    statistics_gen = tfx.components.StatisticsGen(examples=example_gen.outputs["examples"])
    schema_gen = tfx.components.SchemaGen(statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True)
    examples, schema = example_gen.outputs["examples"], schema_gen.outputs["schema"]
    transform = transform_step(cfg, examples, schema)
    trainer = trainer_step(cfg, transform.outputs["transformed_examples"], transform, schema,
                           train_args or tfx.proto.TrainArgs(num_steps=cfg.training.train_steps), vertex_training,
                           run_fn=PRETRAINING_RUN_FN)
    pusher = tfx.components.Pusher(
        model=trainer.outputs["model"],
        push_destination=tfx.proto.PushDestination(filesystem=tfx.proto.PushDestination.Filesystem(
            base_directory=push_dir or layout.push_dir(pipeline_cfg))))
    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_cfg.name, pipeline_root=pipeline_root,
        components=[example_gen, statistics_gen, schema_gen, transform, trainer, pusher],
        enable_cache=cfg.pipeline.enable_cache, metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_args if beam_args is not None else resolve_beam_args(cfg.pipeline)))
