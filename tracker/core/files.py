"""Output files (export's calendars, dump's YAML): written whole or not at all, only when their bytes change,
into a folder made if missing; a folder that cannot be made or written is one error that names the file."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tracker.core.errors import InvalidInput


def write_if_changed(path: Path, data: bytes, command: str) -> bool:
    """Write `data` to `path` unless it already holds those bytes; True when written. Its folder is made, with
    its parents, if missing.
    :raises InvalidInput: "<command>: cannot write PATH: why" (a parent that is a file, no permission, a
        read-only or full disk)."""
    try:
        if path.is_file() and path.read_bytes() == data:
            return False
        atomic_write(path, data)
    except OSError as e:
        raise InvalidInput(f"{command}: cannot write {path}: {e.strerror or e}") from None
    return True


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
