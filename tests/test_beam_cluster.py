"""The local Beam cluster helper (start, readiness, refusal of a second start, status and
a clean stop, through ``charword beam-cluster`` and the module) and the Beam argument
policy for portable runners."""
import ipaddress
import os
import socket
import subprocess
import sys

import grpc
import psutil
import pytest

from charword.config import CharwordConfig
from cli.main import main
from pipeline import beam_args, beam_cluster
from pipeline.beam_args import resolve_beam_args


def _answers(endpoint: str) -> bool:
    with grpc.insecure_channel(endpoint) as channel:
        try:
            grpc.channel_ready_future(channel).result(timeout=2)
            return True
        except grpc.FutureTimeoutError:
            return False


def _loopback(ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    return (getattr(address, "ipv4_mapped", None) or address).is_loopback


@pytest.fixture
def state_dir(tmp_path):
    path = str(tmp_path / "cluster")
    yield path
    beam_cluster.stop(path)  # whatever a failed test left running


def test_cluster_starts_answers_refuses_a_second_start_and_stops(state_dir, capsys):
    # A state file left by a cluster that died (its pids gone) does not block a start.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    os.makedirs(state_dir)
    beam_cluster._write_state(beam_cluster.Cluster(state_dir, "localhost:1", "localhost:2",  # noqa: SLF001
                                                   (dead.pid, dead.pid)))
    assert beam_cluster.running(state_dir) is None

    assert main(["beam-cluster", "start", "--state-dir", state_dir, "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    cluster = beam_cluster.running(state_dir)
    assert cluster is not None and cluster.pids != (dead.pid, dead.pid)
    assert _answers(cluster.job_endpoint) and _answers(cluster.worker_pool_endpoint)
    for flag in cluster.beam_args(2):
        assert f"--beam-arg={flag}" in printed
    assert "--sdk_worker_parallelism=2" in printed
    # Both services listen on the loopback interface only, each leads its own process group.
    for pid in cluster.pids:
        listening = [c.laddr.ip for c in psutil.Process(pid).net_connections() if c.status == psutil.CONN_LISTEN]
        assert listening and all(_loopback(ip) for ip in listening), listening
        assert os.getpgid(pid) == pid

    with pytest.raises(beam_cluster.ClusterError, match="already runs from"):
        beam_cluster.start(state_dir)

    assert main(["beam-cluster", "status", "--state-dir", state_dir]) == 0
    assert cluster.job_endpoint in capsys.readouterr().out

    assert main(["beam-cluster", "stop", "--state-dir", state_dir]) == 0
    assert "Stopped" in capsys.readouterr().out
    assert not any(os.path.exists(f"/proc/{pid}") and beam_cluster._alive(pid)  # noqa: SLF001
                   for pid in cluster.pids)
    assert not os.path.exists(os.path.join(state_dir, beam_cluster.STATE_FILE))
    assert not _answers(cluster.job_endpoint)
    assert main(["beam-cluster", "status", "--state-dir", state_dir]) == 1
    assert beam_cluster.stop(state_dir) == []


def test_a_service_that_cannot_start_is_reported_with_its_log(state_dir, monkeypatch):
    # A port taken on every address (a dual-stack wildcard socket, so neither 127.0.0.1 nor
    # ::1 is free: gRPC serves "localhost" when either binds): the service cannot start.
    with socket.socket(socket.AF_INET6) as taken:
        taken.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        taken.bind(("::", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(beam_cluster, "free_ports", lambda count: [port] * count)
        with pytest.raises(beam_cluster.ClusterError, match=r"(?s)exited with code 1:.*Failed to bind"):
            beam_cluster.start(state_dir, timeout=120)
    assert beam_cluster.read_state(state_dir) is None


@pytest.mark.parametrize("runner_args", [("--runner=PortableRunner",), ("--runner", "FlinkRunner"),
                                         ("--runner=apache_beam.runners.portability.spark_runner.SparkRunner",)])
def test_portable_runners_get_a_job_timeout_beyond_the_60_s_default(runner_args):
    # Beam 2.59 applies --job_server_timeout to the job's state stream: a Transform running
    # longer than 60 s would otherwise fail with DEADLINE_EXCEEDED.
    cfg = CharwordConfig().replace(pipeline=dict(beam_args=(*runner_args, "--job_endpoint=localhost:8099")))
    args = resolve_beam_args(cfg.pipeline, 10)
    assert args[:-1] == (*runner_args, "--job_endpoint=localhost:8099")
    assert args[-1] == f"--job_server_timeout={beam_args.PORTABLE_JOB_TIMEOUT_S}"
    assert beam_args.PORTABLE_JOB_TIMEOUT_S >= 3600


def test_a_given_job_timeout_and_other_runners_arguments_pass_through_unchanged():
    given = ("--runner=PortableRunner", "--job_server_timeout=600")
    dataflow = ("--runner=DataflowRunner", "--project=p")
    for args in (given, dataflow):
        assert resolve_beam_args(CharwordConfig().replace(pipeline=dict(beam_args=args)).pipeline, 10) == args


def test_a_compiled_pipeline_leaves_the_worker_count_to_the_machine_that_runs_the_step():
    assert resolve_beam_args(CharwordConfig().pipeline) == ("--direct_running_mode=multi_processing",
                                                           "--direct_num_workers=0")


def test_a_job_endpoint_that_does_not_answer_is_named_at_once():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(beam_args.BeamEndpointError, match=f"--job_endpoint=localhost:{port} does not answer"):
        beam_args.check_job_endpoint(("--runner=PortableRunner", f"--job_endpoint=localhost:{port}"), timeout_s=1)
    beam_args.check_job_endpoint(("--direct_running_mode=in_memory",))  # no endpoint: nothing to check
