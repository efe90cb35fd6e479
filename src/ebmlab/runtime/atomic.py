"""Atomic file writes: write to a temporary file in the same folder, then rename.

A reader (or a resumed run) never sees a half-written file: either the old
content or the new one. The file gets the permissions a plain ``open`` would give
it (0666 less the umask), not the temporary file's private 0600, so run folders
and the data cache stay readable by whoever could read the folder. A write that
fails (no space left, permission lost, a file-size limit) leaves the previous
file as it was, removes its temporary file, and raises
:class:`~ebmlab.errors.WriteFailed` naming the file and the cause.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from ebmlab.errors import WriteFailed


def _read_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


FILE_MODE = 0o666 & ~_read_umask()  # read once, at import: setting the umask to read it is not thread-safe


def write_failed(path: Path, exc: OSError) -> WriteFailed:
    """The error of a failed write to ``path``: one line naming the file and the cause."""
    return WriteFailed(f"cannot write {path}: {exc.strerror or exc}")


class _File:
    """The temporary file as ``write`` sees it: an OSError of its own writes becomes :class:`WriteFailed`; any other
    error of ``write`` (a download's, say) passes through unchanged."""

    def __init__(self, f, path: Path) -> None:
        self._f, self._path = f, path

    def write(self, data):
        try:
            return self._f.write(data)
        except OSError as exc:
            raise write_failed(self._path, exc) from None

    def __getattr__(self, name: str):
        return getattr(self._f, name)


def atomic_write(path: str | Path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, fsync it, rename it to ``path``."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise write_failed(path, exc) from None
    try:
        with os.fdopen(fd, mode) as f:
            write(_File(f, path))
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as exc:
                raise write_failed(path, exc) from None
        try:
            os.chmod(tmp, FILE_MODE)
            os.replace(tmp, path)
        except OSError as exc:
            raise write_failed(path, exc) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text), mode="w")


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def atomic_torch_save(path: str | Path, obj: Any) -> Path:
    """``torch.save`` into memory first, so that a failing disk raises an OSError of the write, not torch's own."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return atomic_write(path, lambda f: f.write(buffer.getbuffer()))
