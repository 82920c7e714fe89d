"""MisspellingCheck: the robustness view of every candidate model, and an optional gate.

Runs after the Evaluator. It scores the candidate on the eval split twice through the
exported ``predict_text`` signature (raw text in, so the serving preprocessing is what
is measured): as written, and with a fraction of all tokens misspelled
(:func:`charword.misspellings.substitute`: real misspellings from a lexicon file, or
synthetic one-edit typos without one). Its ``ModelBlessing`` is the Evaluator's
verdict, and also refused when ``min_accuracy`` > 0 and the accuracy on the misspelled
text falls below it; Pusher, ServableCheck and the resolver of the last blessed model
read this blessing instead of the Evaluator's. The numbers are custom properties of
the blessing and ``misspelled_eval.json`` in its directory (the run summary shows them).

Every artefact read and write goes through ``tfx.dsl.io.fileio`` (``gs://`` on
Kubeflow): the model and the eval shards are copied to local scratch first.
"""
import json
import os
import tempfile
from typing import Dict, List, Tuple

import tensorflow as tf
from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.types import standard_artifact_utils
from tfx.utils import io_utils, path_utils

import charword
from charword import contract, misspellings

BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"
RESULT_FILE = "misspelled_eval.json"
# Custom properties of the blessing, read by pipeline/run_summary.py.
MISSPELLED_ACCURACY = "misspelled_accuracy"
CLEAN_ACCURACY = "clean_accuracy"
EXAMPLES = "examples"
TOKENS = "tokens"
MISSPELLED_TOKENS = "misspelled_tokens"
SOURCE = "misspellings"
REASON = "reason"
_BATCH = 256


def read_examples(examples: tfx.types.standard_artifacts.Examples, split: str, scratch: str
                  ) -> Tuple[List[str], List[str]]:
    """``(texts, labels)`` of the raw examples of ``split`` (labels as strings, the way
    the label vocabulary spells them); shards are copied into ``scratch`` to be read."""
    split_uri = standard_artifact_utils.get_split_uri([examples], split)
    shards = sorted(fileio.glob(os.path.join(split_uri, "*")))
    if not shards:
        raise FileNotFoundError(f"no example files in split '{split}' at {split_uri}")
    texts, labels = [], []
    local = os.path.join(scratch, "shard.gz")
    for shard in shards:
        fileio.copy(shard, local, overwrite=True)
        for record in tf.data.TFRecordDataset(local, compression_type="GZIP"):
            features = tf.train.Example.FromString(record.numpy()).features.feature
            texts.append(features[contract.RAW_TEXT].bytes_list.value[0].decode("utf-8"))
            label = features[contract.RAW_LABEL]
            labels.append(str(label.int64_list.value[0]) if label.int64_list.value
                          else label.bytes_list.value[0].decode("utf-8"))
    return texts, labels


def accuracy(signature, texts: List[str], labels: List[str]) -> float:
    """Share of ``texts`` whose ``predict_text`` label is the given label."""
    correct = 0
    for start in range(0, len(texts), _BATCH):
        predicted = signature(**{contract.TEXT_INPUT: tf.constant(texts[start:start + _BATCH])})[contract.LABEL]
        correct += sum(p.decode("utf-8") == g for p, g in zip(predicted.numpy(), labels[start:start + _BATCH]))
    return correct / len(texts) if texts else float("nan")


def misspelled_eval(model_dir: str, texts: List[str], labels: List[str], fraction: float, lexicon: str,
                    seed: int) -> Dict[str, object]:
    """Accuracy of the SavedModel at ``model_dir`` on ``texts`` as written and with
    ``fraction`` of their tokens misspelled (``lexicon`` file, or synthetic typos when
    empty), with the substitution counts."""
    table = misspellings.by_correction(misspellings.read_lexicon(lexicon, fileio.open), True) if lexicon else None
    misspelled, counts = misspellings.substitute(texts, fraction, seed, table)
    signature = charword.load_model(model_dir).signatures[contract.PREDICT_TEXT]
    return {CLEAN_ACCURACY: accuracy(signature, texts, labels), MISSPELLED_ACCURACY: accuracy(signature, misspelled,
                                                                                            labels),
            EXAMPLES: len(texts), TOKENS: counts["tokens"], MISSPELLED_TOKENS: counts["substituted"],
            SOURCE: lexicon or "synthetic one-edit typos", "fraction": fraction}


def _verdict(evaluator_blessed: bool, result: Dict[str, object], min_accuracy: float) -> Tuple[bool, str]:
    value = result[MISSPELLED_ACCURACY]
    share = result[MISSPELLED_TOKENS] / max(1, result[TOKENS])
    described = f"accuracy with {share:.1%} of eval tokens misspelled ({result[SOURCE]}) is {value:.4f}"
    if not evaluator_blessed:
        return False, f"the Evaluator did not bless this model; {described}"
    if min_accuracy > 0 and value < min_accuracy:
        return False, f"{described}, below the bound {min_accuracy:.4f} (short by {min_accuracy - value:.4f})"
    return True, described


@tfx.dsl.components.component
def MisspellingCheck(  # pylint: disable=invalid-name
        model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
        model_blessing: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelBlessing],
        examples: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Examples],
        blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelBlessing],
        fraction: tfx.dsl.components.Parameter[float] = 0.1,
        lexicon: tfx.dsl.components.Parameter[str] = "",
        min_accuracy: tfx.dsl.components.Parameter[float] = 0.0,
        seed: tfx.dsl.components.Parameter[int] = 0,
        split: tfx.dsl.components.Parameter[str] = "eval") -> None:
    """Scores the candidate on misspelled eval text; blesses as the Evaluator did, unless
    ``min_accuracy`` > 0 and that accuracy falls below it."""
    evaluator_blessed = model_blessing.get_int_custom_property("blessed") == 1
    with tempfile.TemporaryDirectory(prefix="misspelling_check_") as scratch:
        texts, labels = read_examples(examples, split, scratch)
        local_model = os.path.join(scratch, "model")
        io_utils.copy_dir(path_utils.serving_model_path(model.uri), local_model)
        result = misspelled_eval(local_model, texts, labels, fraction, lexicon, seed)
    blessed, reason = _verdict(evaluator_blessed, result, min_accuracy)
    io_utils.write_string_file(os.path.join(blessing.uri, RESULT_FILE), json.dumps({**result, REASON: reason},
                                                                                   indent=2))
    io_utils.write_string_file(os.path.join(blessing.uri, BLESSED_FILE if blessed else NOT_BLESSED_FILE), "")
    # As the Evaluator's blessing has them, for the resolver of the last blessed model.
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_int_custom_property("blessed", int(blessed))
    for name in (MISSPELLED_ACCURACY, CLEAN_ACCURACY):
        blessing.set_float_custom_property(name, float(result[name]))
    for name in (EXAMPLES, TOKENS, MISSPELLED_TOKENS):
        blessing.set_int_custom_property(name, int(result[name]))
    blessing.set_string_custom_property(SOURCE, str(result[SOURCE]))
    blessing.set_string_custom_property(REASON, reason)
