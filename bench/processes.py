"""Runs each benchmark phase in its own forked process and measures its memory.

The parent imports TensorFlow/TFX once but never runs a TensorFlow op, then forks one
child per phase (Transform, one Trainer run, evaluation, ...). Forking skips the
re-import (tens of seconds per process on a small machine) and gives every phase a
fresh TensorFlow runtime and its own memory figures:

  peak_rss_mb       the child's kernel high-water mark (``getrusage(RUSAGE_SELF)``); it
                    includes the already-imported libraries it shares with the parent,
                    as any process running that phase would;
  peak_tree_rss_mb  the largest sum of RSS over the child and its descendants (Beam
                    worker processes included), sampled every ``poll_s`` seconds (never
                    less than ``peak_rss_mb``);
  cpu_s             CPU seconds (user + system) of the child itself;
  worker_cpu_s      CPU seconds of each descendant process (last sample), e.g. per Beam worker.

A child's stdout/stderr (TensorFlow, Beam and Keras logs) go to ``<log_dir>/<name>.log``;
:func:`progress` lines still reach the console. :class:`PhaseRunner` numbers the phases,
keeps their costs and can overlap independent ones.
"""
import concurrent.futures
import multiprocessing
import os
import pickle
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable, Dict, List

import psutil

_console_fd = 2


def progress(message: str) -> None:
    """A timestamped line on the console, from the parent or from a phase."""
    os.write(_console_fd, f"[{time.strftime('%H:%M:%S')}] {message}\n".encode("utf-8", "replace"))


class PhaseError(RuntimeError):
    """A phase's process failed; the message names its log."""


@dataclass(frozen=True)
class PhaseResult:
    """What a phase returned and what it cost."""

    name: str
    value: Any
    wall_s: float
    peak_rss_mb: float
    peak_tree_rss_mb: float
    cpu_s: float
    worker_cpu_s: List[float]
    log_path: str

    def cost(self) -> dict:
        return {"wall_s": round(self.wall_s, 1), "peak_rss_mb": round(self.peak_rss_mb, 1),
                "peak_tree_rss_mb": round(self.peak_tree_rss_mb, 1), "cpu_s": round(self.cpu_s, 1),
                "worker_cpu_s": [round(c, 1) for c in self.worker_cpu_s]}


def _child(fn: Callable, args: tuple, result_path: str, log_path: str) -> None:
    global _console_fd  # pylint: disable=global-statement
    _console_fd = os.dup(2)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)
    try:
        value = fn(*args)
        usage = resource.getrusage(resource.RUSAGE_SELF)
        with open(result_path, "wb") as handle:
            pickle.dump({"value": value, "maxrss_kb": usage.ru_maxrss, "cpu_s": usage.ru_utime + usage.ru_stime},
                        handle)
    except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)  # pylint: disable=protected-access
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # pylint: disable=protected-access  (skip atexit handlers inherited from the parent)


def _sample(process: psutil.Process, worker_cpu: Dict[int, float]) -> int:
    """RSS sum of the process tree; records each descendant's CPU seconds."""
    total = 0
    try:
        members = [process] + process.children(recursive=True)
    except psutil.Error:
        return 0
    for member in members:
        try:
            with member.oneshot():
                total += member.memory_info().rss
                if member.pid != process.pid:
                    times = member.cpu_times()
                    worker_cpu[member.pid] = times.user + times.system
        except psutil.Error:
            pass
    return total


def _tail(path: str, lines: int = 25) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return "".join(handle.readlines()[-lines:])
    except OSError:
        return ""


def run_phase(name: str, fn: Callable, args: tuple, log_dir: str, poll_s: float) -> PhaseResult:
    """Runs ``fn(*args)`` in a forked child; returns its (picklable) value and costs."""
    os.makedirs(log_dir, exist_ok=True)
    log_path = os.path.join(log_dir, f"{name}.log")
    result_path = os.path.join(log_dir, f".{name}.result.pkl")
    if os.path.exists(result_path):
        os.remove(result_path)
    sys.stdout.flush()
    sys.stderr.flush()
    process = multiprocessing.get_context("fork").Process(target=_child, args=(fn, args, result_path, log_path),
                                                          name=name)
    started = time.perf_counter()
    process.start()
    handle = psutil.Process(process.pid)
    peak_tree, worker_cpu = 0, {}
    while process.is_alive():
        peak_tree = max(peak_tree, _sample(handle, worker_cpu))
        process.join(poll_s)
    wall = time.perf_counter() - started
    if process.exitcode != 0 or not os.path.exists(result_path):
        raise PhaseError(f"phase {name} failed (exit code {process.exitcode}); log {log_path}:\n{_tail(log_path)}")
    with open(result_path, "rb") as handle_file:
        result = pickle.load(handle_file)
    os.remove(result_path)
    peak_rss = result["maxrss_kb"] / 1024.0
    workers = sorted((c for c in worker_cpu.values() if c >= 0.5), reverse=True)
    return PhaseResult(name, result["value"], wall, peak_rss, max(peak_tree / 2**20, peak_rss), result["cpu_s"],
                       workers, log_path)


class PhaseRunner:
    """Runs numbered phases (each through :func:`run_phase`), ``jobs`` at a time.

    ``costs`` maps each phase's label to :meth:`PhaseResult.cost`, in submission order.
    With ``jobs`` > 1 phases overlap and share the CPU, which skews their timings (memory
    figures stay per process): meant for quick smoke runs, not for measurements.
    """

    def __init__(self, total: int, log_dir: str, poll_s: float, jobs: int = 1):
        self.total, self.log_dir, self.poll_s = total, log_dir, poll_s
        self.costs: Dict[str, dict] = {}
        self._submitted = 0
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="phase")

    def submit(self, name: str, label: str, fn: Callable, *fn_args) -> "concurrent.futures.Future":
        """Queues ``fn(*fn_args)`` as a phase; the future yields its value."""
        self._submitted += 1
        self.costs[label] = {}
        return self._pool.submit(self._run, self._submitted, name, label, fn, fn_args)

    def __call__(self, name: str, label: str, fn: Callable, *fn_args) -> Any:
        """Runs a phase and waits for its value."""
        return self.submit(name, label, fn, *fn_args).result()

    def close(self) -> None:
        """Waits for queued phases and releases the worker threads."""
        self._pool.shutdown()

    def _run(self, index: int, name: str, label: str, fn: Callable, fn_args: tuple) -> Any:
        progress(f"Phase {index}/{self.total}: {label}")
        result = run_phase(name, fn, fn_args, self.log_dir, self.poll_s)
        self.costs[label] = result.cost()
        progress(f"  {label}: done in {result.wall_s:.0f} s, peak RSS {result.peak_rss_mb:.0f} MB "
                 f"(process tree {result.peak_tree_rss_mb:.0f} MB)")
        return result.value
