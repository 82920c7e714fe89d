"""Runs the model server on uvicorn: ``serve(model_dir, name)``, on 127.0.0.1 unless told.

``model_dir`` is the directory of integer version subdirectories the Pusher writes
(``<serving_dir>/<model name>``); see serving/registry.py for how versions are chosen.
"""
import os

import uvicorn

from serving.registry import ModelRegistry
from serving.rest import Limits, create_app


def make_server(model_dir: str, name: str, host: str = "127.0.0.1", port: int = 8501, poll_seconds: float = 5.0,
                limits: Limits = Limits(), log_level: str = "info") -> uvicorn.Server:
    """A uvicorn server for ``model_dir``, not yet running (``port=0`` picks a free port)."""
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"model directory {model_dir} does not exist")
    app = create_app(ModelRegistry(model_dir, poll_seconds), name, limits)
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=False))


def serve(model_dir: str, name: str, host: str = "127.0.0.1", port: int = 8501, poll_seconds: float = 5.0,
          limits: Limits = Limits()) -> None:
    """Serves ``name`` from ``model_dir`` until interrupted (Ctrl-C or SIGTERM)."""
    make_server(model_dir, name, host, port, poll_seconds, limits).run()
