"""A local Beam cluster for the portable runner: a job service and an external SDK
worker pool, each in its own process, started and stopped as a unit.

The portable runner (``--runner=PortableRunner``) submits a pipeline to a job service
over Beam's Job API; the job service runs it and asks an external worker pool, over
the Fn API, for SDK worker processes that execute the Python transforms. Flink, Spark
and Dataflow v2 run Python the same way, so a pipeline that runs here has no
main-session, pickling or working-directory reliance left for them to find.

    charword beam-cluster start [--state-dir DIR]   # prints the --beam-arg flags to use
    charword beam-cluster status | stop

The two services are Beam's own classes, started by this module
(``python -m pipeline.beam_cluster job-service|worker-pool --port N``) rather than by
Beam's ``local_job_service_main`` and ``worker_pool_main`` for three reasons: the worker
pool listens on 127.0.0.1 only (Beam's listens on every interface, and whoever reaches
it can have it run code); the job service honours ``--sdk_worker_parallelism=N`` by
splitting each stage's bundles over N workers (Beam's local job service always uses
one); and the pool's workers run this interpreter. Beam's two entry points work with
the same flags, one worker per stage.

Workers run in the state directory, never the driver's working directory, so a
relative path handed to them fails here as it would on a cluster. They import the
project (``PYTHONPATH`` carries its root) and TensorFlow Text's ops, as
``preprocessing`` imports ``tensorflow_text``.
"""
import argparse
import contextlib
import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from typing import Iterator, List, Optional, Tuple

from charword.net import free_ports

logger = logging.getLogger(__name__)

STATE_FILE = "cluster.json"
SERVICES = ("job-service", "worker-pool")
_MODULE = "pipeline.beam_cluster"
_PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class ClusterError(RuntimeError):
    """The cluster could not start, or its state directory is in use or broken."""


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A running local cluster: its endpoints, process ids and state directory."""

    state_dir: str
    job_endpoint: str
    worker_pool_endpoint: str
    pids: Tuple[int, int]  # job service, worker pool (each leads its own process group)

    def beam_args(self, workers: int = 1) -> Tuple[str, ...]:
        """Beam arguments that run a pipeline here on ``workers`` SDK worker processes.

        On Flink or Spark the same four flags name their job server instead, and
        ``--environment_config`` the worker pool beside each task manager or executor.
        """
        return ("--runner=PortableRunner", f"--job_endpoint={self.job_endpoint}",
                "--environment_type=EXTERNAL", f"--environment_config={self.worker_pool_endpoint}",
                f"--sdk_worker_parallelism={workers}")


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs one of this module's services (not a zombie, not a reused id)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return _MODULE.encode() in cmdline.read()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def read_state(state_dir: str) -> Optional[Cluster]:
    """The cluster recorded in ``state_dir``, or ``None`` when there is none."""
    path = os.path.join(state_dir, STATE_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            values = json.load(handle)
            return Cluster(state_dir=os.path.abspath(state_dir), job_endpoint=values["job_endpoint"],
                           worker_pool_endpoint=values["worker_pool_endpoint"], pids=tuple(values["pids"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ClusterError(f"{path}: not a cluster state file ({error}); delete it") from None


def running(state_dir: str) -> Optional[Cluster]:
    """The cluster of ``state_dir`` if both its services are alive."""
    cluster = read_state(state_dir)
    return cluster if cluster and all(_alive(pid) for pid in cluster.pids) else None


def _wait_ready(endpoint: str, process: subprocess.Popen, log_path: str, deadline: float) -> None:
    import grpc  # pylint: disable=import-outside-toplevel
    while True:
        if process.poll() is not None:
            with open(log_path, encoding="utf-8", errors="replace") as log:
                tail = "".join(log.readlines()[-15:])
            raise ClusterError(f"{log_path}: the service on {endpoint} exited with code {process.returncode}:\n"
                               f"{tail}")
        with grpc.insecure_channel(endpoint) as channel:
            try:
                grpc.channel_ready_future(channel).result(timeout=min(2.0, max(0.1, deadline - time.time())))
                return
            except grpc.FutureTimeoutError:
                pass
        if time.time() > deadline:
            raise ClusterError(f"the service on {endpoint} did not answer in time (log: {log_path})")


def _start_service(service: str, port: int, state_dir: str) -> subprocess.Popen:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH")) if p)
    # Beam's worker pool starts each worker as `python -c ...`: make that this interpreter.
    env["PATH"] = os.pathsep.join((os.path.dirname(sys.executable), env.get("PATH", "")))
    with open(os.path.join(state_dir, f"{service}.log"), "ab") as log:
        return subprocess.Popen([sys.executable, "-m", _MODULE, service, "--port", str(port)], cwd=state_dir,
                                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def start(state_dir: str, timeout: float = 180.0) -> Cluster:
    """Starts a job service and a worker pool on free 127.0.0.1 ports, records them in
    ``state_dir/cluster.json`` and returns once both answer (or raises
    :class:`ClusterError` with the failing service's log, having stopped both)."""
    state_dir = os.path.abspath(state_dir)
    os.makedirs(state_dir, exist_ok=True)
    existing = read_state(state_dir)
    if existing:
        if any(_alive(pid) for pid in existing.pids):
            raise ClusterError(f"a cluster already runs from {state_dir} (pids {list(existing.pids)}, job "
                               f"endpoint {existing.job_endpoint}); stop it first")
        os.remove(os.path.join(state_dir, STATE_FILE))
    ports = free_ports(len(SERVICES))
    processes = [_start_service(service, port, state_dir) for service, port in zip(SERVICES, ports)]
    cluster = Cluster(state_dir=state_dir, job_endpoint=f"localhost:{ports[0]}",
                      worker_pool_endpoint=f"localhost:{ports[1]}", pids=tuple(p.pid for p in processes))
    _write_state(cluster)
    deadline = time.time() + timeout
    try:
        for service, endpoint, process in zip(SERVICES, (cluster.job_endpoint, cluster.worker_pool_endpoint),
                                              processes):
            _wait_ready(endpoint, process, os.path.join(state_dir, f"{service}.log"), deadline)
    except BaseException:
        stop(state_dir)
        raise
    logger.info("Beam cluster up: job service %s, worker pool %s", cluster.job_endpoint,
                cluster.worker_pool_endpoint)
    return cluster


def _write_state(cluster: Cluster) -> None:
    path = os.path.join(cluster.state_dir, STATE_FILE)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump({"job_endpoint": cluster.job_endpoint, "worker_pool_endpoint": cluster.worker_pool_endpoint,
                   "pids": list(cluster.pids)}, handle)
    os.replace(path + ".tmp", path)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def stop(state_dir: str, grace_seconds: float = 10.0) -> List[int]:
    """Stops the cluster of ``state_dir`` and its workers (SIGTERM to each service's
    process group, SIGKILL after ``grace_seconds``); returns the pids stopped. Stopping
    a stopped cluster just removes its state file."""
    cluster = read_state(state_dir)
    if cluster is None:
        return []
    live = [pid for pid in cluster.pids if _alive(pid)]
    for pid in live:
        _signal_group(pid, signal.SIGTERM)
    deadline = time.time() + grace_seconds
    while True:
        for pid in live:
            _reap(pid)
        if not any(_alive(pid) for pid in live) or time.time() > deadline:
            break
        time.sleep(0.1)
    for pid in live:
        _signal_group(pid, signal.SIGKILL)  # whatever is left of the group: workers included
        _reap(pid)
    with contextlib.suppress(FileNotFoundError):
        os.remove(os.path.join(state_dir, STATE_FILE))
    return live


@contextlib.contextmanager
def local_cluster(state_dir: str, timeout: float = 180.0) -> Iterator[Cluster]:
    """A cluster for the ``with`` block; stopped on the way out, error or not."""
    cluster = start(state_dir, timeout)
    try:
        yield cluster
    finally:
        stop(state_dir)


def _serve_job_service(port: int) -> None:
    """Beam's local job service whose jobs run each stage on ``--sdk_worker_parallelism`` workers."""
    # pylint: disable=import-outside-toplevel
    from apache_beam.options.pipeline_options import PortableOptions
    from apache_beam.portability.api import beam_job_api_pb2
    from apache_beam.runners.portability import local_job_service
    from apache_beam.runners.portability.fn_api_runner import fn_runner

    class ParallelJob(local_job_service.BeamJob):
        def _invoke_runner(self):
            self.set_state(beam_job_api_pb2.JobState.RUNNING)
            options = self.pipeline_options()
            workers = int(options.view_as(PortableOptions).sdk_worker_parallelism or 0) or os.cpu_count() or 1
            runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
            # FnApiRunner reads its worker count from the public --direct_num_workers only in
            # run_pipeline, which needs a Pipeline object; a job holds the runner-expanded
            # proto, which Pipeline.from_runner_api refuses (KeyError on Beam's
            # combine_per_key_precombine transform, tried with Beam 2.59), so the job sets the
            # attribute run_via_runner_api reads. Without it every stage runs on one worker.
            runner._num_workers = workers  # pylint: disable=protected-access
            return runner.run_via_runner_api(self._pipeline_proto, options)

    servicer = local_job_service.LocalJobServicer(beam_job_type=ParallelJob)
    servicer.start_grpc_server(port)
    _serve_until_terminated(lambda: servicer.stop())  # pylint: disable=unnecessary-lambda


def _serve_worker_pool(port: int) -> None:
    """Beam's external worker pool (one SDK worker process per request), on 127.0.0.1."""
    # pylint: disable=import-outside-toplevel
    import grpc
    from apache_beam.portability.api import beam_fn_api_pb2_grpc
    from apache_beam.runners.worker.worker_pool_main import BeamFnExternalWorkerPoolServicer
    from apache_beam.utils import thread_pool_executor

    server = grpc.server(thread_pool_executor.shared_unbounded_instance(),
                         options=[("grpc.http2.max_pings_without_data", 0), ("grpc.http2.max_ping_strikes", 0)])
    server.add_insecure_port(f"127.0.0.1:{port}")
    # Workers end on their own when their job does, and Beam's pool never waits for them:
    # let the kernel reap them rather than collect a zombie per worker.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    pool = BeamFnExternalWorkerPoolServicer(use_process=True, state_cache_size=0, data_buffer_time_limit_ms=-1)
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(pool, server)
    server.start()
    _serve_until_terminated(lambda: server.stop(0))


def _serve_until_terminated(shutdown) -> None:
    logger.info("serving (pid %d)", os.getpid())
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    while not stopping:
        time.sleep(0.2)
    shutdown()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=f"python -m {_MODULE}", description="one service of a local Beam cluster")
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    (_serve_job_service if args.service == "job-service" else _serve_worker_pool)(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
