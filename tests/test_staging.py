"""Staging a training run (charword.staging): the class checks, the stratified split that
keeps every class in training, and nothing written when staging refuses."""
import csv
import json
import os

import pytest

from charword import staging
from charword.config import DataConfig
from charword.data import DataError


def _write(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _rows(count, labels=("pos", "neg")):
    return [(f"review number {i}", labels[i % len(labels)]) for i in range(count)]


def _staged_rows(path):
    with open(path, encoding="utf-8", newline="") as handle:
        return [tuple(row) for row in list(csv.reader(handle))[1:]]


def test_every_class_trains_and_the_split_follows_the_buckets(tmp_path):
    rows = _rows(400) + [(f"a rare one {i}", "rare") for i in range(10)]
    prepared = staging.prepare(_write(tmp_path / "d.csv", rows), DataConfig())
    train, held = prepared.split_rows["train"], prepared.split_rows["eval"]
    assert sorted(train + held) == sorted(rows)
    assert {label for _, label in train} == {"pos", "neg", "rare"}
    assert 0.1 < len(held) / len(rows) < 0.3
    assert prepared.class_rows["rare"]["train"] >= 1


def test_a_class_whose_rows_all_hash_into_eval_stays_in_train(tmp_path):
    cfg = DataConfig(train_buckets=1, eval_buckets=3, min_class_rows=1)
    rows = _rows(200)
    lonely = next((text, "lonely") for text in (f"lonely text {i}" for i in range(100))
                  if staging._bucket(text, 4) >= 1)  # pylint: disable=protected-access
    prepared = staging.prepare(_write(tmp_path / "d.csv", rows + [lonely]), cfg)
    assert lonely in prepared.split_rows["train"] and prepared.kept_in_train == ("lonely",)


def test_the_split_is_stable_when_rows_are_added(tmp_path):
    rows = _rows(300)
    before = staging.prepare(_write(tmp_path / "a.csv", rows), DataConfig())
    after = staging.prepare(_write(tmp_path / "b.csv", rows + _rows(600)[300:]), DataConfig())
    assert set(before.split_rows["eval"]) <= set(after.split_rows["eval"])


@pytest.mark.parametrize("rows,expected", [
    ([(f"text {i}", f"label {i}") for i in range(1000)],
     ["1000 of 1000 classes have fewer than data.min_class_rows=10 rows", "'label 0' (1 row)", "and 990 more",
      "lower data.min_class_rows"]),
    (_rows(300) + [("odd one", "neutral")], ["1 of 3 classes has fewer than", "'neutral' (1 row)"]),
    (_rows(300, labels=("pos",)), ["every usable row has the label 'pos' (300 rows, column 'label')",
                                   "at least 2 classes", "--label-column"]),
    (_rows(3), ["classes have fewer than data.min_class_rows=10"]),
])
def test_unusable_classes_stop_staging_naming_file_classes_and_fix(tmp_path, rows, expected):
    path = _write(tmp_path / "d.csv", rows)
    with pytest.raises(DataError) as error:
        staging.prepare(path, DataConfig())
    assert path in str(error.value)
    for words in expected:
        assert words in str(error.value)


def test_an_empty_eval_split_is_refused(tmp_path):
    path = _write(tmp_path / "d.csv", _rows(4))
    with pytest.raises(DataError, match="the eval split is empty: none of the 4 rows hashed into the eval buckets"):
        staging.prepare(path, DataConfig(min_class_rows=1, train_buckets=100))


def test_held_out_eval_labels_must_be_training_classes(tmp_path):
    train = _write(tmp_path / "train.csv", _rows(40))
    dev = _write(tmp_path / "dev.csv", [("new", "neutral"), ("old", "pos")])
    with pytest.raises(DataError, match=r"dev.csv: eval labels \['neutral'\] never occur in the training data"):
        staging.prepare(train, DataConfig(eval_data=dev))
    ints = _write(tmp_path / "ints.csv", [("one", "1")])
    with pytest.raises(DataError, match="eval labels are integers, the training labels .* are strings"):
        staging.prepare(_write(tmp_path / "t2.csv", _rows(40, labels=("1", "x"))), DataConfig(eval_data=ints))


def test_written_splits_report_and_multiline_cells(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text('id,text,label\n1,"Loved it,pos\n2,Hated it",neg\n'
                    + "".join(f"{i},review {i},{'pos' if i % 2 else 'neg'}\n" for i in range(3, 60)))
    prepared = staging.prepare(str(path), DataConfig())
    assert prepared.data.multiline_cells == 1
    first = f"{path}, row 2 (lines 2-3), column 'text': 'Loved it,pos\\n2,Hated it'"
    assert str(prepared.data.first_multiline_cell) == first
    staged = staging.write(prepared, str(tmp_path / "out"))
    assert staged.data_root == str(tmp_path / "out" / "splits")
    for split in staging.SPLITS:
        assert _staged_rows(staged.csv_path(split)) == list(prepared.split_rows[split])
    with open(staged.report_path, encoding="utf-8") as handle:
        report = json.load(handle)
    assert report["data"]["multiline_cells"] == 1 and "lines 2-3" in report["data"]["first_multiline_cell"]
    assert report["split"]["rows"] == {split: len(prepared.split_rows[split]) for split in staging.SPLITS}


def test_a_refused_staging_writes_nothing(tmp_path):
    path = _write(tmp_path / "d.csv", _rows(300, labels=("pos",)))
    with pytest.raises(DataError):
        staging.write(staging.prepare(path, DataConfig()), str(tmp_path / "out"))
    assert not os.path.exists(tmp_path / "out")
