"""Runs a command in its own process group, so that a timeout or a failed test kills
everything it started (its children included), not just the command itself."""
import os
import signal
import subprocess
from typing import Dict, List, Optional


def run(argv: List[str], cwd: str, env: Optional[Dict[str, str]] = None,
        timeout_s: float = 600) -> subprocess.CompletedProcess:
    """``argv`` with stdout and stderr merged (as text); the group is killed on the way
    out if anything of it still runs. A timeout raises ``subprocess.TimeoutExpired``."""
    process = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout_s)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()
    return subprocess.CompletedProcess(argv, process.returncode, output, None)
