"""Multi-worker training: ``TF_CONFIG`` parsing, who exports where, and the Trainer (TFX's
generic executor calling ``run_fn``) as a chief and a worker process on 127.0.0.1 under
MultiWorkerMirroredStrategy."""
import json
import os
import threading

import pytest
import tensorflow as tf

from charword import contract
from charword.config import CharwordConfig
from components.servable_probe import check_model
from standalone.multi_worker import tf_configs, train_on_cluster
from standalone.transform import rows_from_pairs, transform_rows
from tests.conftest import learnable_pairs
from trainer import distribution
from trainer.training import plan_training


def _cluster(chief=1, workers=1):
    return {"chief": [f"127.0.0.1:{2000 + i}" for i in range(chief)],
            "worker": [f"127.0.0.1:{3000 + i}" for i in range(workers)]}


@pytest.mark.parametrize("tf_config,expected", [
    (None, None),
    ({"cluster": _cluster(workers=0), "task": {"type": "chief", "index": 0}}, None),  # one machine (Vertex, 1 replica)
    ({"cluster": _cluster(), "task": {"type": "chief", "index": 0}}, ("chief", 0)),
    ({"cluster": _cluster(), "task": {"type": "worker", "index": 0}}, ("worker", 0)),
])
def test_cluster_task_reads_tf_config(monkeypatch, tf_config, expected):
    if tf_config is None:
        monkeypatch.delenv(distribution.TF_CONFIG, raising=False)
    else:
        monkeypatch.setenv(distribution.TF_CONFIG, json.dumps(tf_config))
    assert distribution.cluster_task() == expected


@pytest.mark.parametrize("raw,message", [
    ("{not json", "TF_CONFIG is not a JSON object"),
    (json.dumps({"cluster": _cluster(), "task": {"type": "worker", "index": 1}}), "is not one of the cluster's"),
    (json.dumps({"cluster": _cluster(), "task": {"type": "ps", "index": 0}}), "is not one of the cluster's"),
])
def test_a_malformed_tf_config_is_refused_naming_it(monkeypatch, raw, message):
    monkeypatch.setenv(distribution.TF_CONFIG, raw)
    with pytest.raises(ValueError, match=message):
        distribution.cluster_task()


@pytest.mark.parametrize("cluster,task,chief", [
    (_cluster(), {"type": "chief", "index": 0}, True),
    (_cluster(), {"type": "worker", "index": 0}, False),
    (_cluster(chief=0, workers=2), {"type": "worker", "index": 0}, True),  # no chief: worker 0 is
    (_cluster(chief=0, workers=2), {"type": "worker", "index": 1}, False),
])
def test_the_chief_is_the_one_tensorflow_picks(monkeypatch, cluster, task, chief):
    monkeypatch.setenv(distribution.TF_CONFIG, json.dumps({"cluster": cluster, "task": task}))
    assert distribution.is_chief() is chief


def test_a_worker_exports_to_scratch_and_returns_once_the_chief_has_exported(monkeypatch, tmp_path):
    monkeypatch.setenv(distribution.TF_CONFIG, json.dumps({"cluster": _cluster(),
                                                           "task": {"type": "worker", "index": 0}}))
    serving = tmp_path / "serving_model"
    chief_writes = threading.Timer(0.5, lambda: (serving.mkdir(), (serving / "saved_model.pb").write_bytes(b"x")))
    chief_writes.start()
    with distribution.export_dir(str(serving), chief_timeout_s=60) as target:
        assert target != str(serving) and os.path.isdir(target)
    chief_writes.join()
    assert not os.path.exists(target)
    assert (serving / "saved_model.pb").exists()


def test_a_worker_whose_chief_never_exports_fails_naming_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv(distribution.TF_CONFIG, json.dumps({"cluster": _cluster(),
                                                           "task": {"type": "worker", "index": 0}}))
    with pytest.raises(RuntimeError, match="serving_model/saved_model.pb did not appear"):
        with distribution.export_dir(str(tmp_path / "serving_model"), chief_timeout_s=1):
            pass


def test_the_chief_and_a_single_machine_export_to_the_serving_directory(monkeypatch, tmp_path):
    monkeypatch.delenv(distribution.TF_CONFIG, raising=False)
    with distribution.export_dir(str(tmp_path)) as target:
        assert target == str(tmp_path)
    monkeypatch.setenv(distribution.TF_CONFIG, json.dumps({"cluster": _cluster(),
                                                           "task": {"type": "chief", "index": 0}}))
    with distribution.export_dir(str(tmp_path)) as target:
        assert target == str(tmp_path)


def test_tf_configs_name_one_chief_and_the_workers_on_distinct_free_ports():
    assert tf_configs(1) == [None]
    configs = tf_configs(3)
    cluster = configs[0]["cluster"]
    assert [c["task"] for c in configs] == [{"type": "chief", "index": 0}, {"type": "worker", "index": 0},
                                            {"type": "worker", "index": 1}]
    assert all(c["cluster"] == cluster for c in configs)
    addresses = cluster["chief"] + cluster["worker"]
    assert len(set(addresses)) == 3 and all(a.startswith("127.0.0.1:") for a in addresses)


@pytest.mark.slow
def test_chief_and_worker_train_in_sync_and_only_the_chief_exports(tmp_path):
    cfg = CharwordConfig().replace(
        preprocessing=dict(max_tokens=10, max_chars=16, frequency_threshold=3),
        model=dict(word_dim=16, char_output_dim=16, token_dim=24, sentence_units=16,
                   char_filters=((1, 8), (2, 8), (3, 16))),
        training=dict(batch_size=8, train_steps=24, eval_steps=2, learning_rate=5e-3))
    data = transform_rows(rows_from_pairs(learnable_pairs(240, 1)), rows_from_pairs(learnable_pairs(48, 2)), cfg,
                          str(tmp_path / "transform"))
    work_dir = tmp_path / "trainer"
    chief, worker = train_on_cluster(data, cfg.to_dict(), str(work_dir), tasks=2, timeout_s=900)

    checks = plan_training(240, 48, 2 * cfg.training.batch_size, cfg.training).epochs  # 24 steps of 15 a pass: 2
    for result in (chief, worker):
        assert result["replicas"] == 2
        assert result["global_batch"] == 2 * cfg.training.batch_size
        assert len(result["history"]["loss"]) == checks
    # Metrics are all-reduced over the replicas, so both tasks saw the same numbers.
    assert chief["history"].keys() == worker["history"].keys()
    for name, values in chief["history"].items():
        assert worker["history"][name] == pytest.approx(values, rel=1e-6), name
    logs = {name: (work_dir / "logs" / f"{name}.log").read_text() for name in ("chief", "worker-0")}
    assert "task chief 0 of a 2-replica cluster" in logs["chief"]
    assert "task worker 0 of a 2-replica cluster (not the chief)" in logs["worker-0"]
    assert "Not the chief: exported to a scratch directory" in logs["worker-0"]

    # Each task ran TFX's generic Trainer executor, which fails a task whose model directory is
    # missing after run_fn: the worker waited for the chief's export and exited cleanly.
    model_dir = chief["serving_model_dir"]
    assert model_dir == worker["serving_model_dir"] == str(work_dir / "model" / "Format-Serving")
    assert sorted(os.listdir(model_dir)) == ["assets", "fingerprint.pb", "saved_model.pb", "variables"]
    requests = [tf.train.Example(features=tf.train.Features(feature={
        contract.RAW_TEXT: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
        contract.RAW_LABEL: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()]))}))
        .SerializeToString() for text, label in learnable_pairs(8, 3)]
    check_model(model_dir, requests)  # loads with charword.load_model; every signature answers
