"""The distilled student's datasets: the raw examples BulkInferrer wrote, each holding the
teacher's class probabilities (``contract.TEACHER_PROBABILITIES`` [classes]), read
through the run's own transform graph.

The student's Trainer reads BulkInferrer's examples (both splits) instead of Transform's
and applies the transform graph in its tf.data pipeline, with the
``TransformFeaturesLayer`` the exported model serves with: Transform stays the default
model's (cached, blind to the teacher) and the teacher's column never enters the
exported model's inputs.

Training batches are ``({word_ids, char_ids, teacher_probabilities [B, classes]},
label_id [B])``; misspelling noise (:mod:`trainer.noise`) then replaces tokens of the
transformed ids in place, so a misspelled copy of a text keeps the probabilities the
teacher gave the clean text. Eval batches are clean and carry the labels alone, so the
checks of the eval loss compare the student with the true labels.
"""
from typing import Dict, List, Tuple

import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_transform.tf_metadata import schema_utils
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from charword import contract
from charword.config import CharwordConfig
from trainer import data, noise


def feature_spec(tf_transform_output: tft.TFTransformOutput) -> Dict[str, tf.io.FixedLenFeature]:
    """The raw features of BulkInferrer's examples: the transform graph's raw features
    and the teacher's probabilities, one per class of the label vocabulary."""
    classes = data.vocabulary_sizes(tf_transform_output).classes
    return {**tf_transform_output.raw_feature_spec(),
            contract.TEACHER_PROBABILITIES: tf.io.FixedLenFeature([classes], tf.float32)}


def _model_batches(raw: tf.data.Dataset, tf_transform_output: tft.TFTransformOutput,
                   with_teacher: bool) -> tf.data.Dataset:
    layer = tf_transform_output.transform_features_layer()

    def transform(features):
        features = dict(features)
        teacher = features.pop(contract.TEACHER_PROBABILITIES)
        transformed = layer(features)
        batch = contract.model_features(transformed)
        if with_teacher:
            batch[contract.TEACHER_PROBABILITIES] = teacher
        return batch, transformed[contract.LABEL_ID]

    return raw.map(transform, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _raw_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                 tf_transform_output: tft.TFTransformOutput,
                 options: tfxio.TensorFlowDatasetOptions) -> tf.data.Dataset:
    schema = schema_utils.schema_from_feature_spec(feature_spec(tf_transform_output))
    return data_accessor.tf_dataset_factory(file_pattern, options, schema)


def make_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                 tf_transform_output: tft.TFTransformOutput, batch_size: int, seed: int) -> tf.data.Dataset:
    """Repeating, shuffled (seeded) training batches with the teacher's probabilities."""
    raw = _raw_dataset(file_pattern, data_accessor, tf_transform_output,
                       tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle_seed=seed))
    return _model_batches(raw, tf_transform_output, with_teacher=True)


def make_check_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                       tf_transform_output: tft.TFTransformOutput, batch_size: int, batches: int) -> tf.data.Dataset:
    """The first ``batches`` batches of the files in order, repeated, without the
    teacher's probabilities (as :func:`trainer.data.make_check_dataset`)."""
    raw = _raw_dataset(file_pattern, data_accessor, tf_transform_output,
                       tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=False, num_epochs=1))
    return _model_batches(raw.take(batches).repeat(), tf_transform_output, with_teacher=False)


def trainer_datasets(fn_args: tfx.components.FnArgs, cfg: CharwordConfig, tf_transform_output: tft.TFTransformOutput,
                     batch_size: int, eval_batches: int, keep_clean: bool) -> Tuple[tf.data.Dataset, tf.data.Dataset]:
    """``(train, eval)`` datasets of the distilled student's ``run_fn``, from
    BulkInferrer's examples: :func:`make_dataset` with ``cfg.noise`` applied (unless
    ``noise.rate`` is 0; ``keep_clean`` as in :func:`trainer.noise.add_noise`), and
    :func:`make_check_dataset`."""
    seed = cfg.training.seed
    train = make_dataset(fn_args.train_files, fn_args.data_accessor, tf_transform_output, batch_size, seed)
    evaluation = make_check_dataset(fn_args.eval_files, fn_args.data_accessor, tf_transform_output, batch_size,
                                    eval_batches)
    if cfg.noise.rate > 0:
        table = noise.build_table(tf_transform_output, cfg.noise, cfg.preprocessing, seed)
        train = noise.add_noise(train, table, cfg.noise.rate, cfg.noise.lexicon_share, seed, keep_clean)
    return train, evaluation
