"""Watches a versioned model directory and serves its newest valid version.

The directory has TF Serving's layout, ``<model dir>/<version>/saved_model.pb``, as the
TFX Pusher writes it. The rules follow TF Serving's default ``latest`` policy, plus a
warm-up gate:

* version directories have integer names; other names (``tmp``, ``3.partial``) are
  ignored, and so is an entry that resolves outside the model directory (a symlink);
* a version is complete once ``saved_model.pb`` exists (the Pusher copies it last);
* a version newer than the served one is loaded in the background and swapped in only
  after it loaded and answered a warm-up request; requests already running finish on
  the model they started with (they hold their own reference to it);
* a version that fails to load or warm up is logged and remembered with a fingerprint
  of its files, and retried only once its files change; the served version stays;
* a served version whose directory disappears keeps serving until a newer one loads.
"""
import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

from charword.contract import SAVED_MODEL_FILE
from serving.model import LoadedModel, load

logger = logging.getLogger(__name__)

_VERSION = re.compile(r"[0-9]{1,18}")


def parse_version(text: str) -> Optional[int]:
    """The version a string of digits names, or None (no signs, spaces, dots or paths)."""
    return int(text) if _VERSION.fullmatch(text) else None


def version_dirs(model_dir: str) -> Dict[int, str]:
    """Integer-named subdirectories that resolve to direct children of ``model_dir``."""
    base = os.path.realpath(model_dir)
    found = {}
    for entry in os.scandir(base):
        version = parse_version(entry.name)
        path = os.path.realpath(entry.path)
        if version is not None and os.path.dirname(path) == base and os.path.isdir(path):
            found[version] = path
    return found


def _fingerprint(path: str) -> Tuple[Tuple[str, int, int], ...]:
    """Relative name, size and modification time of every file of a version."""
    items = []
    for root, _, names in os.walk(path):
        for name in names:
            stat = os.stat(os.path.join(root, name))
            items.append((os.path.relpath(os.path.join(root, name), path), stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(items))


@dataclass(frozen=True)
class VersionStatus:
    """A version as TF Serving reports it: ``AVAILABLE``, ``LOADING``, or ``END`` with an error."""

    version: int
    state: str
    error: str = ""


class ModelRegistry:
    """The served model of one versioned directory, refreshed by a polling thread."""

    def __init__(self, model_dir: str, poll_seconds: float = 5.0,
                 loader: Callable[[str, int], LoadedModel] = load):
        self.model_dir = model_dir
        self.poll_seconds = poll_seconds
        self._loader = loader
        self._lock = threading.Lock()
        self._current: Optional[LoadedModel] = None
        self._loading: Optional[int] = None
        self._failed: Dict[int, Tuple[tuple, str]] = {}  # version -> (fingerprint, reason)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def current(self) -> Optional[LoadedModel]:
        """The model serving now (None before the first version loads)."""
        with self._lock:
            return self._current

    def get(self, version: int) -> Optional[LoadedModel]:
        """The loaded model of ``version``, or None; never touches the file system."""
        model = self.current()
        return model if model is not None and model.version == version else None

    def status(self) -> List[VersionStatus]:
        """Served, loading and failed versions, newest first."""
        with self._lock:
            rows = [VersionStatus(v, "END", reason) for v, (_, reason) in self._failed.items()]
            if self._loading is not None:
                rows.append(VersionStatus(self._loading, "LOADING"))
            if self._current is not None:
                rows.append(VersionStatus(self._current.version, "AVAILABLE"))
        return sorted(rows, key=lambda row: row.version, reverse=True)

    def refresh(self) -> Optional[LoadedModel]:
        """One poll: loads the newest valid version above the served one, if any.

        Returns the model serving afterwards."""
        dirs = version_dirs(self.model_dir)
        with self._lock:
            self._failed = {v: failure for v, failure in self._failed.items() if v in dirs}
        current = self.current()
        for version, path in sorted(dirs.items(), reverse=True):
            if current is not None and version <= current.version:
                break
            if not os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
                continue  # still being copied
            fingerprint = _fingerprint(path)
            failed = self._failed.get(version)
            if failed is not None and failed[0] == fingerprint:
                continue
            if self._load(version, path, fingerprint):
                break
        return self.current()

    def _load(self, version: int, path: str, fingerprint: tuple) -> bool:
        with self._lock:
            self._loading = version
        try:
            model = self._loader(path, version)
        except Exception as error:  # pylint: disable=broad-except
            reason = f"{type(error).__name__}: {error}".splitlines()[0][:500]
            current = self.current()
            logger.error("version %d at %s failed to load or warm up (still serving %s): %s", version, path,
                         current.version if current else "nothing", reason)
            with self._lock:
                self._failed[version] = (fingerprint, reason)
                self._loading = None
            return False
        with self._lock:
            previous, self._current, self._loading = self._current, model, None
            self._failed.pop(version, None)
        logger.info("serving version %d from %s (was %s)", version, path, previous.version if previous else "none")
        return True

    def start(self) -> None:
        """Loads the newest valid version and keeps polling, in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._poll, name="model-registry", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stops polling (a load under way finishes in the background)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _poll(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # pylint: disable=broad-except
                logger.exception("polling %s failed", self.model_dir)
            if self._stop.wait(self.poll_seconds):
                return


def open_model(path: str) -> LoadedModel:
    """Loads a SavedModel directory, or the newest valid version of a versioned one."""
    if os.path.isfile(path):
        raise FileNotFoundError(f"{path} is a file; give a SavedModel directory (it holds {SAVED_MODEL_FILE}) or a "
                                "directory of version folders, e.g. outputs/serving/charword")
    if not os.path.isdir(path):
        raise FileNotFoundError(f"model directory {path} does not exist")
    if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
        return load(path, parse_version(os.path.basename(os.path.normpath(path))) or 0)
    registry = ModelRegistry(path)
    model = registry.refresh()
    if model is None:
        failures = "; ".join(f"version {row.version}: {row.error}" for row in registry.status())
        raise FileNotFoundError(f"no loadable model version under {path}" + (f" ({failures})" if failures else ""))
    return model
