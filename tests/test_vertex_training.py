"""The Trainer compiled as TFX's Vertex AI Trainer with worker pools.

No Vertex AI is reachable here: the compiled KFP file is checked, and TFX's own Vertex
job client builds, from the Trainer step's parameters, the ``CustomJob`` it would submit
(its Google Cloud API client, which needs credentials, is the one part not created).
"""
import json

import pytest
from tfx.extensions.google_cloud_ai_platform import training_clients
from tfx.v1.extensions import google_cloud_ai_platform

from charword.config import CharwordConfig, ConfigError
from cli.main import main
from pipeline import vertex_training
from pipeline.vertex_training import VertexTraining
from tests import kfp_launcher
from trainer.task import TFX_CLOUD_KEY_PREFIX, config_from_custom_config

IMAGE = "registry.example/charword-pipeline:7"
VERTEX_FLAGS = ["--vertex-project", "my-project", "--vertex-region", "europe-west4", "--vertex-workers", "2",
                "--vertex-machine-type", "n1-highmem-8", "--vertex-accelerator-type", "NVIDIA_TESLA_T4",
                "--vertex-accelerator-count", "1"]


def _compile(tmp_path, *flags) -> dict:
    output = tmp_path / "charword.json"
    assert main(["compile-kubeflow", "--output", str(output), "--image", IMAGE, "--pipeline-root", "gs://b/root",
                 "--serving-dir", "gs://b/serving", "--data-root", "gs://b/data", *flags]) == 0
    return kfp_launcher.load(str(output))


def _trainer(job: dict):
    """(container spec, custom_config) of the compiled Trainer step."""
    spec = job["pipelineSpec"]
    container = spec["deploymentSpec"]["executors"]["Trainer_executor"]["container"]
    parameters = spec["root"]["dag"]["tasks"]["Trainer"]["inputs"]["parameters"]
    return container, json.loads(parameters["custom_config"]["runtimeValue"]["constant"])


def _arg(args, name):
    return args[args.index(name) + 1]


def test_the_keys_are_tfx_vertex_trainer_keys_and_run_fn_skips_them():
    assert vertex_training.TRAINING_ARGS_KEY == google_cloud_ai_platform.TRAINING_ARGS_KEY
    assert vertex_training.ENABLE_VERTEX_KEY == google_cloud_ai_platform.ENABLE_VERTEX_KEY
    assert vertex_training.VERTEX_REGION_KEY == google_cloud_ai_platform.VERTEX_REGION_KEY
    cfg = CharwordConfig().replace(training=dict(train_steps=77))
    vertex = VertexTraining("p", "europe-west4", IMAGE, workers=1).custom_config()
    assert all(key.startswith(TFX_CLOUD_KEY_PREFIX) for key in vertex)
    assert config_from_custom_config({**cfg.to_dict(), **vertex}) == cfg
    with pytest.raises(ConfigError, match="unknown configuration section"):
        config_from_custom_config({**cfg.to_dict(), "trainer_typo": {}})


def test_trainer_compiles_as_a_vertex_job_with_a_chief_and_worker_pools(tmp_path, capsys):
    job = _compile(tmp_path, "--train-steps", "55", *VERTEX_FLAGS)
    assert "Vertex AI job in my-project/europe-west4: 1 chief + 2 worker(s), n1-highmem-8, 1 x NVIDIA_TESLA_T4 " \
           "each" in capsys.readouterr().out
    container, custom_config = _trainer(job)
    assert container["image"] == IMAGE
    assert _arg(container["args"], "--executor_class_path") == \
        "tfx.extensions.google_cloud_ai_platform.trainer.executor.GenericExecutor"
    machine = {"machine_type": "n1-highmem-8", "accelerator_type": "NVIDIA_TESLA_T4", "accelerator_count": 1}
    assert custom_config[google_cloud_ai_platform.TRAINING_ARGS_KEY] == {"project": "my-project", "job_spec": {
        "worker_pool_specs": [
            {"machine_spec": machine, "replica_count": 1, "container_spec": {"image_uri": IMAGE}},
            {"machine_spec": machine, "replica_count": 2, "container_spec": {"image_uri": IMAGE}}]}}
    assert custom_config[google_cloud_ai_platform.ENABLE_VERTEX_KEY] is True
    assert custom_config[google_cloud_ai_platform.VERTEX_REGION_KEY] == "europe-west4"
    assert config_from_custom_config(custom_config).training.train_steps == 55  # what run_fn reads

    # What TFX's Vertex Trainer executor submits from these parameters: every replica runs
    # TFX's generic Trainer executor (hence run_fn) in the pipeline image.
    client = training_clients.VertexJobClient.__new__(training_clients.VertexJobClient)
    custom_job = client.create_training_job(
        input_dict={}, output_dict={}, exec_properties={"custom_config": json.dumps(custom_config)},
        executor_class_path="tfx.components.trainer.executor.GenericExecutor",
        job_args=dict(custom_config[google_cloud_ai_platform.TRAINING_ARGS_KEY]), job_id=None, job_labels=None)
    pools = custom_job["job_spec"]["worker_pool_specs"]
    assert [pool["replica_count"] for pool in pools] == [1, 2]
    for pool in pools:
        assert pool["machine_spec"] == machine and pool["container_spec"]["image_uri"] == IMAGE
        command = pool["container_spec"]["command"]
        assert command[:3] == ["python", "-m", "tfx.scripts.run_executor"]
        assert _arg(command, "--executor_class_path") == "tfx.components.trainer.executor.GenericExecutor"


def test_without_the_option_the_trainer_trains_in_its_own_step(tmp_path, capsys):
    container, custom_config = _trainer(_compile(tmp_path))
    assert _arg(container["args"], "--executor_class_path") == "tfx.components.trainer.executor.GenericExecutor"
    assert not [key for key in custom_config if key.startswith(TFX_CLOUD_KEY_PREFIX)]
    assert "in the Trainer step's pod" in capsys.readouterr().out


@pytest.mark.parametrize("changes,message", [
    (dict(workers=-1), "--vertex-workers must be an integer >= 0"),
    (dict(accelerator_type="NVIDIA_TESLA_T4"), "go together"),
    (dict(accelerator_count=2), "go together"),
    (dict(region=""), "--vertex-region must be given"),
])
def test_impossible_worker_pools_are_refused_naming_the_flag(changes, message):
    with pytest.raises(ConfigError, match=message):
        VertexTraining(**{"project": "p", "region": "r", "image": IMAGE, **changes})


def test_a_project_without_a_region_stops_the_compile_naming_the_flag(tmp_path, capsys):
    assert main(["compile-kubeflow", "--output", str(tmp_path / "c.json"), "--pipeline-root", "gs://b/root",
                 "--serving-dir", "gs://b/serving", "--data-root", "gs://b/data", "--vertex-project", "p"]) == 2
    assert "--vertex-region must be given" in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists()
