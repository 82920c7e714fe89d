"""The model server (serving/) over real HTTP on 127.0.0.1: TF Serving's REST API, bad
requests, load, slow clients, hot reload, restarts; the CLI; the Kubernetes manifests.

One server (in a thread of this process) serves the module; the hot-reload test, which
adds versions, has a server of its own, and the restart test starts ``charword serve``
in a child process.
"""
import base64
import contextlib
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import pytest
import yaml

from charword.config import PipelineConfig
from serving.registry import parse_version
from serving.rest import Limits
from serving.server import make_server

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "charword"
PREDICT = f"/v1/models/{NAME}:predict"
POLL_SECONDS = 0.5
LIMITS = Limits(max_body_bytes=64 * 1024, max_instances=32, body_timeout_s=5.0)


def copy_version(saved_model: str, model_dir: str, version, pb_bytes=None, with_pb: bool = True) -> str:
    """Copies a SavedModel in as the Pusher does: every file, then saved_model.pb last.

    ``pb_bytes`` cuts saved_model.pb to that many bytes (a truncated copy)."""
    dest = os.path.join(model_dir, str(version))
    shutil.copytree(saved_model, dest, ignore=shutil.ignore_patterns("saved_model.pb"))
    if with_pb:
        write_pb(saved_model, dest, pb_bytes)
    return dest


def write_pb(saved_model: str, dest: str, pb_bytes=None) -> None:
    with open(os.path.join(saved_model, "saved_model.pb"), "rb") as handle:
        data = handle.read()
    with open(os.path.join(dest, "saved_model.pb"), "wb") as handle:
        handle.write(data[:pb_bytes] if pb_bytes else data)


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def versions(url: str) -> dict:
    """{version: state} from GET /v1/models/NAME."""
    body = httpx.get(f"{url}/v1/models/{NAME}", timeout=30).json()
    return {row["version"]: row["state"] for row in body["model_version_status"]}


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/readyz", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


class ThreadServer:
    """The server on a free port of 127.0.0.1, in a daemon thread of this process."""

    def __init__(self, model_dir: str):
        self.server = make_server(model_dir, NAME, port=0, poll_seconds=POLL_SECONDS, limits=LIMITS,
                                  log_level="warning")
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 60, "the server to start")
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class Served:
    def __init__(self, saved_model: str, model_dir: str, server: ThreadServer):
        self.saved_model = saved_model
        self.model_dir = model_dir
        self.url = server.url
        self.port = server.port


@contextlib.contextmanager
def serving_version_1(saved_model: str, model_dir: str):
    """A ThreadServer over ``model_dir`` holding ``saved_model`` as version 1, once it serves."""
    copy_version(saved_model, model_dir, 1)
    server = ThreadServer(model_dir)
    try:
        wait_for(lambda: ready(server.url), 180, "version 1 to load")
        yield Served(saved_model, model_dir, server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def served(trained_model, tmp_path_factory):
    """The module's server; tests using it leave its model directory as they found it."""
    with serving_version_1(trained_model.model_dir, str(tmp_path_factory.mktemp("models") / NAME)) as running:
        yield running


@pytest.fixture
def own_server(trained_model, tmp_path):
    """A server of the test's own, for a test that adds versions to its model directory."""
    with serving_version_1(trained_model.model_dir, str(tmp_path / NAME)) as running:
        yield running


def serialized_example(text: str) -> bytes:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel
    feature = {"text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")]))}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def test_status_metadata_and_predictions(served):
    url = served.url
    assert httpx.get(f"{url}/healthz").status_code == 200
    status = httpx.get(f"{url}/v1/models/{NAME}").json()
    assert status == {"model_version_status": [
        {"version": "1", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert httpx.get(f"{url}/v1/models/{NAME}/versions/1").json() == status

    metadata = httpx.get(f"{url}/v1/models/{NAME}/metadata").json()
    assert metadata["model_spec"] == {"name": NAME, "signature_name": "", "version": "1"}
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    assert {"serving_default", "predict_text", "embed_tokens", "transform_features"} <= set(signatures)
    assert signatures["predict_text"]["inputs"]["text"]["dtype"] == "DT_STRING"
    outputs = signatures["predict_text"]["outputs"]
    assert outputs["probabilities"]["dtype"] == "DT_FLOAT"
    assert [d["size"] for d in outputs["probabilities"]["tensor_shape"]["dim"]] == ["-1", "2"]

    texts = ["the movie was wonderful .", "this film was dreadful ."]
    response = httpx.post(f"{url}{PREDICT}", json={"instances": texts})
    assert response.status_code == 200 and response.headers["X-Model-Version"] == "1"
    rows = response.json()["predictions"]
    assert [row["label"] for row in rows] == ["positive", "negative"]
    assert sorted(rows[0]["classes"]) == ["negative", "positive"] and abs(sum(rows[0]["probabilities"]) - 1) < 1e-4

    same = httpx.post(f"{url}/v1/models/{NAME}/versions/1:predict",
                      json={"signature_name": "predict_text", "instances": [{"text": t} for t in texts]}).json()
    assert [row["label"] for row in same["predictions"]] == ["positive", "negative"]
    columnar = httpx.post(f"{url}{PREDICT}", json={"inputs": {"text": texts}}).json()
    assert columnar["outputs"]["label"] == ["positive", "negative"]

    # TF Serving's own convention: serialized tf.Examples as b64 to serving_default (single output: bare rows).
    b64 = [{"b64": base64.b64encode(serialized_example(t)).decode()} for t in texts]
    for body in ({"signature_name": "serving_default", "instances": b64}, {"instances": b64}):
        probabilities = httpx.post(f"{url}{PREDICT}", json=body).json()["predictions"]
        assert np.allclose(probabilities, [row["probabilities"] for row in rows], atol=1e-4)

    embedded = httpx.post(f"{url}{PREDICT}", json={"signature_name": "embed_tokens",
                                                   "instances": ["The movie was wonderful !"]}).json()
    row = embedded["predictions"][0]
    kept = [token for token, keep in zip(row["tokens"], row["mask"]) if keep]
    assert kept == ["the", "movie", "was", "wonderful", "!"]
    assert len(row["embeddings"]) == len(row["tokens"]) and len(row["embeddings"][0]) > 1


def test_empty_texts_are_flagged(served, capsys, monkeypatch):
    from cli import main as cli  # pylint: disable=import-outside-toplevel
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)  # restored afterwards: the CLI sets it for its children
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))  # the CLI sets it too
    texts = ["", " \t\u3000 ", "the movie was wonderful ."]
    rows = httpx.post(f"{served.url}{PREDICT}", json={"instances": texts}).json()["predictions"]
    assert [row["empty"] for row in rows] == [True, True, False]
    columnar = httpx.post(f"{served.url}{PREDICT}", json={"inputs": {"text": texts}}).json()["outputs"]
    assert columnar["empty"] == [True, True, False]
    embedded = httpx.post(f"{served.url}{PREDICT}", json={"signature_name": "embed_tokens", "instances": [""]})
    assert "empty" not in embedded.json()["predictions"][0]
    for source in (["--url", f"{served.url}/v1/models/{NAME}"], ["--model-dir", served.model_dir]):
        assert cli.main(["predict", *texts, *source]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.endswith("[empty text: nothing to read, the label is a guess]") for line in lines[:3]] == [
            True, True, False]


def _raw(port: int, data: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(data)
    return sock


def _read_status(sock: socket.socket) -> int:
    received = b""
    while b"\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return int(received.split(b" ", 2)[1])


def _headers(length: int) -> bytes:
    return (f"POST {PREDICT} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


BAD_REQUESTS = [
    ("malformed JSON", PREDICT, b'{"instances": ["a"', 400),
    ("not UTF-8", PREDICT, b'{"instances": ["\xff\xfe"]}', 400),
    ("body is a list", PREDICT, b'["a"]', 400),
    ("instances not a list", PREDICT, {"instances": "the movie"}, 400),
    ("instances of numbers", PREDICT, {"instances": [1, 2]}, 400),
    ("nested lists", PREDICT, {"instances": [["a"]]}, 400),
    ("null instance", PREDICT, {"instances": [None]}, 400),
    ("empty instances", PREDICT, {"instances": []}, 400),
    ("no instances", PREDICT, {"signature_name": "predict_text"}, 400),
    ("instances and inputs", PREDICT, {"instances": ["a"], "inputs": ["a"]}, 400),
    ("wrong input name", PREDICT, {"inputs": {"sentence": ["a"]}}, 400),
    ("unknown signature", PREDICT, {"signature_name": "train", "instances": ["a"]}, 400),
    ("signature name not a string", PREDICT, {"signature_name": ["predict_text"], "instances": ["a"]}, 400),
    ("invalid base64", PREDICT, {"instances": [{"b64": "not base64!"}]}, 400),
    ("b64 that is no tf.Example", PREDICT, {"signature_name": "serving_default",
                                            "instances": [{"b64": base64.b64encode(b"junk").decode()}]}, 400),
    ("too many instances", PREDICT, {"instances": ["a"] * (LIMITS.max_instances + 1)}, 400),
    ("oversized body", PREDICT, {"instances": ["a" * LIMITS.max_body_bytes]}, 413),
    ("version not a number", f"/v1/models/{NAME}/versions/latest:predict", {"instances": ["a"]}, 400),
    ("dot-dot version", f"/v1/models/{NAME}/versions/..:predict", {"instances": ["a"]}, 400),
    ("encoded dot-dot version", f"/v1/models/{NAME}/versions/%2E%2E:predict", {"instances": ["a"]}, 400),
    ("negative version", f"/v1/models/{NAME}/versions/-1:predict", {"instances": ["a"]}, 400),
    ("version with a sign", f"/v1/models/{NAME}/versions/+1:predict", {"instances": ["a"]}, 400),
    ("absolute path version", f"/v1/models/{NAME}/versions/%2Fetc%2Fpasswd:predict", {"instances": ["a"]}, 404),
    ("path in version", f"/v1/models/{NAME}/versions/1%2F..%2F..:predict", {"instances": ["a"]}, 404),
    ("unknown version", f"/v1/models/{NAME}/versions/99:predict", {"instances": ["a"]}, 404),
    ("unknown model", "/v1/models/other:predict", {"instances": ["a"]}, 404),
    ("model name with dots", "/v1/models/..:predict", {"instances": ["a"]}, 404),
]


@pytest.mark.parametrize("path,body,expected", [case[1:] for case in BAD_REQUESTS],
                         ids=[case[0] for case in BAD_REQUESTS])
def test_bad_request_gets_its_4xx_and_the_server_keeps_answering(served, path, body, expected):
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(f"{served.url}{path}", content=content, headers={"Content-Type": "application/json"},
                          timeout=30)
    assert response.status_code == expected, response.text
    assert isinstance(response.json()["error"], str) and response.json()["error"]
    assert httpx.post(f"{served.url}{PREDICT}", json={"instances": ["still here"]}, timeout=30).status_code == 200


def test_other_refusals(served):
    url = served.url

    def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(8):
            yield b"x" * (LIMITS.max_body_bytes // 4)

    assert httpx.post(f"{url}{PREDICT}", content=chunks(), timeout=30).status_code == 413
    assert httpx.get(f"{url}/v1/models/other").status_code == 404
    assert httpx.get(f"{url}/v1/models/other/metadata").status_code == 404
    assert httpx.get(f"{url}/v1/models/{NAME}/versions/%2E%2E").status_code == 400  # httpx would resolve a bare ..
    assert httpx.get(f"{url}/v1/models/{NAME}/versions/7/metadata").status_code == 404
    assert httpx.get(f"{url}{PREDICT}").status_code == 404  # GET reads "charword:predict" as a model name
    assert httpx.get(f"{url}/nothing/here").json() == {"error": "Not Found"}
    assert httpx.post(f"{url}{PREDICT}", json={"instances": ["fine"]}).status_code == 200


def test_slow_client_does_not_block_others(served):
    body = json.dumps({"instances": ["a slow client sent this"]}).encode()
    slow = _raw(served.port, _headers(len(body)) + body[:5])
    stalled = _raw(served.port, _headers(len(body)) + body[:5])  # never finishes its body
    try:
        with httpx.Client(base_url=served.url, timeout=15) as client:
            for i in range(10):
                assert client.post(PREDICT, json={"instances": [f"meanwhile {i}"]}).status_code == 200
        for i in range(5, len(body)):  # the rest, a byte at a time
            slow.sendall(body[i:i + 1])
            time.sleep(0.01)
        assert _read_status(slow) == 200
        assert _read_status(stalled) == 408  # after LIMITS.body_timeout_s
    finally:
        slow.close()
        stalled.close()


def test_load_1000_requests_from_8_clients(served):
    def client(index: int) -> list:
        with httpx.Client(base_url=served.url, timeout=60) as http:
            return [http.post(PREDICT, json={"instances": [f"the plot was superb , take {index}-{i} ."]}).status_code
                    for i in range(125)]

    with ThreadPoolExecutor(8) as pool:
        codes = [code for codes in pool.map(client, range(8)) for code in codes]
    assert len(codes) == 1000 and codes.count(200) == 1000


def test_cli_predict_and_embed(served, capsys, monkeypatch):
    from cli import main as cli  # pylint: disable=import-outside-toplevel
    monkeypatch.delenv("PYTHONWARNINGS", raising=False)  # restored afterwards: the CLI sets it for its children
    texts = ["the movie was wonderful .", "the acting was awful ."]
    for source in (["--url", f"{served.url}/v1/models/{NAME}"], ["--model-dir", served.model_dir]):
        assert cli.main(["predict", *texts, *source]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert [line.split()[0] for line in lines[:2]] == ["positive", "negative"]
        assert all(0.5 <= float(line.split()[1]) <= 1.0 and line.endswith(text) for line, text in zip(lines, texts))
        assert lines[2] == "(model version 1)"

    assert cli.main(["embed", "the movie was wonderful", "--url", f"{served.url}/v1/models/{NAME}"]) == 0
    out = capsys.readouterr().out
    assert "4 token(s)" in out and "wonderful" in out and "nearest" not in out
    # A plain SavedModel directory works too, and nearest words come from its vocabulary.
    assert cli.main(["embed", "the movie was wonderful", "--model-dir", served.saved_model, "--nearest", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "nearest vocabulary words" in lines[1]
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:6]}
    assert set(rows) == {"the", "movie", "was", "wonderful"}
    assert all(float(row[0]) > 0 and len(row) == 1 + 2 * 2 for row in rows.values())

    assert cli.main(["predict", "x", "--model-dir", os.path.join(served.model_dir, "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_hot_reload_under_load_then_a_corrupt_version_is_refused(own_server, caplog):
    caplog.set_level(logging.INFO, logger="serving.registry")
    url, switched = own_server.url, threading.Event()

    def client(index: int) -> list:
        seen = []
        with httpx.Client(base_url=url, timeout=60) as http:
            for i in range(2000):  # bounded; stops shortly after the switch
                response = http.post(PREDICT, json={"instances": [f"reload {index}-{i} was brilliant ."]})
                seen.append((response.status_code, response.headers.get("X-Model-Version")))
                if switched.is_set() and seen[-1][1] == "2" and len(seen) > 5:
                    break
                time.sleep(0.05)
        return seen

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(client, k) for k in range(4)]
        time.sleep(1)
        dest = copy_version(own_server.saved_model, own_server.model_dir, 2, with_pb=False)
        time.sleep(4 * POLL_SECONDS)
        assert versions(url) == {"1": "AVAILABLE"}, "a version without saved_model.pb was picked up"
        write_pb(own_server.saved_model, dest)
        wait_for(lambda: versions(url).get("2") == "AVAILABLE", 180, "version 2 to swap in")
        switched.set()
        seen = [future.result() for future in futures]

    assert all(status == 200 for thread in seen for status, _ in thread)
    for thread in seen:
        numbers = [int(version) for _, version in thread]
        assert numbers == sorted(numbers) and numbers[0] == 1 and numbers[-1] == 2
    assert versions(url) == {"2": "AVAILABLE"}

    # A truncated saved_model.pb: refused once (not retried while its files stay the same); 2 keeps serving.
    truncated = os.path.getsize(os.path.join(own_server.saved_model, "saved_model.pb")) // 3
    dest = copy_version(own_server.saved_model, own_server.model_dir, 3, pb_bytes=truncated)
    wait_for(lambda: versions(url).get("3") == "END", 120, "version 3 to fail")
    time.sleep(6 * POLL_SECONDS)
    status = httpx.get(f"{url}/v1/models/{NAME}").json()["model_version_status"]
    assert [(row["version"], row["state"], row["status"]["error_code"]) for row in status] == [
        ("3", "END", "UNKNOWN"), ("2", "AVAILABLE", "OK")]
    assert status[0]["status"]["error_message"]
    response = httpx.post(f"{url}{PREDICT}", json={"instances": ["still served"]})
    assert response.status_code == 200 and response.headers["X-Model-Version"] == "2"
    assert httpx.post(f"{url}/v1/models/{NAME}/versions/3:predict", json={"instances": ["x"]}).status_code == 404
    failures = [r for r in caplog.records if r.levelno == logging.ERROR and "version 3" in r.getMessage()]
    assert len(failures) == 1

    # Once its files change (the copy completes), version 3 is tried again and swaps in.
    write_pb(own_server.saved_model, dest)
    wait_for(lambda: versions(url) == {"3": "AVAILABLE"}, 180, "the repaired version 3 to swap in")


def test_restarted_server_serves_the_newest_valid_version(trained_model, tmp_path):
    saved_model, model_dir = trained_model.model_dir, str(tmp_path / NAME)
    copy_version(saved_model, model_dir, 1)
    copy_version(saved_model, model_dir, 4)
    copy_version(saved_model, model_dir, 6, pb_bytes=1000)  # corrupt, newer than the newest valid one
    copy_version(saved_model, model_dir, 9, with_pb=False)  # partial: still being copied
    copy_version(saved_model, model_dir, "10.tmp")  # not an integer: ignored
    os.symlink(saved_model, os.path.join(model_dir, "12"))  # resolves outside the model dir: ignored
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2")
    log_path = tmp_path / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--model-dir", model_dir,
                                    "--name", NAME, "--port", str(port), "--poll-seconds", "1"],
                                   cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: process.poll() is not None or ready(url), 300, "the restarted server")
        assert process.poll() is None, log_path.read_text()
        assert versions(url) == {"6": "END", "4": "AVAILABLE"}
        response = httpx.post(f"{url}{PREDICT}", json={"instances": ["the ending was superb ."]})
        assert response.status_code == 200 and response.headers["X-Model-Version"] == "4"
        assert httpx.post(f"{url}/v1/models/{NAME}/versions/12:predict", json={"instances": ["x"]}).status_code == 404
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("text,expected", [("1", 1), ("0042", 42), ("..", None), ("-1", None), ("+1", None),
                                           (" 1", None), ("1.0", None), ("1_0", None), ("", None), ("/etc", None),
                                           ("١", None), ("9" * 19, None)])
def test_parse_version_accepts_only_plain_digits(text, expected):
    assert parse_version(text) == expected


def _walk(value, path=""):
    if isinstance(value, dict):
        for key, item in value.items():
            yield f"{path}.{key}", key, item
            yield from _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")


def test_kubernetes_manifests():
    folder = os.path.join(REPO, "kubeflow", "serving")
    docs = {}
    for name in ("inferenceservice.yaml", "tf-serving.yaml"):
        with open(os.path.join(folder, name), encoding="utf-8") as handle:
            text = handle.read()
        assert "BEGIN" not in text and "0.0.0.0" not in text
        for doc in yaml.safe_load_all(text):
            docs[doc["kind"]] = doc
            for path, key, _ in _walk(doc):
                assert not any(word in str(key).lower() for word in ("secret", "password", "token", "key")), path
    push_suffix = f"/serving/{PipelineConfig().model_name}"

    isvc = docs["InferenceService"]
    assert isvc["apiVersion"] == "serving.kserve.io/v1beta1" and isvc["metadata"]["name"] == NAME
    predictor = isvc["spec"]["predictor"]
    assert predictor["model"]["modelFormat"]["name"] == "tensorflow"
    storage_uri = predictor["model"]["storageUri"]
    assert storage_uri.startswith("gs://") and storage_uri.endswith(push_suffix)
    assert predictor["serviceAccountName"]

    pod = docs["Deployment"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"]
    (container,) = pod["containers"]
    assert container["image"].startswith("tensorflow/serving:")
    args = dict(arg.lstrip("-").split("=", 1) for arg in container["args"])
    assert args["model_name"] == NAME and args["model_base_path"] == storage_uri
    assert (args["port"], args["rest_api_port"]) == ("8500", "8501")
    assert sorted(p["containerPort"] for p in container["ports"]) == [8500, 8501]
    assert container["readinessProbe"]["httpGet"] == {"path": f"/v1/models/{NAME}", "port": 8501}
    service = docs["Service"]["spec"]
    assert sorted(p["port"] for p in service["ports"]) == [8500, 8501]
    assert service["selector"] == docs["Deployment"]["spec"]["selector"]["matchLabels"]
