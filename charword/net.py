"""Local networking helpers shared by the project, its tests and benchmarks: free ports
and waiting until something (a server, a job service) is ready."""
import socket
import subprocess
import time
from typing import Callable, List, Optional, TypeVar

T = TypeVar("T")


def free_ports(count: int, host: str = "127.0.0.1") -> List[int]:
    """``count`` distinct free TCP ports on ``host`` (held open together while chosen)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port(host: str = "127.0.0.1") -> int:
    """One free TCP port on ``host``."""
    return free_ports(1, host)[0]


class NotReadyError(TimeoutError):
    """What was waited for did not happen in time, or its process ended first."""


def wait_until(condition: Callable[[], T], timeout: float, what: str, process: Optional[subprocess.Popen] = None,
               interval: float = 0.2) -> T:
    """Calls ``condition`` until it returns a true value (returned) or ``timeout`` seconds
    pass; stops early when ``process`` exits. Raises :class:`NotReadyError` naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise NotReadyError(f"the process exited with status {process.returncode} before {what}")
        if time.monotonic() >= deadline:
            raise NotReadyError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
