"""Calls the Trainer's ``run_fn`` outside a TFX pipeline, on files written by
:mod:`standalone.transform`; benchmarks and tests use it."""
import os
from typing import Optional

from tfx import v1 as tfx
from tfx.components.trainer.fn_args_utils import DataAccessor
from tfx.components.util import tfxio_utils
from tfx.proto import example_gen_pb2

from charword.config import CharwordConfig
from standalone.transform import TransformedData


def _dataset_factory(file_pattern, options, schema):
    tfxio = tfxio_utils.make_tfxio(file_pattern=file_pattern, telemetry_descriptors=["charword"],
                                   payload_format=example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE, schema=schema)
    return tfxio.TensorFlowDataset(options)


def make_fn_args(data: TransformedData, cfg: CharwordConfig, work_dir: str, train_steps: Optional[int] = None,
                 eval_steps: Optional[int] = None) -> tfx.components.FnArgs:
    """The ``FnArgs`` the TFX Trainer would pass, pointing at a standalone Transform run."""
    return tfx.components.FnArgs(
        working_dir=work_dir,
        train_files=[data.train_pattern],
        eval_files=[data.eval_pattern],
        train_steps=train_steps or cfg.training.train_steps,
        eval_steps=eval_steps or cfg.training.eval_steps,
        transform_output=data.transform_graph_dir,
        transform_graph_path=data.transform_graph_dir,
        serving_model_dir=os.path.join(work_dir, "serving_model"),
        model_run_dir=os.path.join(work_dir, "model_run"),
        data_accessor=DataAccessor(tf_dataset_factory=_dataset_factory, record_batch_factory=None,
                                   data_view_decode_fn=None),
        custom_config=cfg.to_dict())
