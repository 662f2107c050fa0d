"""The command line's path arguments, checked where they are parsed: each one that is wrong is named in one line.

Each function is an argparse ``type``: it returns the :class:`~pathlib.Path`
or raises :class:`~DicomManager.errors.InputPathError`, which argparse does
not catch, so that the command line reports it as it reports every error of
ours (one line, status 1) rather than as a usage error.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import InputPathError


def input_file(text: str) -> Path:
    """A file that exists and can be read."""
    path = Path(text)
    if not path.exists():
        raise InputPathError(f"{path}: no such file.")
    if path.is_dir():
        raise InputPathError(f"{path}: is a folder; a file is expected here.")
    _refuse_unreadable(path)
    return path


def input_folder(text: str) -> Path:
    """A folder that exists and whose entries can be listed and read."""
    path = Path(text)
    if not path.exists():
        raise InputPathError(f"{path}: no such folder.")
    if not path.is_dir():
        raise InputPathError(f"{path}: is a file; a folder is expected here.")
    _refuse_unreadable(path)
    return path


def input_file_or_folder(text: str) -> Path:
    """A file or a folder that exists and can be read."""
    path = Path(text)
    if not path.exists():
        raise InputPathError(f"{path}: no such file or folder.")
    _refuse_unreadable(path)
    return path


STANDARD_OUTPUT = "-"


def output_file(text: str) -> Path:
    """A file to write: not standard output (no command writes its output there), not a folder, not below a file."""
    _refuse_standard_output(text)
    path = Path(text)
    if path.is_dir():
        raise InputPathError(f"{path}: is a folder; give the name of the file to write.")
    _refuse_file_as_folder(path.parent)
    return path


def output_folder(text: str) -> Path:
    """A folder to write into (made when missing): not standard output, not a file, and not below a file."""
    _refuse_standard_output(text)
    path = Path(text)
    _refuse_file_as_folder(path)
    return path


def _refuse_standard_output(text: str) -> None:
    if text == STANDARD_OUTPUT:
        raise InputPathError("'-' (standard output) is not an output here; give a file name.")


def _refuse_unreadable(path: Path) -> None:
    needed = os.R_OK | os.X_OK if path.is_dir() else os.R_OK
    if not os.access(path, needed):
        raise InputPathError(f"{path}: cannot be read (permission denied).")


def _refuse_file_as_folder(path: Path) -> None:
    """Refuse ``path`` or a folder above it that exists as a file."""
    for folder in (path, *path.parents):
        if folder.exists():
            if not folder.is_dir():
                raise InputPathError(f"{folder}: is a file; a folder is expected here.")
            return
