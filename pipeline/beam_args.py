"""Which Beam arguments a run gets: the configured ones, or DirectRunner settings."""
import os
from typing import Optional, Sequence, Tuple

from charword.config import PipelineConfig

# Runners that submit through Beam's Python PortableRunner (Job API + Fn API).
PORTABLE_RUNNERS = frozenset({"PortableRunner", "FlinkRunner", "SparkRunner", "PrismRunner"})
# Beam 2.59's PortableRunner applies --job_server_timeout (default 60 s) to the job's state and
# message streams too, so a job running longer than that fails with DEADLINE_EXCEEDED.
PORTABLE_JOB_TIMEOUT_S = 24 * 3600


class BeamEndpointError(RuntimeError):
    """The Beam job service named by ``--job_endpoint`` does not answer."""


def arg_value(args: Sequence[str], name: str) -> Optional[str]:
    """The value of ``--name=V`` or ``--name V`` in ``args`` (the last one given), else ``None``."""
    value = None
    for i, arg in enumerate(args):
        if arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
        elif arg == f"--{name}" and i + 1 < len(args):
            value = args[i + 1]
    return value


def is_portable(args: Sequence[str]) -> bool:
    """Whether ``args`` name a runner that goes through Beam's PortableRunner."""
    runner = arg_value(args, "runner")
    return runner is not None and runner.rsplit(".", 1)[-1] in PORTABLE_RUNNERS


def resolve_beam_args(cfg: PipelineConfig, data_bytes: Optional[int] = None) -> Tuple[str, ...]:
    """``cfg.beam_args`` when given (passed through; a portable runner also gets
    ``--job_server_timeout`` of a day unless they set one, see
    :data:`PORTABLE_JOB_TIMEOUT_S`); otherwise the DirectRunner mode and worker count.

    ``auto`` is ``in_memory`` for staged data under ``multi_processing_min_mb`` (every
    extra worker process re-imports TensorFlow, which small data never repays) and
    ``multi_processing`` with one worker per core above it; ``data_bytes`` is the
    staged data's size. An unknown size (a compiled pipeline's steps) counts as large,
    with ``--direct_num_workers=0``: Beam then uses every core of the machine that
    runs the step, not of the one that compiled it.
    """
    if cfg.beam_args:
        args = tuple(cfg.beam_args)
        if is_portable(args) and arg_value(args, "job_server_timeout") is None:
            args += (f"--job_server_timeout={PORTABLE_JOB_TIMEOUT_S}",)
        return args
    mode = cfg.direct_running_mode
    if mode == "auto":
        small = data_bytes is not None and data_bytes < cfg.multi_processing_min_mb * 1_000_000
        mode = "in_memory" if small else "multi_processing"
    if mode == "in_memory":
        workers = 1
    else:
        workers = cfg.direct_num_workers or (0 if data_bytes is None else os.cpu_count() or 1)
    return (f"--direct_running_mode={mode}", f"--direct_num_workers={workers}")


def check_job_endpoint(args: Sequence[str], timeout_s: float = 30.0) -> None:
    """Raises :class:`BeamEndpointError` when ``--job_endpoint`` is given and nothing
    answers there within ``timeout_s``: with the long job timeout above, Beam itself
    would wait that long before saying so."""
    endpoint = arg_value(args, "job_endpoint")
    if endpoint is None or endpoint == "embed":
        return
    import grpc  # pylint: disable=import-outside-toplevel
    with grpc.insecure_channel(endpoint) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout_s)
        except grpc.FutureTimeoutError:
            raise BeamEndpointError(f"the Beam job service at --job_endpoint={endpoint} does not answer (waited "
                                    f"{timeout_s:.0f} s); start it first (`charword beam-cluster start` runs a "
                                    "local one)") from None
