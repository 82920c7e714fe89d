"""Reads what a finished local pipeline run did from ML Metadata and its artefacts.

Local runs only (a SQLite ML Metadata store on this machine); evaluation artefacts are
read by TFMA through ``tf.io.gfile``, so their URIs may be remote."""
import dataclasses
import json
import os
from typing import Dict, List, Optional

import tensorflow_model_analysis as tfma
from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.dsl.io import fileio

from charword import contract
from components import duplicate_check, misspelling_check
from pipeline.distillation import TEACHER_EVALUATOR_ID, TEACHER_TRAINER_ID
from pipeline.eval_config import SLICE_FEATURE
from pipeline.pipeline import DUPLICATE_CHECK_ID, MISSPELLING_CHECK_ID, RESOLVER_ID

_STATES = {metadata_store_pb2.Execution.COMPLETE: "ran", metadata_store_pb2.Execution.CACHED: "cached",
           metadata_store_pb2.Execution.FAILED: "failed", metadata_store_pb2.Execution.RUNNING: "running",
           metadata_store_pb2.Execution.CANCELED: "canceled"}


@dataclasses.dataclass
class ComponentRun:
    """One component's execution in the run."""

    component: str
    state: str
    seconds: float


@dataclasses.dataclass
class RunSummary:
    """What a user wants to know after a run."""

    components: List[ComponentRun]
    metrics: Dict[str, Dict[str, Optional[float]]]  # slice name -> metric name -> value (None: undefined)
    blessed: Optional[bool]
    validation_failures: List[str]
    servable: Optional[bool]
    servable_reason: str
    pushed: bool
    pushed_to: Optional[str]
    evaluation_uri: Optional[str]
    baseline_model: Optional[str]
    staging: Optional[dict] = None  # rows read/kept/dropped/truncated and the report path
    word_vectors: Optional[dict] = None  # Trainer: pretrained vectors' coverage (contract.WORD_VECTORS_REPORT)
    training: Optional[dict] = None  # Trainer: steps, passes and why it stopped (contract.TRAINING_REPORT)
    init_from: Optional[dict] = None  # Trainer: the pretrained encoder it started from (contract.INIT_FROM_REPORT)
    language_model: Optional[dict] = None  # pretraining's Trainer: perplexity (contract.LANGUAGE_MODEL_REPORT)
    misspelled: Optional[dict] = None  # MisspellingCheck: accuracy on misspelled eval text, counts, source
    already_serving: Optional[str] = None  # DuplicateCheck: why a blessed candidate was not pushed
    # The distilled preset's teacher: its metrics per slice (TeacherEvaluator) and its training report
    teacher_metrics: Optional[Dict[str, Dict[str, float]]] = None
    teacher_training: Optional[dict] = None

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2)


def _artifacts(store, execution_id: int, event_type=metadata_store_pb2.Event.OUTPUT
               ) -> Dict[str, metadata_store_pb2.Artifact]:
    """The execution's artifacts of one event type (output by default), by key."""
    events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type == event_type]
    artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
    return {e.path.steps[0].key: artifacts[e.artifact_id] for e in events if e.path.steps}


def _int_property(artifact: metadata_store_pb2.Artifact, name: str) -> Optional[int]:
    return artifact.custom_properties[name].int_value if name in artifact.custom_properties else None


def _string_property(artifact: metadata_store_pb2.Artifact, name: str) -> str:
    return artifact.custom_properties[name].string_value if name in artifact.custom_properties else ""


def slice_name(slice_key) -> str:
    """``overall`` or ``has_oov=1`` style names of TFMA slice keys."""
    return ",".join(f"{k}={v}" for k, v in slice_key) if slice_key else "overall"


def _readable_metric_name(name: str) -> str:
    """TFMA names aggregated metrics ``"macro_average: true\n_auc"``; this gives ``macro_auc``."""
    return "macro_" + name.split("\n_", 1)[1] if name.startswith("macro_average") else name


def read_metrics(evaluation_uri: str) -> Dict[str, Dict[str, Optional[float]]]:
    """Headline metrics per slice: example count, accuracy and the macro AUC / F1; AUC is
    ``None`` (undefined) on a slice of fewer than two examples."""
    result = tfma.load_eval_result(evaluation_uri)
    metrics = {}
    for slice_key, by_output in result.slicing_metrics:
        values = {}
        for sub_keys in by_output.values():
            for sub_key, named in sub_keys.items():
                for name, value in named.items():
                    if "doubleValue" in value and not sub_key and name != "example_count_diff":
                        values[_readable_metric_name(name)] = value["doubleValue"]
        if values.get("example_count", 2) < 2:  # AUC needs a positive and a negative: undefined
            values.update({name: None for name in values if "auc" in name})
        metrics[slice_name(slice_key)] = values
    return metrics


def _describe_failure(slice_key: str, failure) -> str:
    name, value = failure.metric_key.name, failure.metric_value.double_value.value
    threshold = failure.metric_threshold
    if failure.metric_key.is_diff:
        bound = threshold.change_threshold.absolute.value
        return (f"{name} on {slice_key} changed by {value:+.4f} against the last blessed model; "
                f"the allowed change is >= {bound:+.4f} (short by {bound - value:.4f})")
    bound = threshold.value_threshold.lower_bound.value
    return f"{name} on {slice_key} is {value:.4f}, below the bound {bound:.4f} (short by {bound - value:.4f})"


def read_validation_failures(evaluation_uri: str) -> List[str]:
    """Readable reasons the Evaluator refused to bless: metric, slice, bound, margin."""
    result = tfma.load_validation_result(evaluation_uri)
    failures = []
    for per_slice in result.metric_validations_per_slice:
        key = slice_name([(k.column, getattr(k, k.WhichOneof("kind"))) for k in per_slice.slice_key.single_slice_keys])
        failures.extend(_describe_failure(key, failure) for failure in per_slice.failures)
    return failures


def read_misspelling_check(blessing: metadata_store_pb2.Artifact) -> Dict[str, object]:
    """The MisspellingCheck's numbers, from its blessing's custom properties."""
    properties = blessing.custom_properties
    values = {name: properties[name].double_value for name in (misspelling_check.MISSPELLED_ACCURACY,
                                                                misspelling_check.CLEAN_ACCURACY)}
    values.update({name: properties[name].int_value for name in (misspelling_check.EXAMPLES, misspelling_check.TOKENS,
                                                                 misspelling_check.MISSPELLED_TOKENS)})
    values.update({name: _string_property(blessing, name) for name in (misspelling_check.SOURCE,
                                                                       misspelling_check.REASON)})
    return values


def read_model_run_report(model_run: Optional[metadata_store_pb2.Artifact], name: str) -> Optional[dict]:
    """A JSON report the Trainer wrote to its model run directory (``contract.WORD_VECTORS_REPORT``:
    the pretrained vectors' coverage; ``contract.TRAINING_REPORT``: how long it trained),
    or None when it wrote none."""
    if model_run is None:
        return None
    path = os.path.join(model_run.uri, name)
    if not fileio.exists(path):
        return None
    with fileio.open(path, "r") as handle:
        return json.loads(handle.read())


def summarize(metadata_path: str, pipeline_name: str, since_ms: int) -> RunSummary:
    """Summary of the executions of ``pipeline_name`` that started after ``since_ms``."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    store = metadata_store.MetadataStore(config)
    components, latest = [], {}
    for context in store.get_contexts_by_type("node"):
        if not context.name.startswith(pipeline_name + "."):
            continue
        runs = [e for e in store.get_executions_by_context(context.id) if e.create_time_since_epoch >= since_ms]
        if not runs:
            continue
        execution = max(runs, key=lambda e: e.create_time_since_epoch)
        component = context.name[len(pipeline_name) + 1:]
        latest[component] = execution
        components.append(ComponentRun(
            component, _STATES.get(execution.last_known_state, "unknown"),
            (execution.last_update_time_since_epoch - execution.create_time_since_epoch) / 1000.0))
    components.sort(key=lambda c: latest[c.component].create_time_since_epoch)

    summary = RunSummary(components, {}, None, [], None, "", False, None, None, None)
    if RESOLVER_ID in latest:
        # Resolver nodes record what they resolved as internal outputs.
        baseline = _artifacts(store, latest[RESOLVER_ID].id, metadata_store_pb2.Event.INTERNAL_OUTPUT).get("model")
        summary.baseline_model = baseline.uri if baseline else None
    if "Evaluator" in latest:
        outputs = _artifacts(store, latest["Evaluator"].id)
        summary.evaluation_uri = outputs["evaluation"].uri
        summary.metrics = read_metrics(summary.evaluation_uri)
        summary.blessed = _int_property(outputs["blessing"], "blessed") == 1
        summary.validation_failures = read_validation_failures(summary.evaluation_uri)
    if MISSPELLING_CHECK_ID in latest:
        check = _artifacts(store, latest[MISSPELLING_CHECK_ID].id)["blessing"]
        summary.misspelled = read_misspelling_check(check)
        blessed = _int_property(check, "blessed") == 1
        if summary.blessed and not blessed:
            summary.validation_failures.append(summary.misspelled[misspelling_check.REASON])
        summary.blessed = blessed
    if "Trainer" in latest:
        model_run = _artifacts(store, latest["Trainer"].id).get("model_run")
        summary.word_vectors = read_model_run_report(model_run, contract.WORD_VECTORS_REPORT)
        summary.training = read_model_run_report(model_run, contract.TRAINING_REPORT)
        summary.init_from = read_model_run_report(model_run, contract.INIT_FROM_REPORT)
        summary.language_model = read_model_run_report(model_run, contract.LANGUAGE_MODEL_REPORT)
    if TEACHER_EVALUATOR_ID in latest:
        summary.teacher_metrics = read_metrics(_artifacts(store, latest[TEACHER_EVALUATOR_ID].id)["evaluation"].uri)
    if TEACHER_TRAINER_ID in latest:
        model_run = _artifacts(store, latest[TEACHER_TRAINER_ID].id).get("model_run")
        summary.teacher_training = read_model_run_report(model_run, contract.TRAINING_REPORT)
    if DUPLICATE_CHECK_ID in latest:
        check = _artifacts(store, latest[DUPLICATE_CHECK_ID].id)["blessing"]
        if _string_property(check, duplicate_check.DUPLICATE_OF):
            summary.already_serving = _string_property(check, duplicate_check.REASON)
    if "ServableCheck" in latest and not summary.already_serving:
        blessing = _artifacts(store, latest["ServableCheck"].id)["blessing"]
        summary.servable = _int_property(blessing, "blessed") == 1
        summary.servable_reason = _string_property(blessing, "reason")
    if "Pusher" in latest:
        pushed = _artifacts(store, latest["Pusher"].id)["pushed_model"]
        summary.pushed = _int_property(pushed, "pushed") == 1
        summary.pushed_to = _string_property(pushed, "pushed_destination") or None
    return summary


def _training_line(trained: dict) -> str:
    return (f"training: {trained['steps']} steps of {trained['global_batch']} "
            f"({trained['passes']:.1f} passes over {trained['train_examples']} examples) in "
            f"{trained['wall_s']:.0f} s; {trained['stop_reason']}")


def _metric_lines(metrics: Dict[str, Dict[str, float]], indent: str) -> List[str]:
    lines = []
    for slice_key in sorted(metrics, key=lambda s: (s != "overall", s)):
        shown = ", ".join(f"examples={int(value)}" if name == "example_count" else
                          f"{name}=n/a (undefined on one example)" if value is None else f"{name}={value:.4f}"
                          for name, value in sorted(metrics[slice_key].items()))
        label = slice_key.replace(f"{SLICE_FEATURE}=1", "OOV slice (has_oov=1)").replace(
            f"{SLICE_FEATURE}=0", "in-vocabulary (has_oov=0)")
        lines.append(f"{indent}{label}: {shown}")
    return lines


def format_summary(summary: RunSummary) -> str:
    """A short human-readable report."""
    title = f"charword {'pretrain' if summary.language_model else 'run'} summary"
    lines = ["", title, "-" * len(title)]
    if summary.staging:
        staged = summary.staging
        lines.append(f"  data: {staged['rows_kept']} of {staged['rows_read']} rows used, "
                     f"{staged['rows_dropped']} dropped, {staged['rows_truncated']} cut to max_text_chars "
                     f"(report: {staged['report']})")
        if staged.get("multiline_cells"):
            lines.append(f"  warning: {staged['multiline_cells']} cell(s) span lines, first: "
                         f"{staged['first_multiline_cell']} (a quote left open by a broken export?)")
        held_out = staged.get("eval")
        lines.append(f"  eval split: {held_out['rows_kept']} of {held_out['rows_read']} rows of {held_out['source']}"
                     if held_out else f"  eval split: {staged['split']['eval']} rows (stratified hash buckets of the "
                                      f"data; {staged['split']['train']} train)")
    for run in summary.components:
        lines.append(f"  {run.component:<32} {run.state:<7} {run.seconds:7.1f} s")
    if summary.teacher_training:
        lines.append(f"  teacher {_training_line(summary.teacher_training)}")
    if summary.training:
        lines.append(f"  {_training_line(summary.training)}")
    if summary.word_vectors:
        found = summary.word_vectors
        lines.append(f"  word vectors: {found['path']} ({found['dim']}-d, {found['mode']}): {found['words_found']} of "
                     f"{found['vocabulary_words']} vocabulary words ({found['word_fraction']:.1%}), "
                     f"{found['tokens_found']} of {found['train_tokens']} train tokens ({found['token_fraction']:.1%})")
    if summary.init_from:
        loaded = summary.init_from
        unfreeze = f" from step {loaded['unfreeze_step']}" if loaded.get("unfreeze_step") is not None else ""
        parts = ("token layer" if loaded.get("layers") == "token_layer"
                 else f"token layer and sentence BiLSTM, {loaded['units']} units")
        lines.append(f"  started from the pretrained encoder {loaded['path']}: {loaded['tensors']} tensors ({parts}), "
                     f"{loaded['vocabulary_words']} vocabulary words, {loaded['mode']}{unfreeze}")
    if summary.language_model:
        lm = summary.language_model
        rates = lm["tokens_per_s"]
        lines.append(f"  language model: held-out perplexity {lm['perplexity']:.1f} (untrained "
                     f"{lm['untrained_perplexity']:.1f}; {lm['held_out_texts']} texts), "
                     f"{lm['vocabulary_words']} words, "
                     f"{lm['num_sampled']} sampled per step, "
                     f"{sum(rates) / max(len(rates), 1):.0f} training tokens/s")
    lines.extend(_metric_lines(summary.metrics, "  "))
    if summary.teacher_metrics:
        lines.append("  teacher (not gated, not pushed):")
        lines.extend(_metric_lines(summary.teacher_metrics, "    "))
    if summary.misspelled:
        checked = summary.misspelled
        share = checked[misspelling_check.MISSPELLED_TOKENS] / max(1, checked[misspelling_check.TOKENS])
        lines.append(f"  misspelled ({share:.1%} of eval tokens, {checked[misspelling_check.SOURCE]}): "
                     f"examples={checked[misspelling_check.EXAMPLES]}, "
                     f"sparse_categorical_accuracy={checked[misspelling_check.MISSPELLED_ACCURACY]:.4f} "
                     f"(as written: {checked[misspelling_check.CLEAN_ACCURACY]:.4f})")
    if summary.evaluation_uri:
        lines.append(f"  compared with: {summary.baseline_model or 'no baseline (first blessed model)'}")
    if summary.blessed is not None:
        lines.append(f"  blessed: {'yes' if summary.blessed else 'no'}")
        lines.extend(f"    failed: {failure}" for failure in summary.validation_failures)
    if summary.servable is not None:
        lines.append(f"  servable: {'yes' if summary.servable else 'no'} ({summary.servable_reason})")
    lines.append(f"  pushed: {summary.pushed_to}" if summary.pushed else
                 f"  pushed: no: {summary.already_serving}" if summary.already_serving else
                 "  pushed: no (the previous serving model stays)")
    return "\n".join(lines)
