"""Write a file completely or not at all, and never replace one unasked.

Output goes to a temporary file beside the target, which is moved into place
only when it is complete: a failure (bad input found late, a full disk, an
interrupted run) leaves no half-written file for a PACS import or a pipeline
to pick up.

A temporary file is hidden and named for its target, its writer's process and
host: ``.IMG0001.dcm.partial-4242@host-k3j2x9a1``. It does not end in the
target's extension, so no DICOM tool takes it for a finished file (writers
that choose a format by extension get it repeated at the end). One left by a
writer that was killed is removed the first time a process writes into its
folder, once the writer is gone: no process has its PID, or the one that has
it started after the file last changed (the PID was reused, after a reboot for
one). One from another host is left alone, since whether its writer lives
cannot be known here.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ...errors import OutputExistsError, OutputWriteError

_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EFBIG: "file too large (the file system's or the process's file size limit)",
}

_HOST = re.sub(r"\W", "_", socket.gethostname()) or "host"
_PARTIAL_MARK = ".partial-"


def safe_file_name(text: str, fallback: str) -> str:
    """``text`` reduced to characters that are safe in file names on every system (``fallback`` if none are)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or fallback


def os_error_cause(error: OSError) -> str:
    """What an ``OSError`` means for the one writing, in a few words: "no space left on the device"."""
    error = _system_error(error)
    return _CAUSES.get(error.errno, error.strerror or str(error).splitlines()[0])


def describe_os_error(error: OSError) -> str:
    """One line for a refused system call: the path it names, then why ("no space left on the device")."""
    filename = _system_error(error).filename
    return f"{filename}: {os_error_cause(error)}" if filename else os_error_cause(error)


def _system_error(error: OSError) -> OSError:
    """The error the system call raised, under those that libraries raise from it (pydicom names the tag so)."""
    while error.errno is None and isinstance(error.__cause__ or error.__context__, OSError):
        error = error.__cause__ or error.__context__
    return error


def write_atomically(
    path: Path, write: Callable[[Path], None], overwrite: bool = False, *, keep_extension: bool = False
) -> None:
    """Call ``write(temporary_path)``, then move the result to ``path``.

    ``keep_extension``: the temporary file ends with the target's extension
    too, and is left for ``write`` to create, as writers that choose the
    format by extension want it (Slicer's storage nodes, which say so when
    they replace a file).

    Raises
    ------
    OutputExistsError
        When ``path`` exists and ``overwrite`` is false, checked before
        anything is written and again, atomically, at the end.
    OutputWriteError
        When the system refuses the folder or the file (full disk, read-only,
        permission); nothing is left behind.
    """
    path = Path(path)
    refuse_existing(path, overwrite)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputWriteError(f"{path.parent}: cannot make this folder: {os_error_cause(error)}.") from error
    _sweep_once(path.parent)
    try:
        with _temporary_beside(path, keep_extension) as temporary:
            write(temporary)
            _give_default_permissions(temporary)
            if overwrite:
                os.replace(temporary, path)
            else:
                _move_without_replacing(temporary, path)
    except OSError as error:
        raise OutputWriteError(f"{path}: cannot be written: {os_error_cause(error)}.") from error


def refuse_unreported_failure(path: Path) -> None:
    """For writers that do not report a failed write (VTK's and ITK's on a full disk): refuse what they left.

    Raises ``OSError`` (no space left) when the file is empty or its file
    system has no space left after the write, which then most likely failed.
    """
    path = Path(path)
    full = False
    if hasattr(os, "statvfs"):
        usage = os.statvfs(path)
        full = usage.f_bfree == 0 or (usage.f_bavail == 0 and os.geteuid() != 0)
    if full or path.stat().st_size == 0:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


@contextlib.contextmanager
def all_or_none() -> Iterator[list[Path]]:
    """Outputs that belong together: the caller adds each path once written; if a later one fails, they are removed."""
    written: list[Path] = []
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def refuse_existing(path: Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` when ``path`` exists and may not be replaced."""
    if not overwrite and Path(path).exists():
        raise OutputExistsError(f"{path}: exists already; nothing was replaced.")


def being_written_elsewhere(path: Path) -> bool:
    """Whether another process is writing ``path``: one that lives, with a temporary file for it.

    Whether a writer on another host (shared storage) lives cannot be known
    here: its temporary file counts for :data:`OTHER_HOST_WRITE_SECONDS`
    after its last change.
    """
    path = Path(path)
    return any(map(_being_written, _partials_in(path.parent, prefix=f".{path.name}{_PARTIAL_MARK}")))


def remove_stale_partials(folder: Path) -> None:
    """Remove the temporary files in ``folder`` that writers on this host left when they were killed."""
    for partial in _partials_in(Path(folder)):
        if _is_stale(partial):
            with contextlib.suppress(OSError):  # gone already, or the folder is read-only now
                partial.unlink()


OTHER_HOST_WRITE_SECONDS = 3600.0
"""How long another host's temporary file counts as being written after its last change (a SEG is saved in seconds)."""

_swept_folders: set[Path] = set()
"""Folders this process has removed stale temporary files from: each is listed once, not once per file written."""

_PARTIAL_WRITER = re.compile(r"\.partial-(?P<pid>\d+)@(?P<host>\w+)-\w+")


def _sweep_once(folder: Path) -> None:
    if folder not in _swept_folders:
        _swept_folders.add(folder)
        remove_stale_partials(folder)


def _partials_in(folder: Path, prefix: str = ".") -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [Path(entry.path) for entry in entries if entry.name.startswith(prefix) and _PARTIAL_MARK in entry.name]
    except OSError:
        return []


def _writer_of(partial: Path) -> tuple[int, str] | None:
    match = _PARTIAL_WRITER.match(partial.name, partial.name.rfind(_PARTIAL_MARK))
    return (int(match["pid"]), match["host"]) if match else None


def _being_written(partial: Path) -> bool:
    writer = _writer_of(partial)
    if writer is None or writer == (os.getpid(), _HOST):
        return False
    if writer[1] == _HOST and os.name == "posix":
        return _writer_lives(writer[0], partial)
    try:
        return time.time() - partial.stat().st_mtime < OTHER_HOST_WRITE_SECONDS
    except OSError:
        return False


def _is_stale(partial: Path) -> bool:
    """Left by a process of this host that is gone; one of another host, or not named by us, is never stale."""
    writer = _writer_of(partial)
    return writer is not None and writer[1] == _HOST and os.name == "posix" and not _writer_lives(writer[0], partial)


START_TOLERANCE_SECONDS = 2.0
"""How much later than a temporary file's last change its writer may seem to start: /proc gives boot time in whole
seconds, and the clock may have been set since."""


def _writer_lives(pid: int, partial: Path) -> bool:
    """Whether process ``pid`` of this host runs and can be the one writing ``partial``.

    A zombie (killed, not yet reaped by its parent) is not, nor a process
    that started after ``partial`` last changed: its PID was reused, after a
    reboot or by the system's counter wrapping, and the writer is gone. Where
    there is no /proc to ask when a process started, a living one counts.
    """
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        pass
    state = _process_state(pid)
    if state is None:
        return True
    ended, started = state
    if ended:
        return False
    try:
        changed = partial.stat().st_mtime
    except OSError:
        return True  # removed meanwhile: by its writer, finishing, as far as anyone here knows
    return started is None or started <= changed + START_TOLERANCE_SECONDS


def _process_state(pid: int) -> tuple[bool, float | None] | None:
    """From /proc: whether ``pid`` has ended (waiting to be reaped), and when it started (seconds since the epoch).

    None where there is no /proc to ask; the start is None where the boot time cannot be read.
    """
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    boot = _boot_time()
    started = boot + int(fields[_STAT_START_TIME]) / os.sysconf("SC_CLK_TCK") if boot is not None else None
    return fields[0] in ("Z", "X"), started


_STAT_START_TIME = 19
"""Index of starttime (field 22 of /proc/PID/stat, in clock ticks after boot) among the fields after the command name."""


@functools.cache
def _boot_time() -> float | None:
    """When this host booted, in seconds since the epoch (btime of /proc/stat); None where it cannot be read."""
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


@contextlib.contextmanager
def _temporary_beside(path: Path, keep_extension: bool) -> Iterator[Path]:
    extension = "." + path.name.partition(".")[2] if keep_extension and "." in path.name else ""
    prefix = f".{path.name}{_PARTIAL_MARK}{os.getpid()}@{_HOST}-"
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=extension)
    os.close(descriptor)
    temporary = Path(name)
    if keep_extension:
        temporary.unlink()
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
