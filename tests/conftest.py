"""Test set-up: the Keras flavour and quiet TensorFlow C++ logs before TensorFlow loads.
Test processes keep TensorFlow's one CPU device, as ``charword run`` has on a CPU machine;
what trains under a two-replica MirroredStrategy runs in a child process
(tests/two_replicas.py). Tests that need no TensorFlow run without importing it."""
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import charword  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")
# A directory under which ``trained_model`` trains once for every pytest run that names it.
TRAINED_MODEL_ROOT = "CHARWORD_TRAINED_MODEL_ROOT"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end pipeline runs (minutes); `make test-all` runs them")
    config.addinivalue_line("markers", "e2e: runs the full local TFX pipeline")


@pytest.hookimpl(trylast=True)  # after ``-m`` has deselected: count the tests that run
def pytest_collection_modifyitems(items):
    """Modules that run the whole pipeline (``e2e``, minutes each) first, the others by
    number of tests, most first: ``make``'s xdist workers take whole modules in this order
    (``--no-loadscope-reorder``), so neither is left with a long module while the other idles.
    Of the modules that use the session model (``trained_model``), the first goes first and
    the others after every module that does not: one worker trains the model while the
    other works, where it would otherwise wait for it."""
    def module(item):
        return item.nodeid.split("::")[0]
    tests, e2e, waits = {}, set(), set()
    for item in items:
        tests[module(item)] = tests.get(module(item), 0) + 1
        if item.get_closest_marker("e2e"):
            e2e.add(module(item))
        if "trained_model" in getattr(item, "fixturenames", ()):
            waits.add(module(item))
    order = sorted(tests, key=lambda name: (name not in e2e, -tests[name], name))
    users = [name for name in order if name in waits]
    order = users[:1] + [name for name in order if name not in waits] + users[1:]
    rank = {name: position for position, name in enumerate(order)}
    items.sort(key=lambda item: rank[module(item)])


@pytest.fixture(scope="session")
def sst2_dir():
    """The real SST-2 data beside the repository; tests using it skip when it is absent."""
    path = os.path.abspath(os.path.join(SHARED_DATA, "sst2"))
    if not os.path.exists(os.path.join(path, "train.tsv")):
        pytest.skip(f"SST-2 not found at {path}")
    return path


def demo_subset(path, rows):
    """Writes the demo data's header and first ``rows`` rows to ``path``; returns it."""
    import csv  # pylint: disable=import-outside-toplevel

    from charword.demo_data import DEMO_DATA  # pylint: disable=import-outside-toplevel
    with open(DEMO_DATA, encoding="utf-8") as handle:
        kept = list(csv.reader(handle))[:rows + 1]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(kept)
    return path


POSITIVE_WORDS = ("excellent", "wonderful", "brilliant", "delightful", "fantastic", "superb")
NEGATIVE_WORDS = ("terrible", "horrible", "dreadful", "awful", "boring", "disappointing")
SUBJECTS = ("the movie", "this film", "the plot", "the acting", "the soundtrack", "the ending")


def learnable_pairs(count, seed, typo_rate=0.3):
    """A small sentiment task a model learns in a few hundred steps; a share of the
    opinion words carry a typo, so they are rare and the char branch has to learn."""
    import random  # pylint: disable=import-outside-toplevel

    from charword.demo_data import typo  # pylint: disable=import-outside-toplevel
    rng = random.Random(seed)
    pairs = []
    for _ in range(count):
        positive = rng.random() < 0.5
        word = rng.choice(POSITIVE_WORDS if positive else NEGATIVE_WORDS)
        if rng.random() < typo_rate:
            word = typo(word, rng)
        pairs.append((f"{rng.choice(SUBJECTS)} was {word} .", "positive" if positive else "negative"))
    return pairs


class TrainedModel:
    """A model trained by the real run_fn under a 2-replica MirroredStrategy (in a child
    process: :mod:`tests.two_replicas`)."""

    def __init__(self, cfg, fn_args, log_text, result):
        self.cfg = cfg
        self.fn_args = fn_args
        self.model_dir = fn_args.serving_model_dir
        self.log_text = log_text
        self.result = result  # run_fn's TrainingResult


def trained_model_config():
    """The session model's configuration (tests/two_replicas.py trains it)."""
    from charword.config import CharwordConfig  # pylint: disable=import-outside-toplevel
    return CharwordConfig().replace(
        preprocessing=dict(max_tokens=10, max_chars=16, frequency_threshold=3),
        model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32,
                   char_filters=((1, 16), (2, 16), (3, 32), (4, 32)), char_ngram_buckets=20_000,
                   word_bigram_buckets=5_000),
        training=dict(batch_size=16, max_epochs=8, learning_rate=5e-3, class_weights="balanced"))


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    """One model trained for the whole session. Under pytest-xdist (``make test``) the
    workers share it: the first to get the lock trains, the others read what it wrote;
    pytest runs that set ``TRAINED_MODEL_ROOT`` share the one trained under that directory."""
    import fcntl  # pylint: disable=import-outside-toplevel
    import json  # pylint: disable=import-outside-toplevel

    from charword import contract  # pylint: disable=import-outside-toplevel
    from standalone.fn_args import make_fn_args  # pylint: disable=import-outside-toplevel
    from standalone.transform import written_to  # pylint: disable=import-outside-toplevel
    from tests import two_replicas  # pylint: disable=import-outside-toplevel
    from trainer.training import TrainingResult  # pylint: disable=import-outside-toplevel

    root = tmp_path_factory.getbasetemp()
    if os.environ.get(TRAINED_MODEL_ROOT):
        root = Path(os.environ[TRAINED_MODEL_ROOT])  # kept across pytest runs (tests/wrong_values.py)
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's directory, which its workers share
    work = root / "trained_model"
    cfg = trained_model_config()
    with open(root / "trained_model.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (work / "trainer.log").exists():
            two_replicas.train(work)
    fn_args = make_fn_args(written_to(str(work)), cfg, str(work / "trainer"))
    with open(os.path.join(fn_args.model_run_dir, contract.TRAINING_REPORT), encoding="utf-8") as handle:
        report = json.load(handle)
    result = TrainingResult(**dict(report, examples_per_s=tuple(report["examples_per_s"])))
    return TrainedModel(cfg, fn_args, (work / "trainer.log").read_text(encoding="utf-8"), result)
