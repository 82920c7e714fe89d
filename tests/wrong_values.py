"""Do the tests notice a wrong value? Each case makes one function of the contract, the
preprocessing ops or the serving protocol return a wrong value, runs the test module
that covers it, and expects that module to fail.

    python -m tests.wrong_values            # every case; exit status 1 if one survives
    python -m tests.wrong_values tokenize   # the named cases

A case runs pytest in a child process with ``-p tests.wrong_values`` and
``CHARWORD_WRONG_VALUE=<case>``: imported as that plugin, this module replaces the
function before any test module (or conftest) imports it, so every caller gets the wrong
value. Two cases run at a time. A case counts as caught when pytest reports failed tests,
or a fixture failing on the wrong value (exit status 1), not when it cannot collect or run
them.
"""
import concurrent.futures
import dataclasses
import importlib
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List

import numpy as np

from tests.conftest import TRAINED_MODEL_ROOT

ENV = "CHARWORD_WRONG_VALUE"
PARALLEL_CASES = 2  # cases run at once, each its own pytest process (the serving ones train their model once)
SHARES_TRAINED_MODEL = "serving."


@dataclasses.dataclass(frozen=True)
class Case:
    """``function`` (``module:name``) returns ``wrong(right_value)``; ``tests`` (a module or
    one test of it) must fail."""
    function: str
    wrong: Callable[[Any], Any]
    tests: str
    what: str


def _tf():
    import tensorflow as tf  # pylint: disable=import-outside-toplevel  (only the cases that need it)
    return tf


def _without(key: str) -> Callable[[Dict], Dict]:
    return lambda value: {name: item for name, item in value.items() if name != key}


def _first_row_only(request):
    return dataclasses.replace(request, values=[request.values[0]] * len(request.values))


_SERVING = "tests/test_serving.py"  # the serving cases name the test that covers them: the module takes minutes

CASES: Dict[str, Case] = {
    "word_vocab_input_dim": Case("charword.contract:word_vocab_input_dim", lambda rows: rows - 1,
                                 "tests/test_model.py", "one embedding row short"),
    "raw_feature_spec": Case("charword.contract:raw_feature_spec", _without("text"),
                             "tests/test_preprocessing.py", "the raw text feature left out"),
    "model_features": Case("charword.contract:model_features", _without("char_ids"),
                           "tests/test_noise.py", "the char ids left out of the model's inputs"),
    "normalize": Case("preprocessing.text_ops:normalize", lambda text: _tf().strings.upper(text),
                      "tests/test_preprocessing.py", "upper-cased instead of lower-cased"),
    "tokenize": Case("preprocessing.text_ops:tokenize", lambda tokens: tokens[:, :-1],
                     "tests/test_preprocessing.py", "each text's last token dropped"),
    "char_ids": Case("preprocessing.text_ops:char_ids", lambda ids: ids + 1,
                     "tests/test_preprocessing.py", "every byte id off by one"),
    "parse_predict": Case("serving.protocol:parse_predict", _first_row_only,
                          f"{_SERVING}::test_status_metadata_and_predictions", "every instance read as the first"),
    "predict_response": Case("serving.protocol:predict_response",
                             lambda body: {"outputs" if "predictions" in body else "predictions": next(iter(
                                 body.values()))},
                             f"{_SERVING}::test_status_metadata_and_predictions", "row and columnar format swapped"),
    "flag_empty": Case("serving.protocol:flag_empty",
                       lambda outputs: {name: (np.zeros_like(value) if name == "empty" else value)
                                        for name, value in outputs.items()},
                       f"{_SERVING}::test_empty_texts_are_flagged", "no text flagged empty"),
    "status_response": Case("serving.protocol:status_response",
                            lambda body: {"model_version_status": [dict(row, state="LOADING") for row in
                                                                   body["model_version_status"]]},
                            f"{_SERVING}::test_status_metadata_and_predictions",
                            "every version reported still loading"),
}


def _install(case: Case) -> None:
    module_name, name = case.function.split(":")
    module = importlib.import_module(module_name)
    right = getattr(module, name)

    def wrong(*args, **kwargs):
        return case.wrong(right(*args, **kwargs))
    setattr(module, name, wrong)


if os.environ.get(ENV) and __name__ != "__main__":  # imported by pytest as a plugin
    _install(CASES[os.environ[ENV]])


def check(name: str, shared_model_root: str) -> bool:
    """Runs case ``name``; True when its tests fail as they should. The serving cases share
    the session's trained model (``shared_model_root``): training never calls them. The
    other cases train their own, with the wrong value in place."""
    case = CASES[name]
    started = time.monotonic()
    env = {key: value for key, value in os.environ.items() if key != TRAINED_MODEL_ROOT}
    env[ENV] = name
    if case.function.startswith(SHARES_TRAINED_MODEL):
        env[TRAINED_MODEL_ROOT] = shared_model_root
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "tests.wrong_values",
                             "-p", "no:cacheprovider", case.tests],
                            env=env, capture_output=True, text=True, check=False)
    caught = result.returncode == 1
    failed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith(("FAILED ", "ERROR "))]
    verdict = f"caught by {failed[0] if failed else case.tests}" if caught else \
        f"NOT CAUGHT by {case.tests} (pytest exit status {result.returncode})"
    print(f"{name:22s} {case.what}: {verdict} in {time.monotonic() - started:.0f} s", flush=True)
    if not caught:
        print(result.stdout[-3000:], result.stderr[-2000:], sep="\n")
    return caught


def main(argv: List[str]) -> int:
    names = argv or list(CASES)
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        print(f"unknown cases {unknown}; known: {', '.join(CASES)}")
        return 2
    with tempfile.TemporaryDirectory(prefix="wrong_values_") as own_root, \
            concurrent.futures.ThreadPoolExecutor(max_workers=PARALLEL_CASES) as pool:
        # the model an earlier pytest run trained under TRAINED_MODEL_ROOT (.ci/run), else one trained here
        shared_model_root = os.environ.get(TRAINED_MODEL_ROOT) or own_root
        caught = pool.map(lambda name: check(name, shared_model_root), names)
        missed = [name for name, ok in zip(names, caught) if not ok]
    print(f"{len(names) - len(missed)} of {len(names)} wrong values caught"
          + (f"; not caught: {', '.join(missed)}" if missed else ""))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
