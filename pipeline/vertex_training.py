"""The Trainer as a Vertex AI custom training job with worker pools.

TFX's Vertex AI Trainer (``tfx.extensions.google_cloud_ai_platform.Trainer``) runs the
same ``run_fn`` as the standard Trainer, but its pipeline step submits a Vertex AI
``CustomJob`` and waits for it: one chief and ``workers`` workers, each a machine of
``machine_type`` (with accelerators if asked) running the pipeline image. Vertex AI
sets ``TF_CONFIG`` on every replica, so ``run_fn`` trains under
``MultiWorkerMirroredStrategy`` across them and only the chief exports
(:mod:`trainer.distribution`).
"""
import dataclasses
from typing import Any, Dict, Optional

from charword.config import ConfigError

# Keys of TFX's Vertex AI Trainer in the Trainer's custom_config (values of
# tfx.extensions.google_cloud_ai_platform.TRAINING_ARGS_KEY, ENABLE_VERTEX_KEY and
# VERTEX_REGION_KEY, spelt out so that building a pipeline without this option does
# not import the Google Cloud client libraries).
TRAINING_ARGS_KEY = "ai_platform_training_args"
ENABLE_VERTEX_KEY = "ai_platform_enable_vertex"
VERTEX_REGION_KEY = "ai_platform_vertex_region"


@dataclasses.dataclass(frozen=True)
class VertexTraining:
    """Where the Trainer runs on Vertex AI.

    Attributes:
      project: Google Cloud project of the training job.
      region: Vertex AI region, e.g. ``europe-west4``.
      image: container image of every replica (the pipeline image: it holds run_fn).
      workers: replicas besides the chief (0: the chief trains alone).
      machine_type: Compute Engine machine type of every replica.
      accelerator_type: e.g. ``NVIDIA_TESLA_T4``; with ``accelerator_count`` > 0 only.
      accelerator_count: accelerators per replica.
    """

    project: str
    region: str
    image: str
    workers: int = 0
    machine_type: str = "n1-standard-8"
    accelerator_type: Optional[str] = None
    accelerator_count: int = 0

    def __post_init__(self):
        for flag, value in (("--vertex-project", self.project), ("--vertex-region", self.region),
                            ("--image", self.image), ("--vertex-machine-type", self.machine_type)):
            if not value:
                raise ConfigError(f"{flag} must be given for training on Vertex AI")
        if not isinstance(self.workers, int) or self.workers < 0:
            raise ConfigError(f"--vertex-workers must be an integer >= 0, got {self.workers!r}")
        if not isinstance(self.accelerator_count, int) or self.accelerator_count < 0:
            raise ConfigError(f"--vertex-accelerator-count must be an integer >= 0, got {self.accelerator_count!r}")
        if bool(self.accelerator_type) != (self.accelerator_count > 0):
            raise ConfigError("--vertex-accelerator-type and --vertex-accelerator-count > 0 go together, got "
                              f"{self.accelerator_type!r} and {self.accelerator_count}")

    def worker_pool_specs(self) -> list:
        """Vertex AI ``CustomJobSpec.worker_pool_specs``: the chief's pool, then the workers'."""
        machine: Dict[str, Any] = {"machine_type": self.machine_type}
        if self.accelerator_count:
            machine.update(accelerator_type=self.accelerator_type, accelerator_count=self.accelerator_count)
        pools = [{"machine_spec": machine, "replica_count": 1, "container_spec": {"image_uri": self.image}}]
        if self.workers:
            pools.append({"machine_spec": dict(machine), "replica_count": self.workers,
                          "container_spec": {"image_uri": self.image}})
        return pools

    def custom_config(self) -> Dict[str, Any]:
        """The entries TFX's Vertex AI Trainer reads from the Trainer's ``custom_config``."""
        job = {"project": self.project, "job_spec": {"worker_pool_specs": self.worker_pool_specs()}}
        return {TRAINING_ARGS_KEY: job, ENABLE_VERTEX_KEY: True, VERTEX_REGION_KEY: self.region}
