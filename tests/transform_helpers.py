"""Runs the real preprocessing_fn on small data and reads the results back."""
import glob
from typing import Dict, List

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from standalone.transform import rows_from_pairs, transform_rows


def read_transformed(pattern: str, graph_dir: str) -> List[Dict[str, np.ndarray]]:
    """Transformed examples written by a Beam run, as dicts of numpy arrays, in order."""
    spec = tft.TFTransformOutput(graph_dir).transformed_feature_spec()
    files = sorted(glob.glob(pattern))
    rows = []
    for record in tf.data.TFRecordDataset(files, compression_type="GZIP"):
        parsed = tf.io.parse_single_example(record, spec)
        rows.append({name: value.numpy() for name, value in parsed.items()})
    return rows


def transform(train_pairs, eval_pairs, cfg, tmp_dir):
    """(graph_dir, train rows, eval rows) for ``(text, label)`` pairs."""
    data = transform_rows(rows_from_pairs(train_pairs), rows_from_pairs(eval_pairs), cfg, str(tmp_dir))
    return (data.transform_graph_dir, read_transformed(data.train_pattern, data.transform_graph_dir),
            read_transformed(data.eval_pattern, data.transform_graph_dir))
