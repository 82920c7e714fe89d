"""The full local TFX pipeline on demo data (LocalDagRunner, Beam DirectRunner).

One first run on a fresh output directory blesses and pushes (on a file with the awkward
rows real exports have) and pins the schema; it runs once per module. Every other test
starts from the output directory exactly as that run left it, as a user's next run would:
re-run from cache against the baseline, a worse model that is refused, then bad data of
every kind, none of which may touch the pushed model. Tests run alone and in any order.
"""
import csv
import dataclasses
import hashlib
import os
import shutil
from pathlib import Path
from typing import List, Tuple

import pytest

from charword.config import CharwordConfig
from charword.data import DataError
from charword.demo_data import DEMO_DATA
from components.anomaly_gate import DataAnomaliesError
from pipeline import layout
from pipeline.local_run import run_local
from pipeline.run_summary import RunSummary, format_summary

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def _write_rows(path, rows, header=("text", "label"), encoding="utf-8", line_end="\n"):
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, lineterminator=line_end)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


AWKWARD_ROWS = [
    ("", "positive"),                                   # empty text: dropped
    ("   \t ", "negative"),                              # whitespace-only: dropped
    ("no label on this one", ""),                       # missing label: dropped
    ("a quoted cell\nover two lines, great", "positive"),  # kept as one line
    ("x" * 1_000_000, "negative"),                      # a 1 MB token: cut to max_text_chars
    (" ".join(["word"] * 100_000), "positive"),         # 100k tokens: cut, then max_tokens
]


def _serving_snapshot(push_dir):
    """{version: sha256 of saved_model.pb} of everything under the push directory."""
    snapshot = {}
    for version in sorted(os.listdir(push_dir)) if os.path.isdir(push_dir) else []:
        with open(os.path.join(push_dir, version, "saved_model.pb"), "rb") as handle:
            snapshot[version] = hashlib.sha256(handle.read()).hexdigest()
    return snapshot


@dataclasses.dataclass(frozen=True)
class Workspace:
    cfg: CharwordConfig
    data: str  # the CSV every run reads
    rows: List[Tuple[str, str]]  # its well-formed rows
    first: RunSummary  # the first run's summary
    after_first_run: Path  # a copy of the output directory as the first run left it


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Workspace:
    """The first run on a fresh output directory: it blesses, pushes and pins the schema."""
    root = tmp_path_factory.mktemp("e2e")
    with open(DEMO_DATA, encoding="utf-8") as handle:
        rows = list(csv.reader(handle))[1:1501]
    cfg = CharwordConfig().replace(
        pipeline=dict(output_dir=str(root / "outputs"), direct_running_mode="in_memory"),
        preprocessing=dict(max_tokens=24, max_chars=16),
        model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32),
        training=dict(train_steps=200, eval_steps=8),
        evaluation=dict(min_accuracy=0.65, max_accuracy_drop=0.05))
    # A BOM and Windows line endings, as spreadsheet exports write them.
    data = _write_rows(root / "reviews.csv", rows + AWKWARD_ROWS, encoding="utf-8-sig", line_end="\r\n")
    summary = run_local(cfg, data)
    # copytree keeps modification times: the staged file's fingerprint, and so the cache, still match.
    shutil.copytree(cfg.pipeline.output_dir, root / "after_first_run", symlinks=True)
    return Workspace(cfg, data, rows, summary, root / "after_first_run")


@pytest.fixture
def workspace(first_run) -> Workspace:
    """The output directory restored to the state the first run left, at its own path
    (ML Metadata records absolute artefact paths), whatever ran before."""
    output_dir = first_run.cfg.pipeline.output_dir
    shutil.rmtree(output_dir)
    shutil.copytree(first_run.after_first_run, output_dir, symlinks=True)
    return first_run


def _component_states(summary):
    return {run.component: run.state for run in summary.components}


def test_first_run_blesses_and_pushes(workspace):
    summary = workspace.first
    states = _component_states(summary)
    assert all(state == "ran" for state in states.values()), states
    assert summary.blessed and summary.servable and summary.pushed
    assert summary.pushed_to.startswith(layout.push_dir(workspace.cfg.pipeline))
    assert os.path.exists(os.path.join(summary.pushed_to, "saved_model.pb"))
    assert {"overall", "has_oov=0", "has_oov=1"} <= set(summary.metrics)
    assert summary.metrics["overall"]["sparse_categorical_accuracy"] >= 0.65
    assert "macro_auc" in summary.metrics["overall"]
    assert os.path.exists(os.path.join(layout.pinned_schema_dir(workspace.cfg.pipeline), "schema.pbtxt"))
    assert summary.staging["rows_read"] == len(workspace.rows) + len(AWKWARD_ROWS)
    assert summary.staging["rows_dropped"] == 3 and summary.staging["rows_truncated"] == 2
    assert summary.staging["multiline_cells"] == 1 and "lines" in summary.staging["first_multiline_cell"]


def test_second_run_reuses_the_cache_and_pushes_nothing_since_the_model_is_already_serving(workspace):
    push_dir = layout.push_dir(workspace.cfg.pipeline)
    before = _serving_snapshot(push_dir)
    summary = run_local(workspace.cfg, workspace.data)
    states = _component_states(summary)
    for component in ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer"):
        assert states[component] == "cached", states
    assert states["Evaluator"] == "ran"
    assert summary.baseline_model is not None
    assert summary.blessed  # the same model is not worse than itself...
    assert not summary.pushed  # ...but it is the model serving
    assert "the candidate is the model already serving" in summary.already_serving
    assert f"version {workspace.first.pushed_to.rsplit('/', 1)[1]}" in summary.already_serving
    assert "pushed: no: the candidate is the model already serving" in format_summary(summary)
    assert _serving_snapshot(push_dir) == before


def test_a_clearly_worse_model_is_not_blessed_and_nothing_is_pushed(workspace):
    cfg = workspace.cfg
    before = _serving_snapshot(layout.push_dir(cfg.pipeline))
    worse = cfg.replace(training=dict(train_steps=2, learning_rate=1e-7))
    summary = run_local(worse, workspace.data)
    assert summary.blessed is False and summary.pushed is False
    overall = [f for f in summary.validation_failures if "sparse_categorical_accuracy on overall" in f]
    assert overall and "short by" in overall[0], summary.validation_failures
    assert _serving_snapshot(layout.push_dir(cfg.pipeline)) == before


@pytest.mark.parametrize("case,feature", [
    ("integer labels where the pinned schema has positive/negative", "label"),
    ("a third class never seen before", "label"),
    ("the text column turned numeric", "text"),
])
def test_anomalous_data_stops_before_training_and_pushes_nothing(workspace, tmp_path, case, feature):
    cfg = workspace.cfg
    before = _serving_snapshot(layout.push_dir(cfg.pipeline))
    rows = workspace.rows
    if case.startswith("integer"):
        rows = [(text, 1 if label == "positive" else 0) for text, label in rows]
    elif case.startswith("a third"):
        rows = rows + [(text, "neutral") for text, _ in rows[:60]]
    else:
        rows = [(str(1000 + i), label) for i, (_, label) in enumerate(rows)]
    bad_data = _write_rows(tmp_path / "changed.csv", rows)
    with pytest.raises(DataAnomaliesError) as error:
        run_local(cfg, bad_data)
    message = str(error.value)
    assert f"'{feature}'" in message and "SchemaDiff.pb" in message
    assert _serving_snapshot(layout.push_dir(cfg.pipeline)) == before


@pytest.mark.parametrize("case,expected", [
    ("column renamed", "no text column 'text'; columns found: ['review', 'label']"),
    ("column removed", "no label column 'label'; columns found: ['text']"),
    ("non-UTF-8 bytes", "row 3, column 'text': invalid UTF-8"),
    ("empty file", "no rows"),
    ("missing path", "no such file or directory"),
])
def test_unreadable_data_stops_with_file_row_field_and_pushes_nothing(workspace, tmp_path, case, expected):
    cfg = workspace.cfg
    before = _serving_snapshot(layout.push_dir(cfg.pipeline))
    path = tmp_path / f"{case.replace(' ', '_')}.csv"
    if case == "column renamed":
        _write_rows(path, workspace.rows[:20], header=("review", "label"))
    elif case == "column removed":
        _write_rows(path, [(text,) for text, _ in workspace.rows[:20]], header=("text",))
    elif case == "non-UTF-8 bytes":
        path.write_bytes(b"text,label\ngood film,positive\nbad \xff\xfe film,negative\n")
    elif case == "empty file":
        path.write_bytes(b"")
    with pytest.raises(DataError) as error:
        run_local(cfg, str(path))
    assert expected in str(error.value)
    if case != "missing path":
        assert str(path) in str(error.value)
    assert _serving_snapshot(layout.push_dir(cfg.pipeline)) == before


def test_the_misspelling_view_of_the_first_run_is_reported(workspace):
    first = workspace.first
    assert first.misspelled["examples"] == first.metrics["overall"]["example_count"]
    assert 0.08 <= first.misspelled["misspelled_tokens"] / first.misspelled["tokens"] <= 0.12
    assert "misspelled (" in format_summary(first)


def test_a_held_out_eval_file_is_the_eval_split_and_the_misspelling_gate_reads_it(workspace, tmp_path):
    """One run (a pipeline run takes minutes): the eval file is what the Evaluator and the
    misspelling check read, and the check refuses a model below its bound."""
    train = _write_rows(tmp_path / "train.csv", workspace.rows[:1200])
    held_out = _write_rows(tmp_path / "dev.csv", workspace.rows[1200:1500])
    # The misspelling gate alone refuses: the comparison with the first run's model is left out.
    cfg = workspace.cfg.replace(data=dict(eval_data=held_out),
                                evaluation=dict(min_misspelled_accuracy=1.0, max_accuracy_drop=1.0))
    before = _serving_snapshot(layout.push_dir(cfg.pipeline))
    summary = run_local(cfg, train)
    assert summary.staging["eval"]["rows_kept"] == 300 and summary.staging["rows_kept"] == 1200
    assert summary.metrics["overall"]["example_count"] == 300
    assert summary.misspelled["examples"] == 300
    assert summary.blessed is False and summary.pushed is False
    refused = [f for f in summary.validation_failures if "misspelled" in f]
    assert refused and "below the bound 1.0000" in refused[0], summary.validation_failures
    assert _serving_snapshot(layout.push_dir(cfg.pipeline)) == before
    bad = _write_rows(tmp_path / "bad_dev.csv", [("a new kind of label", "neutral")])
    with pytest.raises(DataError, match=r"bad_dev.csv: eval labels \['neutral'\] never occur"):
        run_local(cfg.replace(data=dict(eval_data=bad)), train)
