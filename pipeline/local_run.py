"""Runs the pipeline on this machine with ``LocalDagRunner`` and Beam's DirectRunner.

One run at a time per pipeline: a lock file under the output directory makes a second
concurrent run refuse at once, so two runs never write the same push.
"""
import contextlib
import fcntl
import logging
import os
import time
from typing import Callable, Iterator

from tfx import v1 as tfx

from charword import data
from charword.config import CharwordConfig
from pipeline import layout, schema_pinning
from pipeline.beam_args import check_job_endpoint, resolve_beam_args
from pipeline.distillation import check_teacher_checkpoint
from pipeline.pipeline import create_pipeline
from pipeline.run_summary import RunSummary, summarize

logger = logging.getLogger(__name__)


class PipelineBusyError(RuntimeError):
    """Another run of the same pipeline holds the lock."""


@contextlib.contextmanager
def exclusive_run(cfg: CharwordConfig) -> Iterator[None]:
    """Holds ``<output_dir>/<name>.lock`` for the duration of a run."""
    os.makedirs(cfg.pipeline.output_dir, exist_ok=True)
    path = os.path.join(cfg.pipeline.output_dir, f"{cfg.pipeline.name}.lock")
    with open(path, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise PipelineBusyError(f"another run of pipeline '{cfg.pipeline.name}' is in progress "
                                    f"(lock {path} held by: {lock.read().strip() or 'unknown'}); "
                                    "wait for it to finish") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"pid {os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_local(cfg: CharwordConfig, source: str, progress: Callable[[str], None] = logger.info) -> RunSummary:
    """Stages ``source`` (CSV/TSV file or directory), runs the whole pipeline and
    returns its summary. Raises on bad data or anomalies before anything is pushed, and on
    a teacher checkpoint it cannot load before anything runs."""
    check_teacher_checkpoint(cfg)
    with exclusive_run(cfg):
        held_out = None
        if cfg.data.eval_data:
            progress(f"Staging {source} (train) and {cfg.data.eval_data} (eval)")
            staged, held_out = data.stage_train_and_eval(source, cfg.data.eval_data,
                                                         layout.staged_splits_dir(cfg.pipeline), cfg.data)
            data_root = layout.staged_splits_dir(cfg.pipeline)
        else:
            progress(f"Staging {source}")
            staged = data.stage_dataset(source, layout.staged_data_dir(cfg.pipeline), cfg.data)
            data_root = os.path.dirname(staged.csv_path)
        progress(f"Staged {staged.rows_kept} of {staged.rows_read} rows ({len(staged.dropped)} dropped), "
                 f"{len(staged.label_values)} classes: {', '.join(staged.label_values)}"
                 + (f"; eval split: {held_out.rows_kept} held-out rows" if held_out else "; eval split: hash buckets"))
        schema_file = schema_pinning.pinned_schema_file(cfg.pipeline)
        if schema_file:
            progress(f"Validating against the pinned schema {schema_file}")
        beam_args = resolve_beam_args(cfg.pipeline, os.path.getsize(staged.csv_path))
        check_job_endpoint(beam_args)
        pipeline = create_pipeline(
            cfg, data_root=data_root, num_classes=len(staged.label_values),
            pipeline_root=layout.pipeline_root(cfg.pipeline), schema_file=schema_file,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                _metadata_path(cfg)),
            beam_args=beam_args)
        progress(f"Running pipeline '{cfg.pipeline.name}' with Beam args {' '.join(beam_args)}")
        started_ms = int(time.time() * 1000) - 1000
        tfx.orchestration.LocalDagRunner().run(pipeline)
        summary = summarize(_metadata_path(cfg), cfg.pipeline.name, started_ms)
        summary.staging = {"rows_read": staged.rows_read, "rows_kept": staged.rows_kept,
                           "rows_dropped": len(staged.dropped), "rows_truncated": staged.truncated_rows,
                           "report": os.path.join(os.path.dirname(staged.csv_path), data.STAGING_REPORT)}
        if held_out:
            summary.staging["eval"] = {"rows_read": held_out.rows_read, "rows_kept": held_out.rows_kept,
                                       "rows_dropped": len(held_out.dropped), "source": cfg.data.eval_data}
        if summary.pushed and not schema_file:
            pinned = schema_pinning.pin_schema(cfg, _metadata_path(cfg), staged)
            progress(f"Pinned the schema of this blessed run at {pinned}")
        return summary


def _metadata_path(cfg: CharwordConfig) -> str:
    path = layout.metadata_path(cfg.pipeline)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path
