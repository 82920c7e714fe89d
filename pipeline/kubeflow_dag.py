"""Compiles the pipeline for Kubeflow Pipelines (v2 IR) with ``KubeflowV2DagRunner``.

The compiled file has two runtime parameters, ``data-root`` (a directory of staged
CSV files, e.g. on GCS) and ``train-args`` (the Trainer's ``TrainArgs`` as JSON,
e.g. ``{"num_steps": 2000}``).

TFX 1.16's ``KubeflowV2DagRunner`` rejects ``InfraValidator`` (it raises
``NotImplementedError`` for that component type), so the compiled pipeline checks
servability with :class:`components.servable_check.ServableCheck`, which needs no
model server: it runs inside the pipeline image like any other step.
"""
import json
import os

from tfx import v1 as tfx
from tfx.orchestration import data_types

from charword.config import CharwordConfig
from pipeline.pipeline import create_pipeline

DATA_ROOT_PARAMETER = "data-root"
TRAIN_ARGS_PARAMETER = "train-args"


def compile_pipeline(cfg: CharwordConfig, output_path: str, image: str, data_root: str, num_classes: int,
                     pipeline_root: str = "gs://YOUR_BUCKET/charword/pipeline_root") -> str:
    """Writes the KFP v2 pipeline definition (JSON) to ``output_path``; returns the path."""
    pipeline = create_pipeline(
        cfg,
        data_root=data_types.RuntimeParameter(name=DATA_ROOT_PARAMETER, ptype=str, default=data_root),
        num_classes=num_classes,
        pipeline_root=pipeline_root,
        train_args=data_types.RuntimeParameter(name=TRAIN_ARGS_PARAMETER, ptype=str,
                                               default=json.dumps({"num_steps": cfg.training.train_steps})))
    output_dir = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(output_dir, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=output_dir, output_filename=os.path.basename(output_path))
    runner.run(pipeline, write_out=True)
    return os.path.abspath(output_path)
