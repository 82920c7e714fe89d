"""Where a local run keeps its artefacts, all under ``pipeline.output_dir``.

    <output_dir>/pipeline_root/<name>/           TFX artefacts (one folder per component)
    <output_dir>/metadata/<name>/metadata.sqlite  ML Metadata of every run
    <output_dir>/data/<name>/                     staged CSV and its staging report
    <output_dir>/data/<name>/splits/{train,eval}/ the same, per split, with data.eval_data
    <output_dir>/schema/<name>/schema.pbtxt       the schema pinned by the first blessed run
    <serving_dir or output_dir/serving>/<model_name>/<version>/   pushed models

Local paths come back absolute: Beam workers (a portable runner's SDK workers, Dataflow,
Flink) do not share the driver's working directory, so a relative path would resolve
elsewhere on them. Remote URIs (``gs://...``) come back unchanged.
"""
import os

from charword.config import PipelineConfig


def _absolute(path: str) -> str:
    return path if "://" in path else os.path.abspath(path)


def pipeline_root(cfg: PipelineConfig) -> str:
    return os.path.join(_absolute(cfg.output_dir), "pipeline_root", cfg.name)


def metadata_path(cfg: PipelineConfig) -> str:
    return os.path.join(_absolute(cfg.output_dir), "metadata", cfg.name, "metadata.sqlite")


def staged_data_dir(cfg: PipelineConfig) -> str:
    return os.path.join(_absolute(cfg.output_dir), "data", cfg.name)


SPLITS = ("train", "eval")  # with data.eval_data: ExampleGen's splits, each a folder of the data root


def staged_splits_dir(cfg: PipelineConfig) -> str:
    """The data root when the eval split is a file of its own: ``train/`` and ``eval/`` inside."""
    return os.path.join(staged_data_dir(cfg), "splits")


def pinned_schema_dir(cfg: PipelineConfig) -> str:
    return os.path.join(_absolute(cfg.output_dir), "schema", cfg.name)


def push_dir(cfg: PipelineConfig) -> str:
    """The Pusher's destination for this model: its version folders go inside."""
    return os.path.join(_absolute(cfg.serving_dir or os.path.join(cfg.output_dir, "serving")), cfg.model_name)
