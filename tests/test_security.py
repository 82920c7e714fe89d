"""Static guarantees: no project code deserialises pickles or executes code taken from
data files or requests, and nothing shells out through a shell."""
import ast
import os

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
PACKAGES = ("charword", "preprocessing", "trainer", "pipeline", "components", "serving", "cli", "standalone",
            "kubeflow", "bench")
# The one pickle the project reads: bench/processes.py hands a forked benchmark phase's
# result back to its parent through a file that child wrote a moment before (process-
# private IPC, never data or a request).
ALLOWED = {("bench/processes.py", ("pickle", "load"))}
FORBIDDEN_CALLS = {("pickle", "load"), ("pickle", "loads"), ("dill", "load"), ("dill", "loads"),
                   ("marshal", "loads"), ("yaml", "load"), ("yaml", "unsafe_load"), (None, "eval"), (None, "exec")}


def _project_files():
    for package in PACKAGES:
        for root, _, files in os.walk(os.path.join(ROOT, package)):
            for name in files:
                if name.endswith(".py"):
                    yield os.path.join(root, name)


def _calls(path):
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), path)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                yield node, (func.value.id, func.attr)
            elif isinstance(func, ast.Name):
                yield node, (None, func.id)


@pytest.mark.parametrize("path", sorted(_project_files()), ids=lambda p: os.path.relpath(p, ROOT))
def test_no_unsafe_deserialisation_or_code_execution(path):
    relative = os.path.relpath(path, ROOT)
    for node, call in _calls(path):
        if (relative, call) in ALLOWED:
            continue
        assert call not in FORBIDDEN_CALLS, f"{path}:{node.lineno}: {call[0] or ''}.{call[1]}"
        shell = [kw for kw in node.keywords if kw.arg == "shell"]
        assert not any(isinstance(kw.value, ast.Constant) and kw.value.value for kw in shell), \
            f"{path}:{node.lineno}: shell=True"
