"""Output paths: checked before any work, so a solve of a minute never ends in "cannot write", and written
through a temporary file renamed into place, so a failed write never leaves half a file or clobbers the
old one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pexcp.errors import OutputError


def _probe(folder: Path, what: str) -> None:
    """Create and remove a file in `folder`: the only test of writability that holds for root too."""
    try:
        fd, name = tempfile.mkstemp(dir=folder, prefix=".pexcp-probe-")
        os.close(fd)
        os.unlink(name)
    except OSError as e:
        raise OutputError(f"cannot write {what}: {folder} is not writable ({e.strerror})") from None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def check_file(path: Path, option: str, *inputs: Path) -> None:
    """Refuse, before any work, an output file that cannot be written: a folder, a device or pipe (whose
    writes cannot be tested without writing), a missing or read-only folder, or one of the inputs."""
    for source in inputs:
        if _same(path, source) or path.resolve() == source.resolve():
            raise OutputError(f"{option} {path} is an input of this command: it would be overwritten")
    if path.is_dir():
        raise OutputError(f"{option} {path} is a directory; give a file name")
    if path.exists() and not path.is_file():
        raise OutputError(f"{option} {path} is not a regular file (a device or a pipe); give a file name")
    folder = path.parent
    if not folder.is_dir():
        raise OutputError(f"{option} {path}: folder {folder} does not exist")
    _probe(folder, f"{option} {path}")


def check_folder(path: Path, option: str) -> None:
    """Refuse, before any work, an output folder that cannot be created or written."""
    if path.exists() and not path.is_dir():
        raise OutputError(f"{option} {path} exists and is not a directory")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{option} {path}: {existing} is not a directory")
    _probe(existing, f"{option} {path}")


def write_file(path: Path, data: str | bytes, option: str) -> None:
    """Write `data` (text, or bytes such as a serialised model) to `path` atomically (see the module
    docstring); failures are one-line OutputErrors."""
    try:
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:
        raise OutputError(f"cannot write {option} {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") if isinstance(data, bytes) else os.fdopen(fd, "w", newline="") as f:
            f.write(data)
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask()
        os.chmod(temp, mode)
        os.replace(temp, path)
    except OSError as e:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise OutputError(f"cannot write {option} {path}: {e.strerror}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
