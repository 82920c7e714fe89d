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
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import metadata_io
from tfx_bsl.coders import example_coder
from tfx_bsl.public import tfxio

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


ENCODINGS = ("record_batches", "instance_dicts")


def _serialized_examples(rows: Sequence[dict]) -> List[bytes]:
    """Raw rows as serialized ``tf.Example`` s, what ExampleGen writes."""
    examples = []
    for row in rows:
        feature = {}
        for name, value in row.items():
            if isinstance(value, int):
                feature[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
            else:
                feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[str(value).encode("utf-8")]))
        examples.append(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
    return examples


class _EncodeRecordBatches(beam.DoFn):
    """Transformed Arrow record batches to serialized ``tf.Example`` s (tfx_bsl's C++
    encoder, as TFX's Transform component writes them)."""

    def __init__(self, schema):
        super().__init__()
        self._schema = schema
        self._encoder = None

    def setup(self):
        self._encoder = example_coder.RecordBatchToExamplesEncoder(self._schema)

    def process(self, element):
        record_batch, _ = element
        yield from self._encoder.encode(record_batch)


def transform_rows(train_rows: Sequence[dict], eval_rows: Sequence[dict], cfg: CharwordConfig, output_dir: str,
                   beam_args: Sequence[str] = (), encoding: str = "record_batches") -> TransformedData:
    """Analyses ``train_rows`` and transforms both row lists (dicts with raw features).

    Labels are typed like ExampleGen types them: integers if every label is one.
    ``encoding="record_batches"`` moves data as TFX's Transform component does: serialized
    ``tf.Example`` s decoded into Arrow record batches by tfx_bsl, transformed batches
    encoded back by tfx_bsl's C++ encoder. ``"instance_dicts"`` (one Python dict per
    example and ``tft.coders.ExampleProtoCoder``) is the slower path this module used
    before; it stays for the Transform benchmark's side-by-side comparison.
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, got {encoding!r}")
    labels_are_integers = all(isinstance(r[contract.RAW_LABEL], int) for r in list(train_rows) + list(eval_rows))
    metadata = tft.DatasetMetadata.from_feature_spec(contract.raw_feature_spec(labels_are_integers))
    fn = functools.partial(preprocessing_fn, custom_config=cfg.to_dict())
    written = written_to(output_dir)
    graph_dir = written.transform_graph_dir
    patterns = {"train": written.train_pattern[:-1], "eval": written.eval_pattern[:-1]}
    options = beam.options.pipeline_options.PipelineOptions(list(beam_args))
    os.makedirs(output_dir, exist_ok=True)
    batches = encoding == "record_batches"
    with beam.Pipeline(options=options) as pipeline, tft_beam.Context(temp_dir=tempfile.mkdtemp(dir=output_dir)):
        if batches:
            source = tfxio.TFExampleBeamRecord(physical_format="inmem", schema=metadata.schema)
            raw = source.TensorAdapterConfig()
            train = (pipeline | "CreateTrain" >> beam.Create(_serialized_examples(train_rows), reshuffle=False)
                     | "DecodeTrain" >> source.BeamSource())
            evaluation = (pipeline | "CreateEval" >> beam.Create(_serialized_examples(eval_rows), reshuffle=False)
                          | "DecodeEval" >> source.BeamSource())
        else:
            raw = metadata
            train = pipeline | "CreateTrain" >> beam.Create(list(train_rows), reshuffle=False)
            evaluation = pipeline | "CreateEval" >> beam.Create(list(eval_rows), reshuffle=False)
        (train_out, out_metadata), transform_fn = ((train, raw)
                                                   | tft_beam.AnalyzeAndTransformDataset(fn, batches))
        eval_out, _ = ((evaluation, raw), transform_fn) | tft_beam.TransformDataset(output_record_batches=batches)
        schema = out_metadata.schema if batches else None
        coder = None if batches else tft.coders.ExampleProtoCoder(out_metadata.schema)
        for name, dataset in (("train", train_out), ("eval", eval_out)):
            encode = (beam.ParDo(_EncodeRecordBatches(schema)) if batches else beam.Map(coder.encode))
            _ = (dataset
                 | f"Encode{name}" >> encode
                 | f"Write{name}" >> beam.io.WriteToTFRecord(patterns[name], file_name_suffix=".gz"))
        _ = transform_fn | tft_beam.WriteTransformFn(graph_dir)
    metadata_io.write_metadata(metadata, os.path.join(graph_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return written


def rows_from_pairs(pairs: Sequence[tuple]) -> List[dict]:
    """``[(text, label), ...]`` to raw-feature dicts."""
    return [{contract.RAW_TEXT: text, contract.RAW_LABEL: label} for text, label in pairs]
