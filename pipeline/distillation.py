"""The distilled preset's teacher branch of the pipeline (``pipeline.preset`` ``distilled``).

    ExampleGen ─ ... ─ AnomalyGate ─ TeacherTransform ─ TeacherTrainer ─┬ TeacherInference (BulkInferrer)
                                                                        └ TeacherEvaluator (report only)

The teacher is the ``accurate`` preset's model (:meth:`CharwordConfig.teacher_config`):
its Transform writes WordPiece ids beside the usual features, and its Trainer fine-tunes
the encoder. TFX's BulkInferrer then runs the teacher's ``serving_default`` over every
raw example of both splits and writes them back with the teacher's class probabilities
in ``contract.TEACHER_PROBABILITIES``; the student's Trainer reads those examples
(:mod:`trainer.soft_targets`). The teacher's Evaluator computes the student's metrics
for the teacher, with no thresholds, for the run summary.

Every step of the branch reads only the teacher's configuration and the data, so a
change to the student keeps all of them cached. The class order of the teacher's
probabilities is its label vocabulary's; both Transforms compute that vocabulary with the
same analyser over the same train split, so it is the student's order too.
"""
from typing import List, NamedTuple, Optional

from tfx import v1 as tfx
from tfx.proto import bulk_inferrer_pb2

from charword import contract
from charword.config import CharwordConfig, ConfigError
from pipeline.eval_config import build_eval_config
from pipeline.training_steps import trainer_step, transform_step
from pipeline.vertex_training import VertexTraining
from preprocessing.bert.checkpoint import CheckpointError, load_checkpoint

TEACHER_TRANSFORM_ID = "TeacherTransform"
TEACHER_TRAINER_ID = "TeacherTrainer"
TEACHER_INFERENCE_ID = "TeacherInference"
TEACHER_EVALUATOR_ID = "TeacherEvaluator"


class TeacherBranch(NamedTuple):
    """The branch's components, in dependency order, and what the student reads."""

    components: List[object]
    # BulkInferrer's examples: the raw examples of both splits with the teacher's probabilities
    labelled_examples: object


def check_teacher_checkpoint(cfg: CharwordConfig) -> None:
    """Raises :class:`ConfigError` naming ``teacher.checkpoint`` and the file at fault when
    a preset that fine-tunes it cannot load it (call before anything runs)."""
    if cfg.pipeline.preset == "default":
        return
    try:
        load_checkpoint(cfg.teacher.checkpoint)
    except CheckpointError as error:
        raise ConfigError(f"teacher.checkpoint {cfg.teacher.checkpoint} cannot be used: {error}") from None


def output_example_spec() -> bulk_inferrer_pb2.OutputExampleSpec:
    """BulkInferrer writes ``serving_default``'s probabilities into each example."""
    column = bulk_inferrer_pb2.PredictOutputCol(output_key=contract.PROBABILITIES,
                                                output_column=contract.TEACHER_PROBABILITIES)
    return bulk_inferrer_pb2.OutputExampleSpec(output_columns_spec=[bulk_inferrer_pb2.OutputColumnsSpec(
        signature_name=contract.SERVING_DEFAULT,
        predict_output=bulk_inferrer_pb2.PredictOutput(output_columns=[column]))])


def teacher_branch(cfg: CharwordConfig, examples, schema, gate, num_classes: int,
                   vertex_training: Optional[VertexTraining] = None) -> TeacherBranch:
    """The teacher's Transform, Trainer, BulkInferrer and Evaluator on ExampleGen's
    ``examples`` (with the inferred ``schema``, after ``gate``)."""
    teacher_cfg = cfg.teacher_config()
    transform = transform_step(teacher_cfg, examples, schema, gate).with_id(TEACHER_TRANSFORM_ID)
    trainer = trainer_step(teacher_cfg, transform.outputs["transformed_examples"], transform, schema,
                           vertex_training=vertex_training).with_id(TEACHER_TRAINER_ID)
    inference = tfx.components.BulkInferrer(
        examples=examples, model=trainer.outputs["model"],
        model_spec=bulk_inferrer_pb2.ModelSpec(model_signature_name=[contract.SERVING_DEFAULT]),
        output_example_spec=output_example_spec()).with_id(TEACHER_INFERENCE_ID)
    evaluator = tfx.components.Evaluator(
        examples=examples, model=trainer.outputs["model"],
        eval_config=build_eval_config(cfg.evaluation, num_classes, gates=False)).with_id(TEACHER_EVALUATOR_ID)
    return TeacherBranch([transform, trainer, inference, evaluator], inference.outputs["output_examples"])
