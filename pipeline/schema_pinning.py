"""Pins the schema of the first blessed run, so later data is validated against it.

A freshly inferred schema always matches the data it came from, so validation needs a
reference: after the first run whose model is pushed, its schema is written to
``<output_dir>/schema/<pipeline>/schema.pbtxt`` with the label's classes as its
domain. Later runs import that file (ImportSchemaGen) and ExampleValidator reports
columns that changed type, went missing, or labels never seen before. Delete the file
to accept such a change deliberately.

Local runs only: the pinned file, the output directory and the SQLite ML Metadata store
are on this machine, so plain ``os`` file calls are used (the inferred schema is read
with TFDV, through ``tf.io.gfile``). A Kubeflow pipeline gets the pinned file with
``charword compile-kubeflow --schema``, which copies it through TFX's fileio
(:func:`pipeline.kubeflow_dag.stage_schema`).
"""
import os
from typing import Optional

import tensorflow_data_validation as tfdv
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tensorflow_metadata.proto.v0 import schema_pb2

from charword import contract
from charword.config import CharwordConfig, PipelineConfig
from charword.data import StagedData
from pipeline import layout

SCHEMA_FILE = "schema.pbtxt"


def pinned_schema_file(cfg: PipelineConfig) -> Optional[str]:
    """The pinned schema of this pipeline, or ``None`` before the first blessed run."""
    path = os.path.join(layout.pinned_schema_dir(cfg), SCHEMA_FILE)
    return path if os.path.exists(path) else None


def _latest_inferred_schema(metadata_path: str) -> str:
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    store = metadata_store.MetadataStore(config)
    schemas = [a for a in store.get_artifacts_by_type("Schema") if "/SchemaGen/" in a.uri]
    if not schemas:
        raise RuntimeError(f"no SchemaGen output recorded in {metadata_path}")
    return os.path.join(max(schemas, key=lambda a: a.create_time_since_epoch).uri, SCHEMA_FILE)


def constrain_schema(schema: schema_pb2.Schema, staged: StagedData) -> schema_pb2.Schema:
    """Labels restricted to the classes seen; free text never gets a value domain."""
    text = tfdv.get_feature(schema, contract.RAW_TEXT)
    text.ClearField("domain")
    text.ClearField("string_domain")
    label = tfdv.get_feature(schema, contract.RAW_LABEL)
    label.ClearField("domain")
    if staged.labels_are_integers:
        values = [int(v) for v in staged.label_values]
        label.int_domain.CopyFrom(schema_pb2.IntDomain(min=min(values), max=max(values)))
    else:
        label.ClearField("string_domain")
        label.string_domain.CopyFrom(schema_pb2.StringDomain(value=list(staged.label_values)))
    return schema


def pin_schema(cfg: CharwordConfig, metadata_path: str, staged: StagedData) -> str:
    """Writes the constrained schema of the latest run; returns its path."""
    schema = constrain_schema(tfdv.load_schema_text(_latest_inferred_schema(metadata_path)), staged)
    os.makedirs(layout.pinned_schema_dir(cfg.pipeline), exist_ok=True)
    path = os.path.join(layout.pinned_schema_dir(cfg.pipeline), SCHEMA_FILE)
    tfdv.write_schema_text(schema, path)
    return path
