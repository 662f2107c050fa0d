"""Write a file completely or not at all, and never replace one unasked.

Output goes to a temporary file beside the target, which is moved into place
only when it is complete: a failure (bad input found late, a full disk, an
interrupted run) leaves no half-written file for a PACS import or a pipeline
to pick up.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ...errors import OutputExistsError


def safe_file_name(text: str, fallback: str) -> str:
    """``text`` reduced to characters that are safe in file names on every system (``fallback`` if none are)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or fallback


def write_atomically(path: Path, write: Callable[[Path], None], overwrite: bool = False) -> None:
    """Call ``write(temporary_path)``, then move the result to ``path``.

    Raises :class:`OutputExistsError` when ``path`` exists and ``overwrite`` is
    false, checked before anything is written and again, atomically, at the end.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temporary_beside(path) as temporary:
        write(temporary)
        _give_default_permissions(temporary)
        if overwrite:
            os.replace(temporary, path)
        else:
            _move_without_replacing(temporary, path)


def refuse_existing(path: Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` when ``path`` exists and may not be replaced."""
    if not overwrite and Path(path).exists():
        raise OutputExistsError(f"{path}: exists already; choose another name or allow overwriting (--force).")


@contextlib.contextmanager
def _temporary_beside(path: Path) -> Iterator[Path]:
    # The temporary name ends with the target's name, so writers that choose a
    # format by file extension (Slicer's storage nodes) see the right one.
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=".partial-", suffix=f"-{path.name}")
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
    finally:
        temporary.unlink(missing_ok=True)


def _give_default_permissions(path: Path) -> None:
    """The permissions a file created with ``open()`` would have; mkstemp makes it private (0600)."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def _move_without_replacing(source: Path, target: Path) -> None:
    # A hard link fails atomically if the target appeared meanwhile; file
    # systems without hard links fall back to a checked rename.
    try:
        os.link(source, target)
    except FileExistsError:
        raise OutputExistsError(f"{target}: appeared while it was being written; nothing was replaced.") from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        refuse_existing(target, overwrite=False)
        os.replace(source, target)
