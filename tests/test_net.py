"""Free ports and waiting for readiness (charword/net.py). Pure Python."""
import socket
import subprocess
import sys
import time

import pytest

from charword.net import NotReadyError, free_port, free_ports, wait_until


def test_free_ports_are_distinct_and_bindable():
    ports = free_ports(3)
    assert len(set(ports)) == 3
    for port in ports + [free_port()]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_wait_until_returns_the_first_true_value():
    answers = iter([None, 0, "ready"])
    assert wait_until(lambda: next(answers), timeout=5, what="an answer", interval=0.01) == "ready"


def test_wait_until_names_what_it_waited_for_when_time_runs_out():
    started = time.monotonic()
    with pytest.raises(NotReadyError, match="timed out after 0 s waiting for the server"):
        wait_until(lambda: False, timeout=0.3, what="the server", interval=0.05)
    assert time.monotonic() - started < 2


def test_wait_until_stops_when_the_process_it_waits_on_exits():
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(NotReadyError, match="exited with status 3 before the server"):
        wait_until(lambda: False, timeout=60, what="the server", process=process)
