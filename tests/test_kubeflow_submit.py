"""The Kubeflow submit script. No cluster exists here, so kfp.Client is replaced by a
recording stand-in; what is checked is what the script asks the client to do."""
import importlib.util
import json
import os

import pytest

SUBMIT = os.path.join(os.path.dirname(__file__), "..", "kubeflow", "submit.py")


@pytest.fixture(scope="module")
def submit():
    spec = importlib.util.spec_from_file_location("kubeflow_submit", SUBMIT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RecordingClient:
    """Stands in for kfp.Client (which needs a Kubeflow Pipelines cluster)."""

    def __init__(self):
        self.calls = []

    def create_experiment(self, name):
        self.calls.append(("create_experiment", name))
        return type("Experiment", (), {"experiment_id": "exp-1"})()

    def create_run_from_pipeline_package(self, package, **kwargs):
        self.calls.append(("run", package, kwargs))
        return "run-1"

    def create_recurring_run(self, **kwargs):
        self.calls.append(("recurring", kwargs))
        return "job-1"


def test_one_off_run_passes_the_pipeline_parameters(submit):
    client = RecordingClient()
    params = submit.pipeline_parameters("gs://b/data", 2000)
    assert submit.submit(client, "charword.json", params, None, "nightly") == "run-1"
    _, package, kwargs = client.calls[-1]
    assert package == "charword.json"
    assert kwargs["arguments"] == {"data-root": "gs://b/data", "train-args": json.dumps({"num_steps": 2000})}
    assert kwargs["experiment_name"] == "charword"


def test_schedule_creates_a_recurring_run_with_the_cron_expression(submit):
    client = RecordingClient()
    params = submit.pipeline_parameters("gs://b/data", None)
    assert submit.submit(client, "charword.json", params, "0 0 3 * * *", "nightly") == "job-1"
    _, kwargs = client.calls[-1]
    assert kwargs["cron_expression"] == "0 0 3 * * *" and kwargs["experiment_id"] == "exp-1"
    assert kwargs["params"] == {"data-root": "gs://b/data"} and kwargs["max_concurrency"] == 1


def test_host_is_required(submit):
    with pytest.raises(SystemExit):
        submit.parse_args(["--package", "p.json", "--data-root", "gs://b"])


def test_split_configs_are_parameters_only_for_a_held_out_eval_file(submit):
    """Their values are compared with the pipeline's own in test_pipeline_builder.py
    (that needs TFX, which these tests do not import)."""
    parameters = submit.pipeline_parameters("gs://bucket/data", None, held_out_eval=True)
    assert {"input-config", "output-config"} <= set(parameters)
    assert "input-config" not in submit.pipeline_parameters("gs://bucket/data", None)
