"""Runs ``preprocessing_fn`` with tf.Transform on Beam outside TFX.

The pipeline's Transform component is the production path; this module runs the same
``preprocessing_fn`` on in-memory rows for benchmarks and tests, and writes what the
Transform component writes: a transform graph directory and gzipped TFRecords of
transformed ``tf.Example`` s.
"""
import functools
import os
import tempfile
from typing import List, NamedTuple, Sequence

import apache_beam as beam
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import metadata_io

from charword import contract
from charword.config import CharwordConfig
from preprocessing.transform import preprocessing_fn


class TransformedData(NamedTuple):
    """Where a standalone Transform run wrote its outputs."""

    transform_graph_dir: str
    train_pattern: str
    eval_pattern: str


def written_to(output_dir: str) -> TransformedData:
    """Where :func:`transform_rows` writes (or wrote) its outputs under ``output_dir``."""
    graph_dir = os.path.join(output_dir, "transform_graph")
    return TransformedData(graph_dir, *(os.path.join(output_dir, "transformed", split, "part") + "*"
                                        for split in ("train", "eval")))


def transform_rows(train_rows: Sequence[dict], eval_rows: Sequence[dict], cfg: CharwordConfig, output_dir: str,
                   beam_args: Sequence[str] = ()) -> TransformedData:
    """Analyses ``train_rows`` and transforms both row lists (dicts with raw features).

    Labels are typed like ExampleGen types them: integers if every label is one.
    """
    labels_are_integers = all(isinstance(r[contract.RAW_LABEL], int) for r in list(train_rows) + list(eval_rows))
    metadata = tft.DatasetMetadata.from_feature_spec(contract.raw_feature_spec(labels_are_integers))
    fn = functools.partial(preprocessing_fn, custom_config=cfg.to_dict())
    written = written_to(output_dir)
    graph_dir = written.transform_graph_dir
    patterns = {"train": written.train_pattern[:-1], "eval": written.eval_pattern[:-1]}
    options = beam.options.pipeline_options.PipelineOptions(list(beam_args))
    os.makedirs(output_dir, exist_ok=True)
    with beam.Pipeline(options=options) as pipeline, tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=output_dir)):
        train = pipeline | "CreateTrain" >> beam.Create(list(train_rows), reshuffle=False)
        evaluation = pipeline | "CreateEval" >> beam.Create(list(eval_rows), reshuffle=False)
        (train_out, out_metadata), transform_fn = (train, metadata) | tft_beam.AnalyzeAndTransformDataset(fn)
        eval_out, _ = ((evaluation, metadata), transform_fn) | tft_beam.TransformDataset()
        coder = tft.coders.ExampleProtoCoder(out_metadata.schema)
        for name, dataset in (("train", train_out), ("eval", eval_out)):
            _ = (dataset
                 | f"Encode{name}" >> beam.Map(coder.encode)
                 | f"Write{name}" >> beam.io.WriteToTFRecord(patterns[name], file_name_suffix=".gz"))
        _ = transform_fn | tft_beam.WriteTransformFn(graph_dir)
    metadata_io.write_metadata(metadata, os.path.join(graph_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return written


def rows_from_pairs(pairs: Sequence[tuple]) -> List[dict]:
    """``[(text, label), ...]`` to raw-feature dicts."""
    return [{contract.RAW_TEXT: text, contract.RAW_LABEL: label} for text, label in pairs]
