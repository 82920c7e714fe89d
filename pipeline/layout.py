"""Where a local run keeps its artefacts, all under ``pipeline.output_dir``.

    <output_dir>/pipeline_root/<name>/           TFX artefacts (one folder per component)
    <output_dir>/metadata/<name>/metadata.sqlite  ML Metadata of every run
    <output_dir>/data/<name>/staging_report.json  what staging read, dropped and split
    <output_dir>/data/<name>/splits/{train,eval}/ the staged CSV of each split (ExampleGen's data root)
    <output_dir>/schema/<name>/schema.pbtxt       the schema pinned by the first blessed run
    <serving_dir or output_dir/serving>/<model_name>/<version>/   pushed models

Local paths come back absolute: Beam workers (a portable runner's SDK workers, Dataflow,
Flink) do not share the driver's working directory, so a relative path would resolve
elsewhere on them. Remote URIs (``gs://...``) come back unchanged.
"""
import os

from charword.config import ConfigError, PipelineConfig


def absolute(path: str) -> str:
    """``path`` made absolute when local; a remote URI as it is."""
    return path if "://" in path else os.path.abspath(path)


def pipeline_root(cfg: PipelineConfig) -> str:
    return os.path.join(absolute(cfg.output_dir), "pipeline_root", cfg.name)


def metadata_path(cfg: PipelineConfig) -> str:
    return os.path.join(absolute(cfg.output_dir), "metadata", cfg.name, "metadata.sqlite")


def staged_data_dir(cfg: PipelineConfig) -> str:
    return os.path.join(absolute(cfg.output_dir), "data", cfg.name)


def pinned_schema_dir(cfg: PipelineConfig) -> str:
    return os.path.join(absolute(cfg.output_dir), "schema", cfg.name)


def push_dir(cfg: PipelineConfig) -> str:
    """The Pusher's destination for this model: its version folders go inside."""
    return os.path.join(absolute(cfg.serving_dir or os.path.join(cfg.output_dir, "serving")), cfg.model_name)


def check_writable(cfg: PipelineConfig) -> None:
    """Raises :class:`ConfigError` when the output or serving directory is a file, or lies
    in a folder this process cannot write; remote URIs are left to their filesystem."""
    for name, flag, path in (("output_dir", "--output-dir", cfg.output_dir), ("serving_dir", None, cfg.serving_dir)):
        if not path or "://" in path:
            continue
        where = f"pipeline.{name}" + (f" ({flag})" if flag else "")
        path = os.path.abspath(path)
        existing = path
        while not os.path.exists(existing):
            existing = os.path.dirname(existing)
        if not os.path.isdir(existing):
            raise ConfigError(f"{where}: {existing} is a file, not a directory; name a directory (it is created "
                              "when missing)")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise ConfigError(f"{where}: cannot write in {existing} (permission denied); name a directory you "
                              "can write")
