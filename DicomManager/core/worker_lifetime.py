"""Worker processes that end with the process that started them.

A process pool's workers outlive their parent when it is killed (``kill -9``,
the out-of-memory killer): they go on converting, holding memory and files,
and so does multiprocessing's resource tracker, which waits for them. Each
worker calls :func:`end_with_parent` first thing. On Linux the kernel then
kills it when its parent ends (``prctl(PR_SET_PDEATHSIG)``); on other POSIX
systems (macOS) a thread sees it given to another parent and ends it. Windows
keeps a dead parent's id, so there the workers are not watched.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1
PARENT_POLL_SECONDS = 1.0
"""Where the kernel cannot be asked: how often a worker looks whether its parent is still there."""


def end_with_parent(parent_pid: int) -> None:
    """End this process when the process ``parent_pid`` that started it ends (or now, if it has ended already).

    On Linux the death signal is tied to the parent's thread that started
    this process; pools here start their workers from the thread that then
    uses them, which outlives the pool.
    """
    if os.name != "posix":
        return
    if not (sys.platform.startswith("linux") and _kernel_kills_with_parent()):
        threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # ended before the request was made
        os._exit(1)


def _kernel_kills_with_parent() -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)
