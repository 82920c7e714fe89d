"""Submits the compiled charword pipeline to a Kubeflow Pipelines cluster.

One-off run:
  python kubeflow/submit.py --host https://KFP_HOST --package charword.json \
      --data-root gs://BUCKET/charword/data --train-steps 2000
Recurring retraining (cron with seconds, as KFP expects):
  python kubeflow/submit.py --host https://KFP_HOST --package charword.json \
      --data-root gs://BUCKET/charword/data --schedule "0 0 3 * * *"

Credentials are never passed here: ``kfp.Client`` picks them up from the environment
(e.g. ``KF_PIPELINES_SA_TOKEN_PATH``, an in-cluster service account, or
``--existing-token-env NAME`` naming a variable that holds a token).
"""
import argparse
import json
import os
import sys
from typing import Dict, List, Optional

EXPERIMENT = "charword"


# ExampleGen's split configs (example_gen_pb2 Input / Output as JSON) for a data root
# holding train/*.csv and a held-out eval/*.csv: what pipeline.pipeline.example_gen_configs
# gives with data.eval_data (a test keeps the two in step).
HELD_OUT_INPUT_CONFIG = {"splits": [{"name": "train", "pattern": "train/*.csv"},
                                    {"name": "eval", "pattern": "eval/*.csv"}]}
HELD_OUT_OUTPUT_CONFIG: Dict[str, object] = {}


def pipeline_parameters(data_root: str, train_steps: Optional[int], held_out_eval: bool = False) -> Dict[str, str]:
    """Runtime parameters of the compiled pipeline (see pipeline/kubeflow_dag.py)."""
    parameters = {"data-root": data_root}
    if train_steps:
        parameters["train-args"] = json.dumps({"num_steps": train_steps})
    if held_out_eval:
        parameters["input-config"] = json.dumps(HELD_OUT_INPUT_CONFIG)
        parameters["output-config"] = json.dumps(HELD_OUT_OUTPUT_CONFIG)
    return parameters


def submit(client, package: str, parameters: Dict[str, str], schedule: Optional[str], job_name: str):
    """Creates a run, or a recurring run when ``schedule`` (a cron expression) is given."""
    experiment = client.create_experiment(EXPERIMENT)
    if schedule:
        return client.create_recurring_run(
            experiment_id=experiment.experiment_id, job_name=job_name, cron_expression=schedule,
            pipeline_package_path=package, params=parameters, max_concurrency=1, no_catchup=True)
    return client.create_run_from_pipeline_package(
        package, arguments=parameters, run_name=job_name, experiment_name=EXPERIMENT)


def parse_args(argv: List[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", required=True, help="Kubeflow Pipelines API endpoint")
    parser.add_argument("--package", required=True, help="file written by `charword compile-kubeflow`")
    parser.add_argument("--data-root", required=True, help="directory of staged CSV files the cluster can read")
    parser.add_argument("--train-steps", type=int, help="Trainer steps for this run")
    parser.add_argument("--held-out-eval", action="store_true",
                        help="the data root holds train/*.csv and a held-out eval/*.csv (e.g. a dev set) as the eval "
                             "split; without it, the compiled default (usually a hash split of *.csv)")
    parser.add_argument("--schedule", help="cron expression for recurring retraining, e.g. '0 0 3 * * *'")
    parser.add_argument("--job-name", default="charword-retrain", help="run or recurring-run name")
    parser.add_argument("--existing-token-env", help="environment variable holding a bearer token")
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    import kfp  # pylint: disable=import-outside-toplevel
    token = os.environ[args.existing_token_env] if args.existing_token_env else None
    client = kfp.Client(host=args.host, existing_token=token)
    parameters = pipeline_parameters(args.data_root, args.train_steps, args.held_out_eval)
    result = submit(client, args.package, parameters, args.schedule, args.job_name)
    print(f"submitted: {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
