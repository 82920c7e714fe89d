"""Chooses the ``tf.distribute`` strategy the Trainer runs under, and where each task
of a multi-worker cluster exports.

A ``TF_CONFIG`` environment variable naming more than one chief/worker task (what
Vertex AI, Kubeflow's TFJob and TFX's cloud Trainer set on every machine of a training
job) selects ``MultiWorkerMirroredStrategy`` over all of them; otherwise training stays
on this machine's devices.
"""
import contextlib
import itertools
import json
import logging
import os
import shutil
import tempfile
import time
from typing import Iterator, Optional, Tuple

import tensorflow as tf

logger = logging.getLogger(__name__)

TF_CONFIG = "TF_CONFIG"
_WORKER_TYPES = ("chief", "master", "worker")
_GROUP_KEYS_PER_STRATEGY = 1000
_mirrored_made = itertools.count()


def cluster_task() -> Optional[Tuple[str, int]]:
    """``(task type, index)`` of this process when ``TF_CONFIG`` describes a cluster of
    more than one chief/worker task; ``None`` for training on one machine.

    Raises ``ValueError`` naming ``TF_CONFIG`` when it is not JSON or names a task the
    cluster lacks or a type other than chief, master or worker.
    """
    raw = os.environ.get(TF_CONFIG, "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
        cluster = config.get("cluster") or {}
        task = config.get("task") or {}
    except (ValueError, AttributeError) as error:
        raise ValueError(f"{TF_CONFIG} is not a JSON object with 'cluster' and 'task': {error}") from None
    if sum(len(cluster.get(kind, ())) for kind in _WORKER_TYPES) < 2:
        return None
    kind, index = task.get("type"), task.get("index", 0)
    if kind not in _WORKER_TYPES or not isinstance(index, int) or not 0 <= index < len(cluster.get(kind, ())):
        raise ValueError(f"{TF_CONFIG} task {task} is not one of the cluster's chief/master/worker tasks "
                         f"{ {k: len(v) for k, v in cluster.items()} }")
    return kind, index


def is_chief() -> bool:
    """Whether this process exports the model: always on one machine; in a cluster, the
    chief (or master), or worker 0 when the cluster has neither, as TensorFlow decides."""
    task = cluster_task()
    if task is None:
        return True
    cluster = json.loads(os.environ[TF_CONFIG])["cluster"]
    kind, index = task
    return kind in ("chief", "master") or (index == 0 and not cluster.get("chief") and not cluster.get("master"))


def make_strategy() -> tf.distribute.Strategy:
    """``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster (see
    :func:`cluster_task`); otherwise mirrors over every visible GPU, and without GPUs
    over every logical CPU device.

    Call it before any other TensorFlow op: the multi-worker strategy configures the
    runtime's collective ops, which is only possible before the runtime starts.

    With a single device there is nothing to mirror: the default strategy runs the same
    model without MirroredStrategy's per-step replica and all-reduce machinery (about
    15% faster training on one CPU, measured side by side). One physical CPU is one
    logical device unless the process split it earlier with
    ``tf.config.set_logical_device_configuration`` (how tests get two CPU replicas).
    """
    task = cluster_task()
    if task is not None:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        logger.info("MultiWorkerMirroredStrategy: task %s %d of a %d-replica cluster (%s)", task[0], task[1],
                    strategy.num_replicas_in_sync, "chief" if is_chief() else "not the chief")
        return strategy
    gpus = tf.config.list_logical_devices("GPU")
    devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
    kind = "GPU" if gpus else "CPU"
    if len(devices) == 1:
        logger.info("One %s device (%s): default strategy, 1 replica", kind, devices[0])
        return tf.distribute.get_strategy()
    strategy = _fresh_mirrored_strategy(devices)
    logger.info("MirroredStrategy on %s: %d replica(s) (%s)", kind, strategy.num_replicas_in_sync,
                ", ".join(devices))
    return strategy


def _fresh_mirrored_strategy(devices) -> tf.distribute.MirroredStrategy:
    """A ``MirroredStrategy`` whose collective ops use keys no earlier one in this
    process used. Every ``MirroredStrategy`` numbers its collective groups from
    ``1 + MirroredStrategy._collective_key_base`` (0 unless set), and the runtime keeps
    the first shapes it saw under a key for the life of the process, so the second
    strategy of a process that trains another model (a test session, a benchmark, a
    notebook calling ``run_fn`` twice) failed its first all-reduce with "Shape mismatch
    in the collective instance". TensorFlow's own tests set the same attribute."""
    tf.distribute.MirroredStrategy._collective_key_base = (  # pylint: disable=protected-access
        next(_mirrored_made) * _GROUP_KEYS_PER_STRATEGY)
    return tf.distribute.MirroredStrategy(devices=devices)


def shard_by_examples(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with its cluster sharding set to DATA: every worker reads all files and
    keeps its share of the batches. TensorFlow's default shards by file where it can
    and fails when there are fewer files than workers, as Transform often writes one
    file per split. No effect on one machine."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def split_cpu(num_devices: int) -> None:
    """Splits the physical CPU into ``num_devices`` logical devices.

    Must run before TensorFlow initialises its devices (before any op runs).
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * num_devices)


@contextlib.contextmanager
def export_dir(serving_model_dir: str, chief_timeout_s: float = 600.0) -> Iterator[str]:
    """The directory this task exports the model to.

    The chief (and a single machine) exports to ``serving_model_dir``. Every other task
    of a cluster must save too, since saving distributed variables takes part in
    collective ops, so it gets a scratch directory, deleted afterwards; then it waits
    up to ``chief_timeout_s`` for the chief's ``saved_model.pb``, because the TFX
    Trainer checks after ``run_fn`` that the model directory exists on every task.
    """
    if is_chief():
        yield serving_model_dir
        return
    scratch = tempfile.mkdtemp(prefix="charword-worker-export-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    chief_model = os.path.join(serving_model_dir, "saved_model.pb")
    deadline = time.time() + chief_timeout_s
    while not tf.io.gfile.exists(chief_model):
        if time.time() > deadline:
            raise RuntimeError(f"the chief's export {chief_model} did not appear within {chief_timeout_s:.0f} s")
        time.sleep(1.0)
    logger.info("Not the chief: exported to a scratch directory; the chief's model is at %s", serving_model_dir)
