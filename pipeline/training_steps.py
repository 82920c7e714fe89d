"""The Transform and Trainer steps, built alike for the pushed model and for the
distilled preset's teacher (:mod:`pipeline.distillation`): each gets the configuration
it reads and nothing else, so that a change elsewhere keeps it cached."""
from typing import Optional

from tfx import v1 as tfx

from charword.config import CharwordConfig
from pipeline.vertex_training import VertexTraining

PREPROCESSING_FN = "preprocessing.transform.preprocessing_fn"
RUN_FN = "trainer.task.run_fn"
PRETRAINING_RUN_FN = "trainer.pretraining.run_fn"


def transform_step(cfg: CharwordConfig, examples, schema, gate=None) -> tfx.components.Transform:
    """Transform of ``examples`` with ``cfg.transform_config()`` (the preprocessing section
    and the sentence path's fields), after ``gate`` (if any). It reads ``schema`` (the
    inferred one, not a gate output), so re-validating unchanged data keeps it cached."""
    transform = tfx.components.Transform(examples=examples, schema=schema, preprocessing_fn=PREPROCESSING_FN,
                                         custom_config=cfg.transform_config())
    if gate is not None:
        transform.add_upstream_node(gate)
    return transform


def trainer_step(cfg: CharwordConfig, examples, transform: tfx.components.Transform, schema, train_args=None,
                 vertex_training: Optional[VertexTraining] = None, run_fn: str = RUN_FN):
    """The Trainer (``run_fn``, by default the classifier's; ``custom_config`` =
    ``cfg.to_dict()``) on ``examples`` with ``transform``'s graph; ``train_args`` default to
    ``cfg.training.train_steps`` steps (passes over the data when unset). With
    ``vertex_training``, TFX's Vertex AI Trainer runs it as a Vertex AI job."""
    trainer_class = tfx.components.Trainer
    if vertex_training is not None:
        from tfx.v1.extensions import google_cloud_ai_platform  # pylint: disable=import-outside-toplevel
        trainer_class = google_cloud_ai_platform.Trainer
    return trainer_class(
        run_fn=run_fn,
        examples=examples,
        transform_graph=transform.outputs["transform_graph"],
        schema=schema,
        train_args=train_args or tfx.proto.TrainArgs(num_steps=cfg.training.train_steps),
        eval_args=tfx.proto.EvalArgs(num_steps=cfg.training.eval_steps),
        custom_config={**cfg.to_dict(), **(vertex_training.custom_config() if vertex_training else {})})
