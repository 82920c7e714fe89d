"""Bad input to ``charword run`` and ``charword predict``: each case exits non-zero with a
message naming the problem and the place, without a traceback, and leaves the output
directory (with the model serving in it) exactly as it was: nothing staged, nothing
pushed. Staging refuses before any pipeline step runs, so these run in seconds.

docs/faults.md's table names every case below (checked here).
"""
import csv
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli import main as cli

PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
FAULTS_PAGE = Path(PROJECT_ROOT) / "docs" / "faults.md"
GOOD_ROWS = [(f"review number {i} was {'great' if i % 2 else 'awful'}", "pos" if i % 2 else "neg") for i in range(60)]


def _csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _bytes(content):
    return lambda path: Path(path).write_bytes(content)


def _config(values):
    return lambda path: Path(path).write_text(json.dumps(values))


# id -> (files the case writes under its work folder, command after "charword", exit code, key words)
RUN_CASES = {
    "missing-file": ({}, ["--data", "{dir}/nothere.csv"], 1, ["nothere.csv: no such file or directory"]),
    "empty-file": ({"d.csv": _bytes(b"")}, ["--data", "{dir}/d.csv"], 1, ["d.csv: no rows (the file is empty)"]),
    "wrong-columns": ({"d.csv": lambda p: _csv(p, GOOD_ROWS, ("review", "label"))}, ["--data", "{dir}/d.csv"], 1,
                      ["no text column 'text'; columns found: ['review', 'label']", "--text-column"]),
    "non-utf8": ({"d.csv": _bytes(b"text,label\ngood film,pos\nbad \xff film,neg\n")}, ["--data", "{dir}/d.csv"], 1,
                 ["d.csv, row 3, column 'text': invalid UTF-8 (byte 0xff", "save the file as UTF-8"]),
    "ragged-row": ({"d.csv": _bytes(b"text,label\ngood,pos\nbad, really bad,neg\n")}, ["--data", "{dir}/d.csv"], 1,
                   ["d.csv, row 3: 3 fields, but the header has 2", "quote cells"]),
    "oversized-cell": ({"d.csv": _bytes(b"text,label\n" + b"x" * 2000 + b",pos\n"),
                        "c.json": _config({"data": {"max_field_bytes": 1000}})},
                       ["--data", "{dir}/d.csv", "--config", "{dir}/c.json"], 1,
                       ["d.csv, row 2, column 'text': cell is larger than data.max_field_bytes=1000"]),
    "too-many-dropped": ({"d.csv": lambda p: _csv(p, GOOD_ROWS[:10] + [("", "pos")] * 5)}, ["--data", "{dir}/d.csv"],
                         1, ["5 of 15 rows dropped", "data.max_dropped_fraction=0.1", "row 12 (text): empty text"]),
    "one-label-per-row": ({"d.csv": lambda p: _csv(p, [(f"text {i}", f"label {i}") for i in range(1000)])},
                          ["--data", "{dir}/d.csv"], 1,
                          ["1000 of 1000 classes have fewer than data.min_class_rows=10 rows", "and 990 more",
                           "lower data.min_class_rows"]),
    "rare-class": ({"d.csv": lambda p: _csv(p, GOOD_ROWS + [("so-so", "neutral")] * 3)}, ["--data", "{dir}/d.csv"], 1,
                   ["1 of 3 classes has fewer than data.min_class_rows=10 rows", "'neutral' (3 rows)"]),
    "one-class": ({"d.csv": lambda p: _csv(p, [(text, "pos") for text, _ in GOOD_ROWS])}, ["--data", "{dir}/d.csv"],
                  1, ["every usable row has the label 'pos'", "at least 2 classes", "--label-column"]),
    "eval-label-unseen": ({"d.csv": lambda p: _csv(p, GOOD_ROWS), "dev.csv": lambda p: _csv(p, [("meh", "neutral")])},
                          ["--data", "{dir}/d.csv", "--eval-data", "{dir}/dev.csv"], 1,
                          ["dev.csv: eval labels ['neutral'] never occur in the training data"]),
    "config-not-json": ({"c.json": _bytes(b"{training: 5")}, ["--config", "{dir}/c.json"], 2,
                        ["cannot read the configuration file", "c.json"]),
    "config-string-bool": ({"c.json": _config({"preprocessing": {"lowercase": "no"}})}, ["--config", "{dir}/c.json"],
                           2, ["c.json: preprocessing.lowercase must be true or false, got 'no'"]),
    "config-string-cache": ({"c.json": _config({"pipeline": {"enable_cache": "false"}})},
                            ["--config", "{dir}/c.json"], 2, ["pipeline.enable_cache must be true or false"]),
    "config-bool-int": ({"c.json": _config({"training": {"batch_size": True}})}, ["--config", "{dir}/c.json"], 2,
                        ["training.batch_size must be an integer, got True"]),
    "config-string-float": ({"c.json": _config({"training": {"learning_rate": "0.01"}})},
                            ["--config", "{dir}/c.json"], 2, ["training.learning_rate must be a number, got '0.01'"]),
    "config-string-rate": ({"c.json": _config({"noise": {"rate": "0.1"}})}, ["--config", "{dir}/c.json"], 2,
                           ["noise.rate must be a number, got '0.1'"]),
    "config-section-shape": ({"c.json": _config({"training": 5})}, ["--config", "{dir}/c.json"], 2,
                             ["training must be an object of training fields, got 5"]),
    "config-tuple-shape": ({"c.json": _config({"model": {"char_filters": [[3]]}})}, ["--config", "{dir}/c.json"], 2,
                           ["model.char_filters[0] must be a list of 2 integers, got [3]"]),
    "flag-train-steps": ({}, ["--train-steps", "0"], 2,
                         ["training.train_steps must be an integer > 0 or null, got 0", "--train-steps 0"]),
    "output-dir-is-a-file": ({"taken": _bytes(b"")}, ["--output-dir", "{dir}/taken"], 2,
                             ["pipeline.output_dir (--output-dir)", "taken is a file, not a directory"]),
    "summary-json-folder-missing": ({}, ["--summary-json", "{dir}/no/such/folder/s.json"], 2,
                                    ["--summary-json", "the folder", "does not exist"]),
}

PREDICT_CASES = {
    "model-dir-is-a-file": ({"some.csv": lambda p: _csv(p, GOOD_ROWS)}, ["--model-dir", "{dir}/some.csv"], 1,
                           ["some.csv is a file; give a SavedModel directory"]),
    "model-dir-missing": ({}, ["--model-dir", "{dir}/none"], 1, ["model directory", "none does not exist"]),
    "empty-saved-model": ({"m/saved_model.pb": _bytes(b"")}, ["--model-dir", "{dir}/m"], 1,
                          ["m is not a loadable SavedModel: its saved_model.pb holds no graph"]),
    "garbage-saved-model": ({"m/saved_model.pb": _bytes(b"not a model")}, ["--model-dir", "{dir}/m"], 1,
                            ["m is not a loadable SavedModel: its saved_model.pb is not a SavedModel file"]),
    "url-not-http": ({}, ["--url", "localhost:8501/v1/models/charword"], 1, ["--url must be http(s)://"]),
}


def _snapshot(root):
    """{relative path: bytes} of every file under ``root``."""
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(Path(root).rglob("*")) if path.is_file()}


def _prepare(tmp_path, files, command):
    for name, write in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        write(str(tmp_path / name))
    return [part.replace("{dir}", str(tmp_path)) for part in command]


@pytest.fixture
def serving_output(tmp_path, monkeypatch):
    """An output directory whose serving folder holds version 1 of a model, and the CLI's
    process-wide settings restored afterwards."""
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    for name in ("PYTHONWARNINGS", "TF_CPP_MIN_LOG_LEVEL"):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    output = tmp_path / "outputs"
    (output / "serving" / "charword" / "1").mkdir(parents=True)
    (output / "serving" / "charword" / "1" / "saved_model.pb").write_bytes(b"the serving model")
    return output


def test_a_100k_row_file_is_refused_within_15_seconds(tmp_path, serving_output, capsys):
    _csv(tmp_path / "big.csv", [(f"review {i} of the film", "pos" if i % 2 else "neg") for i in range(100_000)]
         + [("a lone review", "neutral")])
    started = time.monotonic()
    code = cli.main(["run", "--data", str(tmp_path / "big.csv"), "--output-dir", str(serving_output)])
    assert time.monotonic() - started < 15
    _check(capsys, code, 1, ["1 of 3 classes has fewer than data.min_class_rows=10 rows", "'neutral' (1 row)"])


def test_a_small_step_budget_is_a_valid_configuration():
    args = cli.build_parser().parse_args(["run", "--train-steps", "3"])
    cfg = cli.config_from_args(args)
    assert cfg.training.train_steps == 3 and cfg.training.max_epochs == 10


def _check(capsys, code, expected_code, words):
    captured = capsys.readouterr()
    assert code == expected_code, captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    message = captured.err.strip().splitlines()[-1]
    assert message.startswith("charword: ")
    for word in words:
        assert word in message, message


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_bad_run_input_fails_fast_naming_the_problem_and_nothing_is_written(case, tmp_path, serving_output, capsys):
    files, command, expected_code, words = RUN_CASES[case]
    argv = _prepare(tmp_path, files, command)
    if "--output-dir" not in argv:
        argv += ["--output-dir", str(serving_output)]
    before = _snapshot(tmp_path)
    _check(capsys, cli.main(["run", *argv]), expected_code, words)
    assert _snapshot(tmp_path) == before  # nothing staged, locked or pushed; version 1 untouched


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_bad_predict_input_names_the_problem(case, tmp_path, serving_output, capsys):
    files, command, expected_code, words = PREDICT_CASES[case]
    argv = _prepare(tmp_path, files, command)
    before = _snapshot(tmp_path)
    _check(capsys, cli.main(["predict", "a text", *argv]), expected_code, words)
    assert _snapshot(tmp_path) == before


def test_a_failure_is_one_line_on_stderr_without_tensorflow_start_up_noise(tmp_path):
    """A subprocess, since TensorFlow prints its start-up messages once, when it loads."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "saved_model.pb").write_bytes(b"")
    env = {name: value for name, value in os.environ.items() if name not in ("TF_CPP_MIN_LOG_LEVEL", "PYTHONWARNINGS")}
    quiet = subprocess.run([sys.executable, "-m", "cli", "predict", "a text", "--model-dir", str(tmp_path / "m")],
                           capture_output=True, text=True, cwd=PROJECT_ROOT, env=env, timeout=300, check=False)
    assert quiet.returncode == 1 and quiet.stdout == ""
    assert quiet.stderr.splitlines() == [f"charword: ModelError: {tmp_path / 'm'} is not a loadable SavedModel: its "
                                         "saved_model.pb holds no graph (an empty or unfinished file)"]


def test_verbose_after_the_subcommand_shows_the_details(tmp_path, serving_output):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cli.main(["predict", "a text", "--model-dir", str(tmp_path / "none"), "--verbose"])
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0"


def test_help_shows_defaults_and_every_subcommand_has_a_description():
    parser = cli.build_parser()
    commands = parser._subparsers._group_actions[0].choices  # pylint: disable=protected-access
    for name, command in commands.items():
        assert command.description and "\n" not in command.description.strip(), name
    run_help = " ".join(commands["run"].format_help().split())
    for shown in ('--text-column TEXT_COLUMN name of the text column in the data (default: "text"; data.text_column)',
                  "(default: null; training.train_steps)", "(default: 10; training.max_epochs)"):
        assert shown in run_help
    assert "(default: 5.0)" in " ".join(commands["serve"].format_help().split())
    assert cli.build_parser().parse_args(["predict", "x", "--url", "http://h", "--verbose"]).verbose
    assert cli.build_parser().parse_args(["--verbose", "predict", "x", "--url", "http://h"]).verbose
    assert not cli.build_parser().parse_args(["predict", "x", "--url", "http://h"]).verbose


def _fault_table_cases():
    return set(re.findall(r"`(?:run|predict)\[([\w-]+)\]`", FAULTS_PAGE.read_text(encoding="utf-8")))


def test_the_fault_table_lists_every_case_of_this_matrix():
    assert _fault_table_cases() == set(RUN_CASES) | set(PREDICT_CASES)
