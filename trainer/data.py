"""Datasets of transformed examples for training and evaluation, and the vocabulary
sizes the model is built for."""
from typing import List, NamedTuple, Optional, Union

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from charword import contract


class VocabularySizes(NamedTuple):
    """Sizes of the vocabularies Transform wrote."""

    words: int    # word vocabulary entries (OOV buckets and padding not counted)
    classes: int  # label vocabulary entries: the number of classes


def vocabulary_sizes(transform_output: Union[str, tft.TFTransformOutput]) -> VocabularySizes:
    """Word vocabulary size and number of classes of a transform graph (its directory or
    a ``TFTransformOutput``)."""
    if isinstance(transform_output, str):
        transform_output = tft.TFTransformOutput(transform_output)
    return VocabularySizes(transform_output.vocabulary_size_by_name(contract.WORD_VOCAB),
                           transform_output.vocabulary_size_by_name(contract.LABEL_VOCAB))


def raw_text_input(text: tf.Tensor, spec) -> tf.Tensor:
    """Shapes a ``[B]`` string tensor as the transform graph's raw text input ``spec``
    expects (a ``tf.io`` feature spec: fixed length of any shape, or var-length)."""
    if isinstance(spec, tf.io.VarLenFeature):
        return tf.sparse.from_dense(tf.expand_dims(text, 1))
    return tf.reshape(text, [-1, *spec.shape])


def count_examples(file_pattern: List[str]) -> int:
    """Examples in the (gzipped when named ``*.gz``) TFRecord files matching ``file_pattern``,
    counted without parsing them."""
    files = sorted(name for pattern in file_pattern for name in tf.io.gfile.glob(pattern))
    count = 0
    for compression in ("GZIP", ""):
        group = [name for name in files if name.endswith(".gz") == (compression == "GZIP")]
        if group:
            records = tf.data.TFRecordDataset(group, compression_type=compression, num_parallel_reads=4)
            count += int(records.reduce(tf.constant(0, tf.int64), lambda total, _: total + 1))
    return count


def make_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                 tf_transform_output: tft.TFTransformOutput, batch_size: int, seed: int) -> tf.data.Dataset:
    """Repeating, shuffled (seeded) dataset of ``({word_ids, char_ids}, label_id)`` batches
    of ``batch_size`` (plus the sentence path's feature when Transform wrote one:
    :func:`contract.model_features`)."""
    return _model_batches(data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=contract.LABEL_ID, shuffle_seed=seed),
        tf_transform_output.transformed_metadata.schema))


def make_check_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                       tf_transform_output: tft.TFTransformOutput, batch_size: int, batches: int) -> tf.data.Dataset:
    """The first ``batches`` batches of the files in order, repeated: read ``batches`` at a
    time, every check of the eval loss sees the same examples."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=contract.LABEL_ID, shuffle=False,
                                       num_epochs=1),
        tf_transform_output.transformed_metadata.schema)
    return _model_batches(dataset.take(batches).repeat())


def make_text_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                      tf_transform_output: tft.TFTransformOutput, batch_size: int,
                      seed: Optional[int] = None, batches: Optional[int] = None) -> tf.data.Dataset:
    """Batches of model features ``{word_ids [B, T], char_ids [B, T, C]}`` of unlabelled
    texts (pretraining): shuffled (seeded by ``seed``) and repeating; or, with ``batches``,
    the first ``batches`` batches of the files in order, repeated, so that every check
    reads the same texts."""
    checking = batches is not None
    options = tfxio.TensorFlowDatasetOptions(batch_size=batch_size, shuffle=not checking, shuffle_seed=seed,
                                             num_epochs=1 if checking else None)
    dataset = data_accessor.tf_dataset_factory(file_pattern, options, tf_transform_output.transformed_metadata.schema)
    if checking:
        dataset = dataset.take(batches).repeat()
    return dataset.map(contract.model_features, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _model_batches(dataset: tf.data.Dataset) -> tf.data.Dataset:
    return dataset.map(lambda x, y: (contract.model_features(x), y),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
