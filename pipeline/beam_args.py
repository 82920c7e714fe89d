"""Which Beam arguments a run gets: the configured ones, or DirectRunner settings."""
import os
from typing import Optional, Tuple

from charword.config import PipelineConfig


def resolve_beam_args(cfg: PipelineConfig, data_bytes: Optional[int] = None) -> Tuple[str, ...]:
    """``cfg.beam_args`` when given (passed through unchanged); otherwise the
    DirectRunner mode and worker count.

    ``auto`` is ``in_memory`` for staged data under ``multi_processing_min_mb`` (every
    extra worker process re-imports TensorFlow, which small data never repays) and
    ``multi_processing`` with one worker per core above it; ``data_bytes`` is the
    staged data's size, and an unknown size counts as large.
    """
    if cfg.beam_args:
        return tuple(cfg.beam_args)
    mode = cfg.direct_running_mode
    if mode == "auto":
        small = data_bytes is not None and data_bytes < cfg.multi_processing_min_mb * 1_000_000
        mode = "in_memory" if small else "multi_processing"
    workers = 1 if mode == "in_memory" else cfg.direct_num_workers or os.cpu_count() or 1
    return (f"--direct_running_mode={mode}", f"--direct_num_workers={workers}")
