"""Static guarantees about the shape of the code: imports point one way, the model server
stands on the contract alone, and signature and output names are spelled only in
``charword/contract.py``. Pure Python (``ast``): no TensorFlow."""
import ast
import os

import pytest

from charword import contract

ROOT = os.path.join(os.path.dirname(__file__), "..")

# Each package may import the project packages it lists (its own included), nothing above.
ALLOWED_IMPORTS = {
    "charword": {"charword"},
    "preprocessing": {"charword", "preprocessing"},
    "embeddings": {"charword", "embeddings"},
    "trainer": {"charword", "preprocessing", "embeddings", "trainer"},
    "components": {"charword", "preprocessing", "embeddings", "trainer", "components"},
    "pipeline": {"charword", "preprocessing", "embeddings", "trainer", "components", "pipeline"},
    "serving": {"charword", "serving"},
    "standalone": {"charword", "preprocessing", "embeddings", "trainer", "standalone"},
    "cli": {"charword", "preprocessing", "embeddings", "trainer", "components", "pipeline", "serving", "cli"},
}
PROJECT_PACKAGES = set(ALLOWED_IMPORTS) | {"bench", "tests", "kubeflow"}
# Third-party libraries the model server must not need.
SERVING_FORBIDDEN = {"tensorflow_transform", "tfx", "tfx_bsl", "apache_beam", "tf_keras", "keras"}
# Modules that handle model outputs by name.
OUTPUT_KEY_PACKAGES = ("serving", "components", "pipeline", "cli", "embeddings")
OUTPUT_KEY_FILES = ("trainer/export.py", "charword/servability.py")
# Strings equal to an output key that name something else: MisspellingCheck counts eval "tokens".
NOT_OUTPUT_KEYS = {("components/misspelling_check.py", "tokens")}
OUTPUT_KEYS = {contract.PROBABILITIES, contract.LABEL, contract.CLASSES, contract.TOKENS, contract.EMBEDDINGS,
               contract.MASK, contract.WORD_EMBEDDINGS, contract.CHAR_EMBEDDINGS}


def _files(package):
    for root, _, names in os.walk(os.path.join(ROOT, package)):
        for name in sorted(names):
            if name.endswith(".py"):
                yield os.path.relpath(os.path.join(root, name), ROOT)


def _tree(relative):
    with open(os.path.join(ROOT, relative), encoding="utf-8") as handle:
        return ast.parse(handle.read(), relative)


def _imported_roots(tree):
    """(line, top-level module) of every import, function-level ones included."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def _string_constants(tree):
    """(line, value) of string literals that are not docstrings."""
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            yield node.lineno, node.value


@pytest.mark.parametrize("package", sorted(ALLOWED_IMPORTS))
def test_imports_point_one_way(package):
    wrong = [f"{path}:{line} imports {root}" for path in _files(package) for line, root in _imported_roots(_tree(path))
             if root in PROJECT_PACKAGES and root not in ALLOWED_IMPORTS[package]]
    assert not wrong, "\n".join(wrong)


def test_serving_needs_neither_trainer_nor_tf_transform():
    wrong = [f"{path}:{line} imports {root}" for path in _files("serving")
             for line, root in _imported_roots(_tree(path)) if root in SERVING_FORBIDDEN]
    assert not wrong, "\n".join(wrong)


def test_only_the_benchmark_imports_fasttext():
    """fastText is the benchmark's peer, locked as a benchmark dependency: nothing the
    pipeline, the Trainer or the server runs may need it."""
    wrong = [f"{path}:{line}" for package in sorted(PROJECT_PACKAGES - {"bench", "tests"}) for path in _files(package)
             for line, root in _imported_roots(_tree(path)) if root == "fasttext"]
    assert not wrong, "\n".join(wrong)
    assert any(root == "fasttext" for path in _files("bench") for _, root in _imported_roots(_tree(path)))


def test_signature_names_are_spelled_only_in_the_contract():
    names = set(contract.SIGNATURES)
    wrong = [f"{path}:{line} {value!r}" for package in sorted(PROJECT_PACKAGES - {"tests"}) for path in _files(package)
             if path != os.path.join("charword", "contract.py")
             for line, value in _string_constants(_tree(path)) if value in names]
    assert not wrong, "\n".join(wrong)


def test_output_keys_are_spelled_only_in_the_contract():
    paths = [path for package in OUTPUT_KEY_PACKAGES for path in _files(package)] + list(OUTPUT_KEY_FILES)
    wrong = [f"{path}:{line} {value!r}" for path in paths for line, value in _string_constants(_tree(path))
             if value in OUTPUT_KEYS and (path, value) not in NOT_OUTPUT_KEYS]
    assert not wrong, "\n".join(wrong)


def test_the_checks_see_a_violation(tmp_path):
    """The helpers above find what they look for (so the tests above can fail)."""
    tree = ast.parse('"""doc: predict_text"""\ndef f():\n    import trainer.task\n    return "predict_text"\n')
    assert (3, "trainer") in set(_imported_roots(tree))
    assert [value for _, value in _string_constants(tree)] == ["predict_text"]


def test_setup_installs_every_package_the_installed_code_imports():
    """The pipeline runs from the installed project (TFX imports ``trainer.task`` from it,
    the console script has no repository on its path), so every package the installed
    packages import must be installed too."""
    setup = ast.parse(open(os.path.join(ROOT, "setup.py"), encoding="utf-8").read())
    call = next(node for node in ast.walk(setup) if isinstance(node, ast.Call)
                and getattr(node.func, "id", "") == "find_packages")
    installed = {pattern.value.rstrip("*") for pattern in
                 next(k.value for k in call.keywords if k.arg == "include").elts}
    imported = {root for package in installed for path in _files(package) for _, root in _imported_roots(_tree(path))
                if root in PROJECT_PACKAGES}
    assert imported <= installed, f"imported but not installed: {sorted(imported - installed)}"
