"""A filesystem that only TFX's fileio layer knows, standing in for ``gs://`` in tests.

``fakegcs://<absolute local path>`` is stored at ``<absolute local path>``. Builtin
``open``/``glob``/``os.path``, ``tf.io.gfile`` and ``tf.data`` cannot read such a URI
(``os.path.exists`` is false, TensorFlow raises "scheme not implemented"), so code under
test passes only if it does all its artefact I/O through ``tfx.dsl.io.fileio``, as it
must for ``gs://`` on Kubeflow. (Real GCS cannot be reached here.)
"""
import os
from typing import Any, Callable, Iterable, List, Optional, Tuple

from tfx.dsl.io import filesystem, filesystem_registry
from tfx.dsl.io.plugins.local import LocalFilesystem

SCHEME = "fakegcs://"


def to_uri(local_path) -> str:
    """The ``fakegcs://`` URI of an absolute local path."""
    local_path = str(local_path)
    if not os.path.isabs(local_path):
        raise ValueError(f"fakegcs URIs hold absolute paths, got {local_path!r}")
    return SCHEME + local_path


def to_local(uri) -> str:
    """The local path behind a ``fakegcs://`` URI."""
    uri = uri.decode("utf-8") if isinstance(uri, bytes) else uri
    if not uri.startswith(SCHEME):
        raise ValueError(f"not a {SCHEME} URI: {uri!r}")
    return uri[len(SCHEME):]


class FakeCloudFilesystem(filesystem.Filesystem):
    """TFX filesystem plugin for ``fakegcs://``, backed by the local disk."""

    SUPPORTED_SCHEMES = [SCHEME]

    @staticmethod
    def open(name, mode: str = "r") -> Any:
        return LocalFilesystem.open(to_local(name), mode)

    @staticmethod
    def copy(src, dst, overwrite: bool = False) -> None:
        LocalFilesystem.copy(to_local(src), to_local(dst), overwrite)

    @staticmethod
    def exists(path) -> bool:
        return LocalFilesystem.exists(to_local(path))

    @staticmethod
    def glob(pattern) -> List[str]:
        return [to_uri(path) for path in LocalFilesystem.glob(to_local(pattern))]

    @staticmethod
    def isdir(path) -> bool:
        return LocalFilesystem.isdir(to_local(path))

    @staticmethod
    def listdir(path) -> List[str]:
        return LocalFilesystem.listdir(to_local(path))

    @staticmethod
    def makedirs(path) -> None:
        LocalFilesystem.makedirs(to_local(path))

    @staticmethod
    def mkdir(path) -> None:
        LocalFilesystem.mkdir(to_local(path))

    @staticmethod
    def remove(path) -> None:
        LocalFilesystem.remove(to_local(path))

    @staticmethod
    def rename(src, dst, overwrite: bool = False) -> None:
        LocalFilesystem.rename(to_local(src), to_local(dst), overwrite)

    @staticmethod
    def rmtree(path) -> None:
        LocalFilesystem.rmtree(to_local(path))

    @staticmethod
    def stat(path) -> Any:
        return LocalFilesystem.stat(to_local(path))

    @staticmethod
    def walk(top, topdown: bool = True, onerror: Optional[Callable[..., None]] = None
             ) -> Iterable[Tuple[str, List[str], List[str]]]:
        for directory, subdirs, files in LocalFilesystem.walk(to_local(top), topdown, onerror):
            yield to_uri(directory), subdirs, files


def register() -> None:
    """Makes fileio route ``fakegcs://`` here (idempotent; no other path uses the scheme)."""
    filesystem_registry.DEFAULT_FILESYSTEM_REGISTRY.register(FakeCloudFilesystem, priority=0)
