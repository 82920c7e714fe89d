"""Starts one step of a compiled KFP v2 pipeline file the way KFP's driver and launcher
start it, without a cluster: no Kubernetes, Argo or ML Metadata server exists here.

What the KFP 2.x driver does for a container task, and this module does the same way:
resolve each input parameter (a ``runtimeValue.constant`` or a ``componentInputParameter``
from the run's ``parameterValues``; the older ``constantValue`` of schema 2.0.0 is not
resolved, as KFP 2.x's API server refuses such files), hand each input artifact over as
a ``RuntimeArtifact`` typed by the component's ``inputDefinitions``, provision a URI
for each output artifact and an ``outputFile``, then run the executor's ``command`` +
``args`` with the ``{{$}}`` placeholder replaced by the ``ExecutorInput`` JSON. What
comes back is the exit code, the output and the ``ExecutorOutput`` the step wrote.
"""
import dataclasses
import json
import os
import sys
from typing import Dict, List, Optional

import yaml

from tests import process_group

PLACEHOLDER = "{{$}}"


@dataclasses.dataclass(frozen=True)
class InputArtifact:
    """An upstream step's output, as KFP hands it to the next step."""

    uri: str
    metadata: Dict[str, object] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class StepResult:
    returncode: int
    output: str
    executor_input: dict
    executor_output: Optional[dict]  # None when the step wrote none

    def output_uri(self, name: str) -> str:
        return self.executor_input["outputs"]["artifacts"][name]["artifacts"][0]["uri"]


def load(path: str) -> dict:
    """The pipeline job document ``compile-kubeflow`` wrote (``pipelineSpec`` and ``runtimeConfig``)."""
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _schema_title(artifact_type: dict) -> str:
    if "schemaTitle" in artifact_type:
        return artifact_type["schemaTitle"]
    return yaml.safe_load(artifact_type["instanceSchema"])["title"]


def _parameter(job: dict, task: str, name: str, spec: dict):
    if "componentInputParameter" in spec:
        values = job.get("runtimeConfig", {}).get("parameterValues", {})
        key = spec["componentInputParameter"]
        if key not in values:
            raise KeyError(f"task {task}: pipeline parameter {key!r} has no value in runtimeConfig.parameterValues")
        return values[key]
    runtime = spec.get("runtimeValue", {})
    if "constant" not in runtime:
        raise ValueError(f"task {task}: parameter {name!r} is {spec}, which a KFP 2.x driver does not resolve "
                         "(schema 2.1.0 writes runtimeValue.constant)")
    return runtime["constant"]


def executor_input(job: dict, task: str, inputs: Dict[str, InputArtifact], task_root: str) -> dict:
    """The ``ExecutorInput`` KFP's driver builds for ``task`` with these upstream artefacts."""
    spec = job["pipelineSpec"]
    task_spec = spec["root"]["dag"]["tasks"][task]
    component = spec["components"][task_spec["componentRef"]["name"]]
    parameters = {name: _parameter(job, task, name, value)
                  for name, value in task_spec.get("inputs", {}).get("parameters", {}).items()}
    wanted = component.get("inputDefinitions", {}).get("artifacts", {})
    missing = sorted(set(wanted) - set(inputs))
    if missing:
        raise KeyError(f"task {task} needs the input artifact(s) {missing}")
    artifacts = {
        name: {"artifacts": [{"name": f"{task}-input-{name}", "type": {"schemaTitle": _schema_title(d["artifactType"])},
                              "uri": inputs[name].uri, "metadata": dict(inputs[name].metadata)}]}
        for name, d in wanted.items()}
    outputs = {
        name: {"artifacts": [{"name": f"{task}-{name}", "type": {"schemaTitle": _schema_title(d["artifactType"])},
                              "uri": os.path.join(task_root, name), "metadata": {}}]}
        for name, d in component.get("outputDefinitions", {}).get("artifacts", {}).items()}
    for output in outputs.values():
        os.makedirs(output["artifacts"][0]["uri"], exist_ok=True)  # as a bucket prefix, it always "exists"
    return {"inputs": {"parameterValues": parameters, "artifacts": artifacts},
            "outputs": {"artifacts": outputs, "outputFile": os.path.join(task_root, "executor_output.json")}}


def container_argv(job: dict, task: str, invocation: dict) -> List[str]:
    """The step's container ``command`` + ``args`` with the placeholder filled in."""
    spec = job["pipelineSpec"]
    label = spec["components"][spec["root"]["dag"]["tasks"][task]["componentRef"]["name"]]["executorLabel"]
    container = spec["deploymentSpec"]["executors"][label]["container"]
    rendered = json.dumps(invocation)
    return [arg.replace(PLACEHOLDER, rendered) for arg in container["command"] + container["args"]]


def run_step(job: dict, task: str, inputs: Dict[str, InputArtifact], task_root: str,
             timeout_s: int = 600) -> StepResult:
    """Runs ``task``'s container command in a subprocess, as the launcher would in its pod.

    ``python`` in the command is this interpreter (the pipeline image's one, here).
    """
    os.makedirs(task_root, exist_ok=True)
    invocation = executor_input(job, task, inputs, task_root)
    env = dict(os.environ, PATH=os.pathsep.join((os.path.dirname(sys.executable), os.environ.get("PATH", ""))))
    process = process_group.run(container_argv(job, task, invocation), cwd=task_root, env=env, timeout_s=timeout_s)
    output_file = invocation["outputs"]["outputFile"]
    executor_output = None
    if os.path.exists(output_file):
        with open(output_file, encoding="utf-8") as handle:
            executor_output = json.load(handle)
    return StepResult(process.returncode, process.stdout, invocation, executor_output)
