"""The whole local pipeline with ``pipeline.preset`` ``distilled`` on demo data and a tiny
random BERT checkpoint written by the test: the teacher is trained, BulkInferrer labels
every example with it, the student trains on those examples and is blessed and pushed;
a second run that changes only the student reuses every step of the teacher."""
import dataclasses
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

import charword
from charword import contract
from charword.config import CharwordConfig
from pipeline import layout
from pipeline.local_run import run_local
from pipeline.run_summary import RunSummary
from tests.bert_helpers import write_checkpoint
from tests.conftest import demo_subset

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

TEACHER_STEPS = ("TeacherTransform", "TeacherTrainer", "TeacherInference", "TeacherEvaluator")


@dataclasses.dataclass(frozen=True)
class Workspace:
    cfg: CharwordConfig
    data: str
    first: RunSummary
    after_first_run: Path  # a copy of the output directory as the first run left it


@pytest.fixture(scope="module")
def first_run(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("distilled")
    checkpoint = str(root / "checkpoint")
    write_checkpoint(checkpoint)
    data = demo_subset(root / "reviews.csv", 600)
    cfg = CharwordConfig().replace(
        pipeline=dict(output_dir=str(root / "outputs"), direct_running_mode="in_memory", preset="distilled"),
        preprocessing=dict(max_tokens=24, max_chars=16),
        model=dict(word_dim=32, char_output_dim=32, token_dim=48, sentence_units=32, char_ngram_buckets=1000),
        training=dict(train_steps=80, eval_steps=4),
        teacher=dict(checkpoint=checkpoint, max_pieces=16, train_steps=20, batch_size=16),
        evaluation=dict(min_accuracy=0.6, max_accuracy_drop=0.2))
    summary = run_local(cfg, str(data))
    shutil.copytree(cfg.pipeline.output_dir, root / "after_first_run", symlinks=True)
    return Workspace(cfg, str(data), summary, root / "after_first_run")


@pytest.fixture
def workspace(first_run) -> Workspace:
    """The output directory as the first run left it, at its own path."""
    output_dir = first_run.cfg.pipeline.output_dir
    shutil.rmtree(output_dir)
    shutil.copytree(first_run.after_first_run, output_dir, symlinks=True)
    return first_run


def _store(cfg):
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = layout.metadata_path(cfg.pipeline)
    return metadata_store.MetadataStore(config)


def _artifact(store, component, key, event_type):
    """The artefact ``key`` of ``component``'s only execution, as input or output."""
    context = store.get_context_by_type_and_name("node", f"charword.{component}")
    execution, = store.get_executions_by_context(context.id)
    event, = [e for e in store.get_events_by_execution_ids([execution.id])
              if e.type == event_type and e.path.steps[0].key == key]
    return store.get_artifacts_by_id([event.artifact_id])[0]


def _examples(directory):
    files = tf.io.gfile.glob(os.path.join(directory, "*"))
    return [record.numpy() for record in tf.data.TFRecordDataset(files, compression_type="GZIP")]


def test_bulk_inferrers_examples_feed_the_student_which_is_pushed(workspace):
    summary = workspace.first
    states = {run.component: run.state for run in summary.components}
    assert all(state == "ran" for state in states.values()) and set(TEACHER_STEPS) <= set(states), states
    assert summary.blessed and summary.servable and summary.pushed, summary.validation_failures
    assert summary.teacher_training["steps"] == 20 and 0 < summary.training["steps"] <= 80
    assert {"overall", "has_oov=0", "has_oov=1"} <= set(summary.teacher_metrics)

    store = _store(workspace.cfg)
    labelled = _artifact(store, "TeacherInference", "output_examples", metadata_store_pb2.Event.OUTPUT)
    read = _artifact(store, "Trainer", "examples", metadata_store_pb2.Event.INPUT)
    assert read.id == labelled.id
    raw = _artifact(store, "CsvExampleGen", "examples", metadata_store_pb2.Event.OUTPUT)
    teacher = charword.load_model(os.path.join(
        _artifact(store, "TeacherTrainer", "model", metadata_store_pb2.Event.OUTPUT).uri, "Format-Serving"))
    for split in ("train", "eval"):
        inferred = [tf.train.Example.FromString(e) for e in _examples(os.path.join(labelled.uri, f"Split-{split}"))]
        assert len(inferred) == len(_examples(os.path.join(raw.uri, f"Split-{split}")))
        written = np.array([e.features.feature[contract.TEACHER_PROBABILITIES].float_list.value for e in inferred])
        for example in inferred:
            del example.features.feature[contract.TEACHER_PROBABILITIES]
        scored = teacher.signatures[contract.SERVING_DEFAULT](
            examples=tf.constant([e.SerializeToString() for e in inferred]))[contract.PROBABILITIES].numpy()
        assert written.shape == (len(inferred), 2)
        np.testing.assert_allclose(written, scored, atol=1e-5)


def test_changing_only_the_student_keeps_the_teachers_steps_cached(workspace):
    student = workspace.cfg.replace(training=dict(learning_rate=1e-3), distillation=dict(temperature=4.0),
                                    model=dict(sentence_units=24))
    summary = run_local(student, workspace.data)
    states = {run.component: run.state for run in summary.components}
    for component in (*TEACHER_STEPS, "Transform"):
        assert states[component] == "cached", states
    assert states["Trainer"] == "ran" and states["Evaluator"] == "ran"
    assert summary.teacher_metrics == workspace.first.teacher_metrics
