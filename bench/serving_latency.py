"""Latency and throughput of the model server (serving/) on this machine's CPU.

  python -m bench serving --model-dir DIR [--requests 200] [--output PATH]

Starts ``charword serve`` on 127.0.0.1 in a child process, then for 1- and 32-sentence
requests and 1, 8 and 32 concurrent clients (asyncio + httpx, keep-alive connections)
sends ``--requests`` ``predict_text`` requests per configuration, each configuration
capped at ``--max-seconds``. Prints a Markdown table (p50/p99 latency, requests/s,
sentences/s) and writes the same numbers as JSON.

``DIR`` is a SavedModel directory or a directory of version subdirectories. The
clients share the machine with the server, so on a small machine they take CPU from it.
"""
import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Dict, List

import httpx
import numpy as np

from charword import contract
from charword.net import free_port, wait_until

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "charword"
SUBJECTS = ("the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending")
OPINIONS = ("wonderful", "terrible", "brilliant", "boring", "delightful", "disappointing", "superb", "awful")


def sentences(count: int, offset: int) -> List[str]:
    """Short review-like sentences, varied so that no two requests are alike."""
    return [f"{SUBJECTS[(offset + i) % len(SUBJECTS)]} was {OPINIONS[(offset * 7 + i) % len(OPINIONS)]} "
            f"and {OPINIONS[(offset + 3 * i) % len(OPINIONS)]} , take {offset + i} ." for i in range(count)]


def staged_model_dir(model_dir: str, work: str) -> str:
    """``model_dir`` itself when it holds versions; a SavedModel is copied in as version 1."""
    if not os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
        return model_dir
    versioned = os.path.join(work, NAME)
    shutil.copytree(model_dir, os.path.join(versioned, "1"))
    return versioned


def start_server(model_dir: str, port: int, log_path: str, inference_threads: int) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])),
               TF_CPP_MIN_LOG_LEVEL="2")
    with open(log_path, "wb") as log:
        return subprocess.Popen([sys.executable, "-m", "cli", "serve", "--model-dir", model_dir,
                                 "--name", NAME, "--port", str(port), "--inference-threads", str(inference_threads)],
                                cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def ready(url: str) -> bool:
    """Whether the server at ``url`` answers ``/readyz`` with 200."""
    try:
        return httpx.get(f"{url}/readyz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


async def run_config(url: str, batch: int, clients: int, requests: int, max_seconds: float) -> Dict:
    """Sends ``requests`` requests of ``batch`` sentences from ``clients`` concurrent clients."""
    latencies, errors, issued = [], 0, 0
    deadline = time.monotonic() + max_seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors, issued
        while issued < requests and time.monotonic() < deadline:
            issued += 1
            body = {"signature_name": contract.PREDICT_TEXT, "instances": sentences(batch, issued)}
            started = time.perf_counter()
            try:
                response = await http.post(f"{url}/v1/models/{NAME}:predict", json=body)
                ok = response.status_code == 200 and len(response.json()["predictions"]) == batch
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=120) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    millis = np.array(latencies) * 1000
    return {"sentences_per_request": batch, "clients": clients, "requests": len(latencies), "errors": errors,
            "p50_ms": float(np.percentile(millis, 50)), "p99_ms": float(np.percentile(millis, 99)),
            "requests_per_s": len(latencies) / elapsed, "sentences_per_s": len(latencies) * batch / elapsed,
            "seconds": elapsed}


def markdown(results: List[Dict]) -> str:
    lines = ["| sentences/request | clients | requests | errors | p50 ms | p99 ms | requests/s | sentences/s |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['sentences_per_request']} | {r['clients']} | {r['requests']} | {r['errors']} | "
                     f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['requests_per_s']:.1f} | "
                     f"{r['sentences_per_s']:.0f} |")
    return "\n".join(lines)


def measure(model_dir: str, batches: List[int], client_counts: List[int], requests: int, max_seconds: float,
            inference_threads: int = 4) -> List[Dict]:
    """Starts ``charword serve`` on ``model_dir`` and measures every (batch, clients)
    configuration after a warm-up; stops the server."""
    with tempfile.TemporaryDirectory(prefix="charword-bench-") as work:
        model_dir = staged_model_dir(os.path.abspath(model_dir), work)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(model_dir, port, os.path.join(work, "server.log"), inference_threads)
        try:
            wait_until(lambda: ready(url), 300, "the model server to be ready", server, interval=0.5)
            for batch in batches:  # warm-up: the first calls of a batch shape are slower
                for _ in range(3):
                    httpx.post(f"{url}/v1/models/{NAME}:predict", json={"instances": sentences(batch, 0)},
                               timeout=120).raise_for_status()
            return [asyncio.run(run_config(url, batch, clients, requests, max_seconds))
                    for batch in batches for clients in client_counts]
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench serving", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="SavedModel directory or directory of versions")
    parser.add_argument("--requests", type=int, default=200, help="requests per configuration")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap per configuration")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients, comma-separated")
    parser.add_argument("--batches", default="1,32", help="sentences per request, comma-separated")
    parser.add_argument("--inference-threads", type=int, default=4, help="the server's --inference-threads")
    parser.add_argument("--output", default=os.path.join("outputs", "bench", "serving_latency.json"),
                        help="JSON file to write")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    results = measure(args.model_dir, [int(b) for b in args.batches.split(",")],
                      [int(c) for c in args.clients.split(",")], args.requests, args.max_seconds,
                      args.inference_threads)
    machine = {"cpu_cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    print(f"Model server latency on CPU ({machine['cpu_cores']} cores, {machine['platform']}), "
          f"predict_text over HTTP on 127.0.0.1:\n")
    print(markdown(results))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8") as handle:
        json.dump({"machine": machine, "model_dir": os.path.abspath(args.model_dir), "results": results}, handle,
                  indent=2)
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
