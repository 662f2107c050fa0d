"""How many processes encode a SEG's frames: every core, for the codecs and frame counts where a pool pays.

highdicom encodes frames in a process pool when given ``workers``. Frames
travel to the workers pickled, so the pool pays only where encoding a frame
costs more than sending it: RLE and JPEG 2000 frames, not JPEG-LS ones (the
measurements are in ``benchmarks/README.md``). Deflate is not encoded by
highdicom; :mod:`.deflated_file` uses every core itself.
"""

from __future__ import annotations

import os

from .compression import Compression

ALL_CORES = -1
"""``ExportOptions.workers`` value: a worker per core where :func:`encoding_workers` finds that it pays."""

POOLED_CODECS = frozenset({Compression.RLE, Compression.JPEG2000})
"""Codecs whose frames encode faster in a pool than in one process, measured on two cores."""

FRAMES_PER_WORKER = 32
"""Fewer frames than this per worker do not pay for starting it."""


def encoding_workers(compression: Compression, frames: int, requested: int) -> int:
    """The ``workers`` to give highdicom for ``frames`` frames: ``requested``, or for :data:`ALL_CORES` what pays.

    0 means encoding in this process.
    """
    if requested != ALL_CORES:
        return requested
    if compression not in POOLED_CODECS:
        return 0
    workers = min(available_cores(), frames // FRAMES_PER_WORKER)
    return workers if workers > 1 else 0


def available_cores() -> int:
    """The cores this process may run on (its affinity where the system tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1
