"""Pretraining's parts short of training: staging unlabelled texts, Transform adopting a
pretrained encoder's vocabulary, a run refusing an encoder of other settings before any
step, and the pretraining pipeline's definition, local and compiled for Kubeflow."""
import csv
import json

import numpy as np
import pytest
import tensorflow_transform as tft
from google.protobuf import json_format
from kfp.pipeline_spec import pipeline_spec_pb2

from charword import contract, staging
from charword.config import CharwordConfig, DataConfig
from charword.data import DataError
from cli.main import build_parser, main
from pipeline.pretraining import create_pretraining_pipeline
from pipeline.training_steps import PRETRAINING_RUN_FN
from tests.conftest import demo_subset, learnable_pairs
from tests.transform_helpers import transform


def test_texts_stage_from_lines_or_a_text_column_into_a_text_only_split(tmp_path):
    lines = tmp_path / "texts.txt"
    lines.write_text("the film was fine\n\n   \n" + "".join(f"text number {i}\n" for i in range(60)), encoding="utf-8")
    prepared = staging.prepare_texts(str(lines), DataConfig())
    assert prepared.data.rows_read == 63 and prepared.data.rows_kept == 61
    assert [(row.row, row.reason) for row in prepared.data.dropped] == [(2, "blank line"), (3, "blank line")]
    assert sorted(prepared.split_texts["train"] + prepared.split_texts["eval"])[0] == "text number 0"
    assert prepared.split_texts["eval"] and prepared.split_texts["train"]
    staged = staging.write_texts_splits(prepared, str(tmp_path / "out"))
    with open(staged.csv_path("eval"), encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [contract.RAW_TEXT] and [row[0] for row in rows[1:]] == list(prepared.split_texts["eval"])
    # a labelled CSV gives its text column; no label column is needed
    table = tmp_path / "table.csv"
    table.write_text("id,body\n" + "".join(f"{i},review {i}\n" for i in range(40)), encoding="utf-8")
    from_table = staging.prepare_texts(str(table), DataConfig(text_column="body"))
    assert sorted(from_table.split_texts["train"] + from_table.split_texts["eval"]) == sorted(
        f"review {i}" for i in range(40))


def test_texts_that_are_not_utf8_are_refused_naming_the_line(tmp_path):
    path = tmp_path / "texts.txt"
    path.write_bytes(b"fine\nalso fine\ncaf\xe9\n")
    with pytest.raises(DataError, match=r"texts.txt, line 3: invalid UTF-8 \(byte 0xe9"):
        staging.prepare_texts(str(path), DataConfig())


def test_transform_uses_the_pretrained_encoders_vocabulary_as_it_is(tmp_path):
    encoder = tmp_path / "encoder"
    encoder.mkdir()
    vocabulary = ["zebra", "was", "the", "movie", "excellent"]  # not the data's frequency order
    (encoder / contract.WORD_VOCAB).write_text("".join(f"{word}\n" for word in vocabulary), encoding="utf-8")
    cfg = CharwordConfig().replace(model={"init_from": str(encoder)})
    graph_dir, train, _ = transform(learnable_pairs(40, 1), learnable_pairs(8, 2), cfg, tmp_path / "t")
    output = tft.TFTransformOutput(graph_dir)
    assert [word.decode() for word in output.vocabulary_by_name(contract.WORD_VOCAB)] == vocabulary
    assert output.vocabulary_size_by_name(contract.WORD_VOCAB) == len(vocabulary)
    text = learnable_pairs(40, 1)[0][0].lower().split()
    ids = train[0][contract.WORD_IDS][: len(text)]
    expected = [vocabulary.index(word) + 1 for word in text if word in vocabulary]
    assert [int(i) for i, word in zip(ids, text) if word in vocabulary] == expected
    assert all(i > len(vocabulary) for i, word in zip(ids, text) if word not in vocabulary)  # OOV buckets
    assert int(np.sum(train[0][contract.WORD_IDS] > 0)) == len(text)


def test_a_run_refuses_an_encoder_of_other_settings_before_any_step(tmp_path, capsys):
    from tests.test_language_model import PREP, _saved_encoder  # pylint: disable=import-outside-toplevel
    encoder = tmp_path / "encoder"
    _saved_encoder(encoder)  # max_chars 6, the run's default is 20
    out = tmp_path / "out"
    code = main(["run", "--data", str(demo_subset(tmp_path / "demo.csv", 100)), "--output-dir", str(out),
                 "--init-from", str(encoder)])
    assert code == 2
    error = capsys.readouterr().err
    assert f"model.init_from {encoder}" in error
    assert f"preprocessing.max_chars is 20 in this run but {PREP.max_chars} in the pretrained encoder" in error
    assert not (out / "pipeline_root").exists() and not (out / "data").exists()


def test_the_pretraining_pipeline_trains_the_language_model_and_pushes_unconditionally(tmp_path):
    cfg = CharwordConfig()
    pipeline = create_pretraining_pipeline(cfg, data_root=str(tmp_path), pipeline_root=str(tmp_path))
    nodes = {component.id: component for component in pipeline.components}
    assert list(nodes) == ["CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Trainer", "Pusher"]
    assert pipeline.pipeline_info.pipeline_name == "charword-pretrain"
    assert nodes["Trainer"].exec_properties["run_fn"] == PRETRAINING_RUN_FN
    assert "model_blessing" not in nodes["Pusher"].inputs
    push = json.loads(nodes["Pusher"].exec_properties["push_destination"])
    assert push["filesystem"]["base_directory"].endswith("/serving/charword-encoder")


def test_compile_kubeflow_writes_the_pretraining_pipeline(tmp_path, capsys):
    output = tmp_path / "pretrain.json"
    args = build_parser().parse_args(["compile-kubeflow", "--pretraining", "--output", str(output),
                                      "--pipeline-root", "gs://b/root", "--serving-dir", "gs://b/serving",
                                      "--data-root", "gs://b/texts"])
    assert args.handler(args) == 0
    with open(output, encoding="utf-8") as handle:
        spec = json_format.ParseDict(json.load(handle)["pipelineSpec"], pipeline_spec_pb2.PipelineSpec())
    assert set(spec.root.dag.tasks) == {"CsvExampleGen", "StatisticsGen", "SchemaGen", "Transform", "Trainer",
                                        "Pusher"}
    assert set(spec.root.input_definitions.parameters) == {"data-root", "train-args"}
    trainer = spec.root.dag.tasks["Trainer"].inputs.parameters["run_fn"].runtime_value.constant.string_value
    assert trainer == PRETRAINING_RUN_FN
    push = json.loads(spec.root.dag.tasks["Pusher"].inputs.parameters["push_destination"]
                      .runtime_value.constant.string_value)
    assert push["filesystem"]["base_directory"] == "gs://b/serving/charword-encoder"
    assert "of pretraining" in capsys.readouterr().out
