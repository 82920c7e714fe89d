"""Runs each benchmark phase in its own forked process and measures its memory.

The parent imports TensorFlow/TFX once but never runs a TensorFlow op, then forks one
child per phase (Transform, one Trainer run, evaluation, ...). Forking skips the
re-import (tens of seconds per process on a small machine) and gives every phase a
fresh TensorFlow runtime and its own memory figures:

  peak_rss_mb       the child's kernel high-water mark (``getrusage(RUSAGE_SELF)``); it
                    includes the already-imported libraries it shares with the parent,
                    as any process running that phase would;
  peak_tree_rss_mb  the largest sum of RSS over the child and its descendants (Beam
                    worker processes included), sampled every ``poll_s`` seconds.

A child's stdout/stderr (TensorFlow, Beam and Keras logs) go to ``<log_dir>/<name>.log``;
:func:`progress` lines still reach the console.
"""
import multiprocessing
import os
import pickle
import resource
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any, Callable

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
    log_path: str

    def cost(self) -> dict:
        return {"wall_s": round(self.wall_s, 1), "peak_rss_mb": round(self.peak_rss_mb, 1),
                "peak_tree_rss_mb": round(self.peak_tree_rss_mb, 1)}


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
        maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with open(result_path, "wb") as handle:
            pickle.dump({"value": value, "maxrss_kb": maxrss_kb}, handle)
    except BaseException:  # pylint: disable=broad-except
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)  # pylint: disable=protected-access
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # pylint: disable=protected-access  (skip atexit handlers inherited from the parent)


def _tree_rss(process: psutil.Process) -> int:
    total = 0
    try:
        members = [process] + process.children(recursive=True)
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
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
    peak_tree = 0
    while process.is_alive():
        peak_tree = max(peak_tree, _tree_rss(handle))
        process.join(poll_s)
    wall = time.perf_counter() - started
    if process.exitcode != 0 or not os.path.exists(result_path):
        raise PhaseError(f"phase {name} failed (exit code {process.exitcode}); log {log_path}:\n{_tail(log_path)}")
    with open(result_path, "rb") as handle_file:
        result = pickle.load(handle_file)
    os.remove(result_path)
    peak_rss = result["maxrss_kb"] / 1024.0
    return PhaseResult(name, result["value"], wall, peak_rss, max(peak_tree / 2**20, peak_rss), log_path)
