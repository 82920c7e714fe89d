"""Compiles the pipeline for Kubeflow Pipelines (v2 IR) with ``KubeflowV2DagRunner``.

Every step runs in its own pod, so each location the pipeline writes or reads must be
reachable from all of them: the pipeline root, the push destination and the schema
file are URIs (``gs://``, ``s3://``...) or absolute paths on a volume mounted in every
step; a relative local path is refused, never silently used.

The compiled file has four runtime parameters: ``data-root`` (a directory of staged
CSV files, e.g. on GCS), ``train-args`` (the Trainer's ``TrainArgs`` as JSON, e.g.
``{"num_steps": 2000}``), and ``input-config`` / ``output-config``, ExampleGen's split
configs as JSON (``example_gen_pb2.Input`` / ``Output``). Their defaults come from
:func:`pipeline.pipeline.example_gen_configs`: every ``*.csv`` of the data root,
hash-split; or, compiled with ``data.eval_data`` (or run with the held-out values,
``kubeflow/submit.py --held-out-eval``), ``<data-root>/train/*.csv`` as the train split
and the user's held-out ``<data-root>/eval/*.csv`` as the eval split.

With a schema file (a local run pins one at its first blessed run, see
:mod:`pipeline.schema_pinning`) the data is validated against it by ``ImportSchemaGen``,
as in a local run; without one, each run validates against the schema inferred from its
own data, which hardly ever reports an anomaly.

TFX 1.16's ``KubeflowV2DagRunner`` rejects ``InfraValidator`` (it raises
``NotImplementedError`` for that component type), so the compiled pipeline checks
servability with :class:`components.servable_check.ServableCheck`, which needs no
model server: it runs inside the pipeline image like any other step.
"""
import hashlib
import json
import os
import re
from typing import Optional

from google.protobuf import json_format, text_format
from tensorflow_metadata.proto.v0 import schema_pb2
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.orchestration import data_types
from tfx.utils import io_utils

from charword import contract
from charword.config import CharwordConfig, ConfigError
from pipeline.distillation import check_teacher_checkpoint
from pipeline.pipeline import create_pipeline, example_gen_configs
from pipeline.pretraining import create_pretraining_pipeline
from pipeline.schema_pinning import SCHEMA_FILE
from pipeline.vertex_training import VertexTraining

DATA_ROOT_PARAMETER = "data-root"
TRAIN_ARGS_PARAMETER = "train-args"
INPUT_CONFIG_PARAMETER = "input-config"
OUTPUT_CONFIG_PARAMETER = "output-config"
SCHEMA_DIR = "pinned_schema"


def has_scheme(path: str) -> bool:
    """Whether ``path`` is a URI such as ``gs://bucket/dir`` rather than a local path."""
    return re.match(r"^[a-z0-9]+://", path) is not None


def require_shared_location(path: Optional[str], what: str, flag: str) -> str:
    """``path`` when every pod can reach it (a URI or an absolute path); otherwise a
    :class:`ConfigError` naming ``flag``."""
    if not path:
        raise ConfigError(f"{flag} is required: {what}")
    if not (has_scheme(path) or os.path.isabs(path)):
        raise ConfigError(f"{flag} must be a URI every pipeline step can reach (e.g. gs://BUCKET/...) or an "
                          f"absolute path on a volume mounted in every step; got the relative path {path!r}")
    return path


def stage_schema(schema_file: str, pipeline_root: str) -> str:
    """The URI ``ImportSchemaGen`` should read ``schema_file`` from.

    The file must parse as a ``Schema`` text proto holding the raw text and label
    features. A URI is used as it is; a local file (e.g. a local run's pinned
    ``schema.pbtxt``) is copied through fileio to
    ``<pipeline_root>/pinned_schema/<content hash>/schema.pbtxt``, so a compiled
    pipeline never sees its schema change under it.
    """
    if not fileio.exists(schema_file):
        raise ConfigError(f"--schema: no such file: {schema_file}")
    content = io_utils.read_string_file(schema_file)
    try:
        schema = text_format.Parse(content, schema_pb2.Schema())
    except text_format.ParseError as error:
        raise ConfigError(f"--schema {schema_file} is not a Schema text proto: {error}") from None
    missing = sorted({contract.RAW_TEXT, contract.RAW_LABEL} - {feature.name for feature in schema.feature})
    if missing:
        raise ConfigError(f"--schema {schema_file} lacks the feature(s) {missing}; pass the schema a local run "
                          f"pinned (<output_dir>/schema/<pipeline>/{SCHEMA_FILE})")
    if has_scheme(schema_file):
        return schema_file
    digest = hashlib.sha256(content.encode("utf-8")).hexdigest()[:16]
    staged = os.path.join(pipeline_root, SCHEMA_DIR, digest, SCHEMA_FILE)
    if not fileio.exists(staged):
        io_utils.write_string_file(staged, content)
    return staged


def compile_pipeline(cfg: CharwordConfig, output_path: str, image: str, data_root: str, num_classes: int,
                     pipeline_root: str, push_dir: str, schema_file: Optional[str] = None,
                     vertex_training: Optional[VertexTraining] = None, pretraining: bool = False) -> str:
    """Writes the KFP v2 pipeline definition (JSON) to ``output_path``; returns its path.

    Args:
      data_root: default of the ``data-root`` runtime parameter.
      pipeline_root: where TFX writes artefacts (e.g. ``gs://BUCKET/charword/pipeline_root``).
      push_dir: where Pusher writes version folders (e.g. ``gs://BUCKET/serving/charword``).
      schema_file: a schema every step can read (see :func:`stage_schema`); ``None``
        validates each run against its own inferred schema.
      vertex_training: train as a Vertex AI job with worker pools (TFX's Vertex AI
        Trainer); ``None`` trains inside the Trainer step's pod.
      pretraining: compile the pretraining pipeline (:mod:`pipeline.pretraining`): its
        data root holds ``train/`` and ``eval/`` folders of staged texts (so it has no
        ``input-config`` and ``output-config`` parameters) and no schema to validate against.
    """
    require_shared_location(data_root, "the staged CSV files, e.g. gs://BUCKET/charword/data", "--data-root")
    require_shared_location(pipeline_root, "where TFX writes artefacts, e.g. gs://BUCKET/charword/pipeline_root",
                            "--pipeline-root")
    require_shared_location(push_dir, "where Pusher writes version folders, e.g. gs://BUCKET/serving/charword",
                            "--serving-dir")
    if schema_file:
        require_shared_location(schema_file, "the schema to validate the data against", "--schema")
    check_teacher_checkpoint(cfg)
    train_steps = cfg.pushed_model_config().training.train_steps
    train_args = json.dumps({"num_steps": train_steps} if train_steps else {})
    input_config, output_config = (json_format.MessageToJson(config, indent=None) if config is not None else "{}"
                                   for config in example_gen_configs(cfg))
    parameters = {DATA_ROOT_PARAMETER: data_root, TRAIN_ARGS_PARAMETER: train_args,
                  INPUT_CONFIG_PARAMETER: input_config, OUTPUT_CONFIG_PARAMETER: output_config}
    if pretraining:  # the train/ and eval/ folders of staged texts, always
        del parameters[INPUT_CONFIG_PARAMETER], parameters[OUTPUT_CONFIG_PARAMETER]
    runtime = {name: data_types.RuntimeParameter(name=name, ptype=str, default=value)
               for name, value in parameters.items()}
    common = {"data_root": runtime[DATA_ROOT_PARAMETER], "pipeline_root": pipeline_root, "push_dir": push_dir,
              "vertex_training": vertex_training, "train_args": runtime[TRAIN_ARGS_PARAMETER]}
    if pretraining:
        pipeline = create_pretraining_pipeline(cfg, **common)
    else:
        pipeline = create_pipeline(cfg, num_classes=num_classes, schema_file=schema_file,
                                   input_config=runtime[INPUT_CONFIG_PARAMETER],
                                   output_config=runtime[OUTPUT_CONFIG_PARAMETER], **common)
    output_dir = os.path.dirname(os.path.abspath(output_path))
    os.makedirs(output_dir, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        # Schema 2.1.0, the only one KFP 2.x's API server accepts (Vertex AI Pipelines takes it too).
        config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image,
                                                                        use_pipeline_spec_2_1=True),
        output_dir=output_dir, output_filename=os.path.basename(output_path))
    # The parameters' defaults go into the file's runtimeConfig, where KFP finds them for a run that sets none.
    runner.run(pipeline, parameter_values=parameters, write_out=True)
    return os.path.abspath(output_path)
