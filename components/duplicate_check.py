"""DuplicateCheck: a model already serving is not pushed again.

A rerun on unchanged data and configuration takes the Trainer's model from the cache; the
Evaluator then compares the model with itself, finds it no worse and blesses it. Pushed
again, it would be a new version with the same files: serving reloads for nothing and the
version history fills with copies. This component sits between the blessing (Evaluator or
MisspellingCheck) and ServableCheck and Pusher: its ``ModelBlessing`` is the one it
reads, refused when the candidate's files are identical to the newest complete version
under the push destination (the one serving). The refusal's reason and the duplicated
version are custom properties of the blessing (the run summary shows them). The resolver
of the last blessed model still reads the quality blessing, so the model stays the
baseline.

Files are compared by relative path and SHA-256 of their bytes, read through
``tfx.dsl.io.fileio`` (``gs://`` on Kubeflow).
"""
import hashlib
import os
import re
from typing import Optional, Tuple

from tfx import v1 as tfx
from tfx.dsl.io import fileio
from tfx.utils import io_utils, path_utils

from charword.contract import SAVED_MODEL_FILE

BLESSED_FILE = "BLESSED"
NOT_BLESSED_FILE = "NOT_BLESSED"
# Custom properties of the blessing, read by ServableCheck and pipeline/run_summary.py.
REASON = "reason"
DUPLICATE_OF = "duplicate_of"  # the serving version's directory when the candidate is identical to it
_CHUNK = 1 << 20


def fingerprint(directory: str) -> str:
    """SHA-256 over the relative path and the bytes of every file under ``directory``."""
    digest = hashlib.sha256()
    files = sorted(os.path.relpath(os.path.join(root, name), directory)
                   for root, _, names in fileio.walk(directory) for name in names)
    for relative in files:
        digest.update(relative.encode("utf-8") + b"\0")
        with fileio.open(os.path.join(directory, relative), "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def serving_version(push_dir: str) -> Optional[Tuple[int, str]]:
    """``(version, directory)`` of the newest version under ``push_dir`` that holds a
    ``saved_model.pb`` (what a model server loads), or ``None``."""
    if not fileio.isdir(push_dir):
        return None
    versions = sorted((int(name.rstrip("/")), os.path.join(push_dir, name.rstrip("/")))
                      for name in fileio.listdir(push_dir) if re.fullmatch(r"[0-9]{1,18}/?", name))
    for version, directory in reversed(versions):
        if fileio.exists(os.path.join(directory, SAVED_MODEL_FILE)):
            return version, directory
    return None


def verdict(candidate_dir: str, push_dir: str) -> Tuple[bool, str, str]:
    """``(new, reason, duplicate_of)``: whether the model at ``candidate_dir`` differs from
    the version serving under ``push_dir``; ``duplicate_of`` is that version's directory
    when it does not."""
    serving = serving_version(push_dir)
    if serving is None:
        return True, f"no version is serving under {push_dir} yet", ""
    version, directory = serving
    if fingerprint(candidate_dir) != fingerprint(directory):
        return True, f"differs from version {version}, which is serving", ""
    return False, (f"the candidate is the model already serving: its files are identical to version {version} "
                   f"({directory}); nothing to push"), directory


@tfx.dsl.components.component
def DuplicateCheck(  # pylint: disable=invalid-name
        model: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.Model],
        model_blessing: tfx.dsl.components.InputArtifact[tfx.types.standard_artifacts.ModelBlessing],
        blessing: tfx.dsl.components.OutputArtifact[tfx.types.standard_artifacts.ModelBlessing],
        push_dir: tfx.dsl.components.Parameter[str]) -> None:
    """Blesses as ``model_blessing`` did, unless the candidate is the model serving under ``push_dir``."""
    blessed, duplicate_of = model_blessing.get_int_custom_property("blessed") == 1, ""
    reason = "the Evaluator or the misspelling check did not bless this model"
    if blessed:
        blessed, reason, duplicate_of = verdict(path_utils.serving_model_path(model.uri), push_dir)
    io_utils.write_string_file(os.path.join(blessing.uri, BLESSED_FILE if blessed else NOT_BLESSED_FILE), reason)
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property(REASON, reason)
    blessing.set_string_custom_property(DUPLICATE_OF, duplicate_of)
