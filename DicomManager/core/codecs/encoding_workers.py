"""How many processes encode a SEG's frames: for the codecs and frame counts where a pool pays, one per core.

A pool pays where encoding a frame costs more than starting and feeding a
worker: RLE and JPEG 2000 frames, not JPEG-LS ones (the measurements are in
``benchmarks/README.md``). Native frames (no compression, deflate) are not
encoded at all (see :mod:`.compression_strategies`).
"""

from __future__ import annotations

from ..cores import ALL_CORES, available_cores
from .compression import Compression

POOLED_CODECS = frozenset({Compression.RLE, Compression.JPEG2000})
"""Codecs whose frames encode faster in a pool than in one process, measured on two cores."""

FRAMES_PER_WORKER = 32
"""Fewer frames than this per worker do not pay for starting it."""
SLABS_PER_WORKER = 4
"""Messages each worker gets: more balance the load, fewer cost less."""


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
