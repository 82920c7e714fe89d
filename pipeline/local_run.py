"""Runs the pipeline on this machine with ``LocalDagRunner`` and Beam's DirectRunner.

One run at a time per pipeline: a lock file under the output directory makes a second
concurrent run refuse at once, so two runs never write the same push.

TFX, TFMA and TFDV are imported only once staging has accepted the data, so that bad
input is refused in seconds rather than after their imports.
"""
from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from typing import TYPE_CHECKING, Callable, Iterator

from charword import staging
from charword.config import CharwordConfig, DataConfig
from charword.data import StagedData
from pipeline import layout
from pipeline.beam_args import check_job_endpoint, resolve_beam_args

if TYPE_CHECKING:
    from pipeline.run_summary import RunSummary

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
    returns its summary. Bad data, unusable output paths and anomalies raise before
    anything is pushed; whatever staging refuses, and a teacher checkpoint that cannot
    load, is refused before anything is written."""
    layout.check_writable(cfg.pipeline)
    progress(f"Reading {source}" + (f" (train) and {cfg.data.eval_data} (eval)" if cfg.data.eval_data else ""))
    prepared = staging.prepare(source, cfg.data)
    # pylint: disable=import-outside-toplevel  (see the module docstring)
    from tfx import v1 as tfx

    from pipeline import schema_pinning
    from pipeline.distillation import check_teacher_checkpoint
    from pipeline.pipeline import create_pipeline, staged_splits_config
    from pipeline.run_summary import summarize
    check_teacher_checkpoint(cfg)
    cfg = check_init_from(cfg)
    with exclusive_run(cfg):
        staged = staging.write(prepared, layout.staged_data_dir(cfg.pipeline))
        progress(describe_staging(staged))
        schema_file = schema_pinning.pinned_schema_file(cfg.pipeline)
        if schema_file:
            progress(f"Validating against the pinned schema {schema_file}")
        beam_args = resolve_beam_args(cfg.pipeline, sum(os.path.getsize(staged.csv_path(split))
                                                        for split in staging.SPLITS))
        check_job_endpoint(beam_args)
        pipeline = create_pipeline(
            cfg, data_root=staged.data_root, num_classes=len(staged.label_values),
            pipeline_root=layout.pipeline_root(cfg.pipeline), schema_file=schema_file,
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                _metadata_path(cfg)),
            beam_args=beam_args, input_config=staged_splits_config())
        progress(f"Running pipeline '{cfg.pipeline.name}' with Beam args {' '.join(beam_args)}")
        started_ms = int(time.time() * 1000) - 1000
        tfx.orchestration.LocalDagRunner().run(pipeline)
        summary = summarize(_metadata_path(cfg), cfg.pipeline.name, started_ms)
        summary.staging = staging_summary(staged, cfg.data)
        if summary.pushed and not schema_file:
            pinned = schema_pinning.pin_schema(cfg, _metadata_path(cfg), staged.data)
            progress(f"Pinned the schema of this blessed run at {pinned}")
        return summary


def check_init_from(cfg: CharwordConfig) -> CharwordConfig:
    """With ``model.init_from``: refuses an encoder that does not fit this run's settings
    (naming the difference) before any step runs, and returns the configuration with the
    encoder's local path made absolute (Beam workers read its vocabulary)."""
    if not cfg.model.init_from:
        return cfg
    from trainer import init_from  # pylint: disable=import-outside-toplevel
    directory = layout.absolute(cfg.model.init_from)
    init_from.check_encoder(directory, cfg.preprocessing, cfg.model)
    return cfg.replace(model={"init_from": directory})


def run_pretraining_local(cfg: CharwordConfig, source: str, progress: Callable[[str], None] = logger.info
                          ) -> RunSummary:
    """Stages the unlabelled texts of ``source``, runs the pretraining pipeline and returns
    its summary (the pushed encoder's version folder in ``pushed_to``)."""
    from pipeline.pretraining import pretraining_pipeline_config  # pylint: disable=import-outside-toplevel
    pipeline_cfg = pretraining_pipeline_config(cfg)
    layout.check_writable(pipeline_cfg)
    progress(f"Reading the texts of {source}")
    prepared = staging.prepare_texts(source, cfg.data)
    # pylint: disable=import-outside-toplevel  (see the module docstring)
    from tfx import v1 as tfx

    from pipeline.pretraining import create_pretraining_pipeline
    from pipeline.run_summary import summarize
    run_cfg = cfg.replace(pipeline={"name": pipeline_cfg.name})
    with exclusive_run(run_cfg):
        staged = staging.write_texts_splits(prepared, layout.staged_data_dir(pipeline_cfg))
        rows = {split: len(texts) for split, texts in staged.split_texts.items()}
        progress(f"Staged {staged.data.rows_kept} of {staged.data.rows_read} texts ({len(staged.data.dropped)} "
                 f"dropped): {rows['train']} to train on, {rows['eval']} held out for perplexity")
        beam_args = resolve_beam_args(cfg.pipeline, sum(os.path.getsize(staged.csv_path(split))
                                                        for split in staging.SPLITS))
        check_job_endpoint(beam_args)
        pipeline = create_pretraining_pipeline(
            cfg, data_root=staged.data_root, pipeline_root=layout.pipeline_root(pipeline_cfg),
            metadata_connection_config=tfx.orchestration.metadata.sqlite_metadata_connection_config(
                _metadata_path(run_cfg)),
            beam_args=beam_args)
        progress(f"Running pipeline '{pipeline_cfg.name}' with Beam args {' '.join(beam_args)}")
        started_ms = int(time.time() * 1000) - 1000
        tfx.orchestration.LocalDagRunner().run(pipeline)
        summary = summarize(_metadata_path(run_cfg), pipeline_cfg.name, started_ms)
        summary.staging = {"rows_read": staged.data.rows_read, "rows_kept": staged.data.rows_kept,
                           "rows_dropped": len(staged.data.dropped), "rows_truncated": staged.data.truncated_rows,
                           "multiline_cells": staged.data.multiline_cells, "first_multiline_cell": None,
                           "report": staged.report_path, "split": rows, "kept_in_train": []}
        return summary


def describe_staging(staged: staging.StagedSplits) -> str:
    """One line on what was staged, and the first cell that spans lines, if any."""
    data = staged.data
    rows = {split: len(rows) for split, rows in staged.split_rows.items()}
    line = (f"Staged {data.rows_kept} of {data.rows_read} rows ({len(data.dropped)} dropped), "
            f"{len(staged.label_values)} classes: {', '.join(staged.label_values)}; "
            f"{rows['train']} train and {rows['eval']} eval rows"
            + (f" (eval: held-out {staged.held_out.source_files[0]})" if staged.held_out else ""))
    if staged.kept_in_train:
        line += f"; kept wholly in train (no row hashed into it): {', '.join(staged.kept_in_train)}"
    return line + (f"\n  {multiline_note(data)}" if data.multiline_cells else "")


def multiline_note(data: StagedData) -> str:
    """The warning for cells that span lines: legal CSV, but often a quote a broken export left open."""
    return (f"{data.multiline_cells} cell(s) span lines, first: {data.first_multiline_cell}; "
            "legal CSV, but a quote left open by a broken export makes one row of several: check the file")


def staging_summary(staged: staging.StagedSplits, cfg: DataConfig) -> dict:
    """The run summary's ``staging`` entry."""
    data = staged.data
    summary = {"rows_read": data.rows_read, "rows_kept": data.rows_kept, "rows_dropped": len(data.dropped),
               "rows_truncated": data.truncated_rows, "multiline_cells": data.multiline_cells,
               "first_multiline_cell": str(data.first_multiline_cell) if data.first_multiline_cell else None,
               "report": staged.report_path,
               "split": {split: len(rows) for split, rows in staged.split_rows.items()},
               "kept_in_train": list(staged.kept_in_train)}
    if staged.held_out:
        held_out = staged.held_out
        summary["eval"] = {"rows_read": held_out.rows_read, "rows_kept": held_out.rows_kept,
                           "rows_dropped": len(held_out.dropped), "source": cfg.eval_data}
    return summary


def _metadata_path(cfg: CharwordConfig) -> str:
    path = layout.metadata_path(cfg.pipeline)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path
