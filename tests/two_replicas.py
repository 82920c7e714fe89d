"""Training under a two-replica MirroredStrategy, in a child process.

Test processes keep TensorFlow's one CPU device, the device ``charword run`` trains on on
a CPU machine (the default strategy, a trace of the training step half as long as two
replicas'). A process fixes its devices when TensorFlow starts, so the session model
(``trained_model`` in tests/conftest.py) and the runs compared with it train here, with
the CPU split in two:

    python -m tests.two_replicas WORK_DIR                  # Transform + run_fn under WORK_DIR
    python -m tests.two_replicas WORK_DIR --data FIRST_DIR # run_fn on FIRST_DIR's Transform output

The Trainer's log lands in ``WORK_DIR/trainer.log``, written last: its presence says the
training finished. A wrong value that a :mod:`tests.wrong_values` case puts in place
(``CHARWORD_WRONG_VALUE``) is put in place here too.
"""
import argparse
import io
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train(work: Path, data_from: Optional[Path] = None) -> None:
    """Runs this module in a child process; raises with its output when it fails."""
    command = [sys.executable, "-m", "tests.two_replicas", str(work)]
    if data_from is not None:
        command += ["--data", str(data_from)]
    done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-5000:]}")


def _train_here(work: Path, data_from: Optional[Path]) -> None:
    from standalone.fn_args import make_fn_args  # pylint: disable=import-outside-toplevel
    from standalone.transform import rows_from_pairs, transform_rows, written_to  # pylint: disable=import-outside-toplevel
    from tests.conftest import learnable_pairs, trained_model_config  # pylint: disable=import-outside-toplevel
    from trainer import task  # pylint: disable=import-outside-toplevel

    cfg = trained_model_config()
    if data_from is None:
        data = transform_rows(rows_from_pairs(learnable_pairs(480, 1)), rows_from_pairs(learnable_pairs(96, 2)), cfg,
                              str(work))
    else:
        data = written_to(str(data_from))
    stream = io.StringIO()
    logger = logging.getLogger("trainer")
    logger.addHandler(logging.StreamHandler(stream))
    logger.setLevel(logging.INFO)
    task.run_fn(make_fn_args(data, cfg, str(work / "trainer")))
    (work / "trainer.log").write_text(stream.getvalue(), encoding="utf-8")


def main(argv: List[str]) -> int:
    if os.environ.get("CHARWORD_WRONG_VALUE"):
        import tests.wrong_values  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    import charword  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import  (the Keras flavour)
    from trainer import distribution  # pylint: disable=import-outside-toplevel
    distribution.split_cpu(2)  # before any TensorFlow op
    parser = argparse.ArgumentParser(prog="python -m tests.two_replicas")
    parser.add_argument("work", type=Path)
    parser.add_argument("--data", type=Path, help="a directory whose Transform output to train on")
    args = parser.parse_args(argv)
    _train_here(args.work, args.data)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
