"""Runs ``preprocessing_fn`` with tf.Transform on Beam outside TFX.

The pipeline's Transform component is the production path; this module runs the same
``preprocessing_fn`` on rows given in memory, for benchmarks and tests: it writes them
as ExampleGen would and then what the Transform component writes, a transform graph
directory and gzipped TFRecords of transformed ``tf.Example`` s.
"""
import functools
import os
import tempfile
from typing import List, NamedTuple, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
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


def write_raw_examples(rows: Sequence[dict], path: str, labels_are_integers: bool,
                       teacher_probabilities: Optional[Sequence[Sequence[float]]] = None) -> None:
    """Writes raw rows as gzipped TFRecords of ``tf.Example`` s, what ExampleGen writes
    (tfx_bsl's C++ encoder); with ``teacher_probabilities`` ([rows][classes]) each example
    also holds its row's, as the distilled preset's BulkInferrer writes them."""
    label_type = pa.int64() if labels_are_integers else pa.binary()
    columns = {contract.RAW_TEXT: pa.array([[str(row[contract.RAW_TEXT]).encode("utf-8")] for row in rows],
                                           pa.list_(pa.binary())),
               contract.RAW_LABEL: pa.array([[row[contract.RAW_LABEL] if labels_are_integers
                                              else str(row[contract.RAW_LABEL]).encode("utf-8")] for row in rows],
                                            pa.list_(label_type))}
    if teacher_probabilities is not None:
        columns[contract.TEACHER_PROBABILITIES] = pa.array([list(map(float, p)) for p in teacher_probabilities],
                                                           pa.list_(pa.float32()))
    batch = pa.RecordBatch.from_arrays(list(columns.values()), list(columns))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for example in example_coder.RecordBatchToExamplesEncoder().encode(batch):
            writer.write(example)


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
                   beam_args: Sequence[str] = ()) -> TransformedData:
    """Analyses ``train_rows`` and transforms both row lists (dicts with raw features).

    Labels are typed like ExampleGen types them: integers if every label is one. Data
    moves as in TFX's Transform component: the rows are written as ExampleGen writes them
    (gzipped TFRecords of ``tf.Example`` s, under ``output_dir/raw``), read back by tfx_bsl
    as Arrow record batches, and the transformed batches encoded by tfx_bsl's C++ encoder.
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
        sources = {}
        for split, rows in (("train", train_rows), ("eval", eval_rows)):
            path = os.path.join(output_dir, "raw", split, "examples.tfrecord.gz")
            write_raw_examples(rows, path, labels_are_integers)
            sources[split] = tfxio.TFExampleRecord(path, schema=metadata.schema)
        raw = sources["train"].TensorAdapterConfig()
        train = pipeline | "ReadTrain" >> sources["train"].BeamSource()
        evaluation = pipeline | "ReadEval" >> sources["eval"].BeamSource()
        (train_out, out_metadata), transform_fn = (train, raw) | tft_beam.AnalyzeAndTransformDataset(fn, True)
        eval_out, _ = ((evaluation, raw), transform_fn) | tft_beam.TransformDataset(output_record_batches=True)
        for name, dataset in (("train", train_out), ("eval", eval_out)):
            _ = (dataset
                 | f"Encode{name}" >> beam.ParDo(_EncodeRecordBatches(out_metadata.schema))
                 | f"Write{name}" >> beam.io.WriteToTFRecord(patterns[name], file_name_suffix=".gz"))
        _ = transform_fn | tft_beam.WriteTransformFn(graph_dir)
    metadata_io.write_metadata(metadata, os.path.join(graph_dir, tft.TFTransformOutput.RAW_METADATA_DIR))
    return written


def rows_from_pairs(pairs: Sequence[tuple]) -> List[dict]:
    """``[(text, label), ...]`` to raw-feature dicts."""
    return [{contract.RAW_TEXT: text, contract.RAW_LABEL: label} for text, label in pairs]
