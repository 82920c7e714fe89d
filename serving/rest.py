"""The ASGI app: TF Serving's REST API for one model, plus liveness and readiness.

Why a FastAPI app (run by uvicorn) rather than KServe's Python model server: clients
should speak one protocol whether they reach this server, TF Serving or KServe's
TensorFlow predictor (kubeflow/serving/), and that protocol has paths KServe's model
server does not offer as-is: ``/v1/models/NAME/versions/V:predict``, the version-status
endpoint ``GET /v1/models/NAME``, and ``{"b64": ...}`` values; we also want control over
hot swapping (a new version serves only after it answered a warm-up request).

Routes:
  GET  /healthz                                liveness: 200 while the process answers
  GET  /readyz                                 200 once a version is loaded, else 503
  GET  /v1/models/NAME[/versions/V]            version status (TF Serving's shape)
  GET  /v1/models/NAME[/versions/V]/metadata   signatures: inputs, outputs, dtypes, shapes
  POST /v1/models/NAME[/versions/V]:predict    see serving/protocol.py

Predict and metadata responses name the version that answered in the
``X-Model-Version`` header; bodies stay exactly TF Serving's.

Errors answer ``{"error": "..."}`` with: 400 a malformed or invalid request (bad JSON,
wrong types, no instances, too many instances, unknown signature, a version that is
not an integer, inputs the model rejects); 404 an unknown model name, or a version
that is not loaded (only loaded versions are looked up, never the file system); 408 a
body that did not arrive within ``body_timeout_s``; 413 a body over
``max_body_bytes``; 503 no version loaded yet; 500 anything else. No request can stop
the server.

Inference runs in a pool of ``inference_threads`` threads, so the event loop keeps
accepting connections and reading other (slow) requests meanwhile.
"""
import asyncio
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Optional

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from serving import protocol
from serving.model import InputError, LoadedModel
from serving.registry import ModelRegistry, parse_version


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server."""

    max_body_bytes: int = 1 << 20
    max_instances: int = 256
    body_timeout_s: float = 30.0
    inference_threads: int = 4


class ApiError(Exception):
    """An error answered as ``{"error": message}`` with an HTTP status."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _shown(text: str) -> str:
    return repr(text[:80])


async def _read_body(request: Request, limits: Limits) -> bytes:
    """The request body, refused (413) once it exceeds the limit, or (408) when slow."""
    too_large = ApiError(413, f"the request body exceeds {limits.max_body_bytes} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large
    chunks, size = [], 0

    async def receive() -> None:
        nonlocal size
        async for chunk in request.stream():
            size += len(chunk)
            if size > limits.max_body_bytes:
                raise too_large
            chunks.append(chunk)

    try:
        await asyncio.wait_for(receive(), limits.body_timeout_s)
    except asyncio.TimeoutError:
        raise ApiError(408, f"the request body did not arrive within {limits.body_timeout_s:g} s") from None
    except ClientDisconnect:
        raise ApiError(400, "the client disconnected before sending the whole body") from None
    return b"".join(chunks)


def create_app(registry: ModelRegistry, model_name: str, limits: Limits = Limits()) -> FastAPI:
    """The app serving ``registry``'s model as ``model_name``; it starts and stops the
    registry's polling with the server."""
    executor = ThreadPoolExecutor(limits.inference_threads, thread_name_prefix="inference")

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        registry.start()
        try:
            yield
        finally:
            registry.stop()
            executor.shutdown(wait=False)

    app = FastAPI(title=f"charword model server ({model_name})", lifespan=lifespan,
                  docs_url=None, redoc_url=None, openapi_url=None)

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse({"error": error.message}, status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"error": str(error.detail)}, status_code=error.status_code, headers=error.headers)

    @app.exception_handler(Exception)
    async def _internal_error(_request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"error": f"internal error: {type(error).__name__}"}, status_code=500)

    def resolve(name: str, version: Optional[str]) -> LoadedModel:
        if name != model_name:
            raise ApiError(404, f"model {_shown(name)} not found; this server serves {model_name!r}")
        if version is None:
            model = registry.current()
            if model is None:
                raise ApiError(503, "no model version is loaded yet")
            return model
        number = parse_version(version)
        if number is None:
            raise ApiError(400, f"a version is a non-negative integer, got {_shown(version)}")
        model = registry.get(number)
        if model is None:
            raise ApiError(404, f"version {number} of model {model_name!r} is not loaded")
        return model

    def status(name: str, version: Optional[str]) -> dict:
        if name != model_name:
            raise ApiError(404, f"model {_shown(name)} not found; this server serves {model_name!r}")
        rows = registry.status()
        if version is not None:
            number = parse_version(version)
            if number is None:
                raise ApiError(400, f"a version is a non-negative integer, got {_shown(version)}")
            rows = [row for row in rows if row.version == number]
            if not rows:
                raise ApiError(404, f"version {number} of model {model_name!r} is unknown")
        return protocol.status_response(rows)

    def metadata(name: str, version: Optional[str]) -> JSONResponse:
        model = resolve(name, version)
        return JSONResponse(protocol.metadata_response(model_name, model.version, model.signature_defs),
                            headers={protocol.VERSION_HEADER: str(model.version)})

    async def predict(request: Request, name: str, version: Optional[str]) -> JSONResponse:
        model = resolve(name, version)  # this request keeps this model even if a new version swaps in
        body = await _read_body(request, limits)
        try:
            parsed = protocol.parse_predict(body, model.input_names, limits.max_instances)
            outputs = await asyncio.get_running_loop().run_in_executor(
                executor, model.run, parsed.signature, parsed.values)
        except (protocol.BadRequest, InputError) as error:
            raise ApiError(400, str(error)) from None
        outputs = protocol.flag_empty(parsed.signature, parsed.values, outputs)
        return JSONResponse(protocol.predict_response(outputs, parsed.columnar),
                            headers={protocol.VERSION_HEADER: str(model.version)})

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "alive"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        model = registry.current()
        if model is None:
            return JSONResponse({"error": "no model version is loaded yet"}, status_code=503)
        return JSONResponse({"status": "ready", "model_version": str(model.version)})

    @app.get("/v1/models/{name}")
    async def model_status(name: str) -> dict:
        return status(name, None)

    @app.get("/v1/models/{name}/versions/{version}")
    async def version_status(name: str, version: str) -> dict:
        return status(name, version)

    @app.get("/v1/models/{name}/metadata")
    async def model_metadata(name: str) -> JSONResponse:
        return metadata(name, None)

    @app.get("/v1/models/{name}/versions/{version}/metadata")
    async def version_metadata(name: str, version: str) -> JSONResponse:
        return metadata(name, version)

    @app.post("/v1/models/{name}:predict")
    async def model_predict(request: Request, name: str) -> JSONResponse:
        return await predict(request, name, None)

    @app.post("/v1/models/{name}/versions/{version}:predict")
    async def version_predict(request: Request, name: str, version: str) -> JSONResponse:
        return await predict(request, name, version)

    return app
