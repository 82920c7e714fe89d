"""Datasets of transformed examples for training and evaluation."""
from typing import List

import tensorflow as tf
import tensorflow_transform as tft
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from charword import contract


def make_dataset(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                 tf_transform_output: tft.TFTransformOutput, batch_size: int, seed: int) -> tf.data.Dataset:
    """Repeating dataset of ``({word_ids, char_ids}, label_id)`` batches of ``batch_size``."""
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=contract.LABEL_ID, shuffle_seed=seed),
        tf_transform_output.transformed_metadata.schema)
    return dataset.map(lambda x, y: ({name: x[name] for name in contract.MODEL_INPUTS}, y),
                       num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
