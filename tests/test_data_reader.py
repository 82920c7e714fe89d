"""The CSV/TSV reader (charword.data) and the demo data generator (charword.demo_data)."""
import csv
import json
import os
import re

import pytest

from charword import data, demo_data
from charword.config import DataConfig

DEMO_CSV = os.path.join(os.path.dirname(data.__file__), "demo_data", "reviews.csv")


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return str(path)


def _stage(source, tmp_path, **cfg):
    return data.stage_dataset(source, str(tmp_path / "staged"), DataConfig(**cfg))


def _staged_rows(staged):
    with open(staged.csv_path, encoding="utf-8", newline="") as f:
        return list(csv.reader(f))


@pytest.mark.parametrize("name,content", [
    ("reviews.tsv", "id\treview\tsentiment\n1\tGreat film!\tpos\n2\tdull, slow\tneg\n"),
    ("reviews.csv", 'id,review,sentiment\n1,Great film!,pos\n2,"dull, slow",neg\n'),
])
def test_custom_columns_map_to_text_and_label(tmp_path, name, content):
    staged = _stage(_write(tmp_path, name, content), tmp_path, text_column="review", label_column="sentiment")
    assert _staged_rows(staged) == [["text", "label"], ["Great film!", "pos"], ["dull, slow", "neg"]]
    with open(staged.csv_path, "rb") as f:
        # TFX splits the header line on commas itself; every value is quoted.
        assert f.read() == b'text,label\n"Great film!","pos"\n"dull, slow","neg"\n'
    assert (staged.rows_read, staged.rows_kept, staged.dropped) == (2, 2, ())
    assert staged.label_values == ("neg", "pos") and not staged.labels_are_integers
    assert staged.csv_path == str(tmp_path / "staged" / "data.csv")


def test_bom_and_crlf(tmp_path):
    path = _write(tmp_path, "win.csv", b"\xef\xbb\xbftext,label\r\nhello there,pos\r\nbye now,neg\r\n")
    assert _staged_rows(_stage(path, tmp_path)) == [["text", "label"], ["hello there", "pos"], ["bye now", "neg"]]


def test_multiline_cell_becomes_one_line_and_rows_count_records(tmp_path):
    path = _write(tmp_path, "m.csv", 'text,label\n"line one\nline two\r\n\r\nthree",pos\n"",neg\nok,neg\n')
    staged = _stage(path, tmp_path, max_dropped_fraction=0.5)
    assert _staged_rows(staged) == [["text", "label"], ["line one line two three", "pos"], ["ok", "neg"]]
    with open(staged.csv_path, "rb") as f:
        assert len(f.read().splitlines()) == 3
    # The multi-line cell is one spreadsheet row (2), so the empty text is row 3.
    assert staged.dropped == (data.DroppedRow(path, 3, "text", "empty text"),)


@pytest.mark.parametrize("content,row,column", [
    (b'review,stars\nfine,5\n"caf\xe9 au lait",4\n', 3, "'review'"),
    (b'review,stars\n"multi\nline",5\nfine,\xff\n', 3, "'stars'"),
    (b'review,st\xe4rs\nfine,5\n', 1, "header column 2"),
])
def test_invalid_utf8_names_file_row_column_and_offset(tmp_path, content, row, column):
    path = _write(tmp_path, "latin1.csv", content)
    with pytest.raises(data.DataError) as error:
        _stage(path, tmp_path, text_column="review", label_column="stars")
    message = str(error.value)
    offset = re.search(rb"[\x80-\xff]", content).start()
    assert path in message and f"row {row}," in message and column in message and f"byte offset {offset}" in message


def test_missing_column_lists_the_columns_found(tmp_path):
    path = _write(tmp_path, "d.csv", "review,label\nnice,pos\n")
    with pytest.raises(data.DataError) as error:
        _stage(path, tmp_path)
    message = str(error.value)
    assert path in message and "'text'" in message and "['review', 'label']" in message
    assert "--text-column" in message and "data.text_column" in message


def test_wrong_delimiter_shows_up_in_the_columns_found(tmp_path):
    path = _write(tmp_path, "d.csv", "text;label\nnice;pos\n")
    with pytest.raises(data.DataError, match=r"columns found: \['text;label'\] \(delimiter ','\)"):
        _stage(path, tmp_path)
    assert _staged_rows(_stage(path, tmp_path, delimiter=";")) == [["text", "label"], ["nice", "pos"]]


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"text,label\n", b"text,label\n\n\n"])
def test_empty_or_header_only_file(tmp_path, content):
    path = _write(tmp_path, "empty.csv", content)
    with pytest.raises(data.DataError, match="no rows") as error:
        _stage(path, tmp_path)
    assert path in str(error.value)
    assert not os.path.exists(tmp_path / "staged" / "data.csv")


def test_missing_path_and_empty_directory(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(data.DataError, match=re.escape(missing)):
        _stage(missing, tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(data.DataError, match="no .csv or .tsv files"):
        _stage(str(tmp_path / "empty"), tmp_path)


def test_directory_reads_csv_and_tsv_files_in_name_order(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    _write(src, "b.tsv", "text\tlabel\nsecond, with comma\tneg\n")
    _write(src, "a.csv", "label,text\npos,first\n")
    _write(src, "notes.txt", "not data")
    staged = _stage(str(src), tmp_path)
    assert staged.source_files == (str(src / "a.csv"), str(src / "b.tsv"))
    assert _staged_rows(staged) == [["text", "label"], ["first", "pos"], ["second, with comma", "neg"]]


def test_wrong_field_count_names_file_and_row(tmp_path):
    path = _write(tmp_path, "d.csv", "text,label\ngood,pos\nbad, really bad,neg\n")
    with pytest.raises(data.DataError) as error:
        _stage(path, tmp_path)
    assert path in str(error.value) and "row 3:" in str(error.value) and "3 fields" in str(error.value)


def test_unusable_rows_are_dropped_and_counted(tmp_path):
    rows = ["good,pos", ",neg", "'   ',neg".replace("'", '"'), "no label,", "fine,  ", "ok,neg", "", "nice, pos "]
    path = _write(tmp_path, "d.csv", "text,label\n" + "\n".join(rows) + "\n")
    staged = _stage(path, tmp_path, max_dropped_fraction=0.6)
    assert _staged_rows(staged)[1:] == [["good", "pos"], ["ok", "neg"], ["nice", "pos"]]
    assert (staged.rows_read, staged.rows_kept) == (7, 3)  # the blank line is not a row
    assert staged.dropped == (
        data.DroppedRow(path, 3, "text", "empty text"), data.DroppedRow(path, 4, "text", "whitespace-only text"),
        data.DroppedRow(path, 5, "label", "missing label"), data.DroppedRow(path, 6, "label", "missing label"))
    with open(tmp_path / "staged" / "staging_report.json", encoding="utf-8") as f:
        report = json.load(f)
    assert report["dropped_total"] == 4 and report["rows_kept"] == 3
    assert report["dropped"][0] == {"file": path, "row": 3, "field": "text", "reason": "empty text"}


def test_report_caps_dropped_rows(tmp_path):
    path = _write(tmp_path, "d.csv", "text,label\n" + "x,pos\n" * 150 + " ,neg\n" * 120)
    staged = _stage(path, tmp_path, max_dropped_fraction=0.5)
    with open(tmp_path / "staged" / "staging_report.json", encoding="utf-8") as f:
        report = json.load(f)
    assert len(staged.dropped) == 120 and len(report["dropped"]) == 100 and report["dropped_total"] == 120


def test_too_many_dropped_rows_stop_staging(tmp_path):
    path = _write(tmp_path, "d.csv", "text,label\ngood,pos\n,neg\nbad,\nok,neg\n")
    with pytest.raises(data.DataError) as error:
        _stage(path, tmp_path, max_dropped_fraction=0.25)
    message = str(error.value)
    assert "2 of 4 rows dropped (50.0%)" in message and "max_dropped_fraction=0.25" in message
    assert f"{path} row 3 (text): empty text" in message and f"{path} row 4 (label): missing label" in message
    assert _stage(path, tmp_path, max_dropped_fraction=0.5).rows_kept == 2


def test_integer_and_string_labels(tmp_path):
    ints = _stage(_write(tmp_path, "i.csv", "text,label\na,10\nb, 2\nc,-1\nd,2\n"), tmp_path)
    assert ints.labels_are_integers and ints.label_values == ("-1", "2", "10")
    mixed = _stage(_write(tmp_path, "s.csv", "text,label\na,1\nb,2.5\nc,two\n"), tmp_path)
    assert not mixed.labels_are_integers and mixed.label_values == ("1", "2.5", "two")


def test_identical_input_gives_identical_bytes_and_leaves_the_file_alone(tmp_path):
    content = 'text,label\n"He said ""wow""\nthen left",pos\nçà et là 🎬,neg\n'
    first = data.stage_dataset(_write(tmp_path, "a.csv", content), str(tmp_path / "one"), DataConfig())
    second = data.stage_dataset(_write(tmp_path, "b.csv", content), str(tmp_path / "two"), DataConfig())
    with open(first.csv_path, "rb") as f1, open(second.csv_path, "rb") as f2:
        assert f1.read() == f2.read()
    os.utime(first.csv_path, (1, 1))
    data.stage_dataset(str(tmp_path / "a.csv"), str(tmp_path / "one"), DataConfig())
    assert os.stat(first.csv_path).st_mtime == 1  # unchanged data keeps TFX's input fingerprint
    assert sorted(os.listdir(tmp_path / "one")) == ["data.csv", "staging_report.json"]


def test_megabyte_cell_is_accepted_cut_to_max_text_chars_and_larger_than_the_limit_is_not(tmp_path):
    path = _write(tmp_path, "big.csv", "text,label\n" + "a" * 1_000_000 + ",pos\nshort,neg\n")
    limit = csv.field_size_limit()
    staged = _stage(path, tmp_path)
    with open(staged.csv_path, "rb") as f:
        assert f.read().splitlines()[1] == b'"' + b"a" * 100_000 + b'","pos"'
    assert staged.truncated_rows == 1 and staged.rows_kept == 2
    assert csv.field_size_limit() == limit  # the process-wide csv limit is restored
    with pytest.raises(data.DataError) as error:
        _stage(path, tmp_path, max_field_bytes=999_999)
    assert path in str(error.value) and "row 2, column 'text'" in str(error.value)


def _typos(word):
    """``word`` with two neighbours swapped, one letter dropped or one doubled."""
    swapped = {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
    return (swapped | {word[:i] + word[i + 1:] for i in range(len(word))}
            | {word[:i] + word[i] + word[i:] for i in range(len(word))}) - {word}


def test_demo_generator_is_deterministic_with_both_labels_and_misspellings():
    rows = demo_data.generate(600, seed=3)
    assert rows == demo_data.generate(600, seed=3) and rows != demo_data.generate(600, seed=4)
    assert {label for _, label in rows} == {"positive", "negative"}
    opinion = {w for family in demo_data.OPINIONS.values() for common, rare in family.values() for w in common + rare}
    common = {w for family in demo_data.OPINIONS.values() for common, _ in family.values() for w in common}
    tokens = [re.findall(r"[^\W\d_]+", text.lower()) for text, _ in rows]
    typos = set().union(*map(_typos, opinion)) - opinion
    misspelt = [typos.intersection(ts) for ts in tokens]
    assert sum(map(bool, misspelt)) > 0.05 * len(rows) and len(set().union(*misspelt)) > 30
    hard = sum(not common.intersection(ts) for ts in tokens) / len(rows)
    assert 0.15 <= hard <= 0.25, hard


def test_committed_demo_data_matches_the_generator_and_stages_cleanly(tmp_path):
    expected = tmp_path / "reviews.csv"
    demo_data.write_csv(str(expected), demo_data.generate())
    with open(DEMO_CSV, "rb") as committed:
        content = committed.read()
    assert content == expected.read_bytes(), "run: python -m charword.demo_data --output " + DEMO_CSV
    assert len(content) < 1_000_000
    staged = _stage(DEMO_CSV, tmp_path)
    assert staged.rows_kept == staged.rows_read == 3000 and staged.label_values == ("negative", "positive")
