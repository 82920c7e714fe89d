"""``python -m bench <report> ...``: the project's benchmarks.

  quality   every arm and the fastText peer on clean and misspelled text (bench/quality.py)
  speed     training time per example of arms side by side, Transform and serving (bench/speed.py)
  serving   latency and throughput of the model server (bench/serving_latency.py)
  label-curve  a pretrained encoder against random initialisation over labelled rows (bench/label_curve.py)
  probe     a linear probe of an encoder's features on a labelled set (bench/probe.py)
"""
import importlib
import os
import sys

os.environ.setdefault("PYTHONWARNINGS", "ignore")  # third-party FutureWarnings, in every phase process too
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPORTS = {"quality": "bench.quality", "speed": "bench.speed", "serving": "bench.serving_latency",
           "label-curve": "bench.label_curve", "probe": "bench.probe"}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in REPORTS:
        print(__doc__, file=sys.stderr)
        return 2
    return importlib.import_module(REPORTS[sys.argv[1]]).main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
