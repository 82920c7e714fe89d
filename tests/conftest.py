"""Test set-up: the Keras flavour and quiet TensorFlow C++ logs before TensorFlow loads,
and, for the tests that use TensorFlow, a two-device CPU so MirroredStrategy runs with
two replicas without a GPU. Tests that need no TensorFlow run without importing it."""
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

import charword  # noqa: E402,F401  (sets TF_USE_LEGACY_KERAS before TensorFlow is imported)

SHARED_DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: end-to-end pipeline runs (minutes); `make test-all` runs them")
    config.addinivalue_line("markers", "e2e: runs the full local TFX pipeline")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(items):
    """Under pytest-xdist (``make test``), the tests that share ``trained_model`` run in one
    worker, so the model trains once."""
    for item in items:
        if "trained_model" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("trained_model"))


def pytest_collection_finish(session):
    """Two logical CPUs when a collected test module imported TensorFlow or a test trains
    (``trained_model``), before any test runs an op: TensorFlow fixes its devices then."""
    if "tensorflow" in sys.modules or any("trained_model" in item.fixturenames for item in session.items):
        from trainer import distribution  # pylint: disable=import-outside-toplevel
        distribution.split_cpu(2)


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
    """A model trained by the real run_fn under a 2-replica MirroredStrategy."""

    def __init__(self, cfg, fn_args, log_text, result):
        self.cfg = cfg
        self.fn_args = fn_args
        self.model_dir = fn_args.serving_model_dir
        self.log_text = log_text
        self.result = result  # run_fn's TrainingResult


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory):
    import io  # pylint: disable=import-outside-toplevel
    import logging  # pylint: disable=import-outside-toplevel

    from charword.config import CharwordConfig  # pylint: disable=import-outside-toplevel
    from standalone.fn_args import make_fn_args  # pylint: disable=import-outside-toplevel
    from standalone.transform import rows_from_pairs, transform_rows  # pylint: disable=import-outside-toplevel
    from trainer import task  # pylint: disable=import-outside-toplevel

    work = tmp_path_factory.mktemp("trained")
    cfg = CharwordConfig().replace(
        preprocessing=dict(max_tokens=10, max_chars=16, frequency_threshold=3),
        model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32,
                   char_filters=((1, 16), (2, 16), (3, 32), (4, 32)), char_ngram_buckets=20_000,
                   word_bigram_buckets=5_000),
        training=dict(batch_size=16, max_epochs=8, learning_rate=5e-3))
    data = transform_rows(rows_from_pairs(learnable_pairs(480, 1)), rows_from_pairs(learnable_pairs(96, 2)), cfg,
                          str(work))
    fn_args = make_fn_args(data, cfg, str(work / "trainer"))
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    loggers = [logging.getLogger("trainer")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    try:
        result = task.run_fn(fn_args)
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    return TrainedModel(cfg, fn_args, stream.getvalue(), result)
