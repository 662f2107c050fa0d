"""How a SEG's frames are encoded: on every core for the codecs and frame counts where a pool pays, native ones in place.

A pool pays where encoding a frame costs more than starting and feeding a
worker: RLE and JPEG 2000 frames, not JPEG-LS ones (the measurements are in
``benchmarks/README.md``). Native frames (no compression, deflate) are not
encoded at all: they are collected in place (:mod:`.native_frames`), and
deflated on every core while highdicom builds the dataset
(:mod:`.deflating_ahead`), or else when it is saved (:mod:`.deflated_file`).
Frames deflated one by one (Supplement 244) are deflated on a thread per core
as highdicom hands them over (:mod:`.deflated_frames`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from pydicom import Dataset

from ..cores import ALL_CORES, available_cores
from .compression import Compression
from .deflated_frames import FrameDeflater, mark_frames_deflated
from .deflating_ahead import deflating_ahead
from .frame_pool import FramePool, fork_available
from .native_frames import STAND_IN_SYNTAX, FrameCollector, make_native

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


@dataclass(frozen=True)
class FrameEncoding:
    """How highdicom is asked to build a LABELMAP's frames: the transfer syntax and ``workers`` to give it."""

    transfer_syntax_uid: str
    workers: int | Executor

    def finish(self, seg: Dataset) -> None:
        """Give a dataset whose frames a :class:`FrameCollector` took or a :class:`FrameDeflater` deflated its syntax."""
        if isinstance(self.workers, FrameCollector):
            make_native(seg, self.workers)
        elif isinstance(self.workers, FrameDeflater):
            mark_frames_deflated(seg)


@contextmanager
def frame_encoder(compression: Compression, planes: np.ndarray, omit_empty: bool, requested: int) -> Iterator[FrameEncoding]:
    """How highdicom builds the frames of a LABELMAP of ``planes``, with ``requested`` workers.

    - native frames (no compression, deflate): collected in place, never joined;
      deflated frames are deflated meanwhile on threads (:mod:`.deflating_ahead`);
    - frames deflated one by one (Supplement 244): on a thread per core, as they come;
    - a codec, in this process or on ``requested`` workers where that pays:
      on a :class:`FramePool` that starts encoding at once where workers can be
      forked, else on highdicom's own pool. The pool is shut down on exit.
    """
    if compression is Compression.NONE:
        yield FrameEncoding(STAND_IN_SYNTAX, FrameCollector())
        return
    if compression is Compression.DEFLATE:
        with deflating_ahead(planes, omit_empty) as ahead:
            yield FrameEncoding(STAND_IN_SYNTAX, FrameCollector(ahead.deflated_for))
        return
    if compression is Compression.DEFLATE_FRAMES:
        with FrameDeflater() as deflater:
            yield FrameEncoding(STAND_IN_SYNTAX, deflater)
        return
    syntax = compression.frame_transfer_syntax_uid
    workers = encoding_workers(compression, planes.shape[0], requested)
    if workers == 0 or not fork_available():
        yield FrameEncoding(syntax, workers)
        return
    bits = np.iinfo(planes.dtype).bits
    expected = {
        "transfer_syntax_uid": syntax,
        "bits_allocated": bits,
        "bits_stored": bits,
        "photometric_interpretation": "MONOCHROME2",
        "pixel_representation": 0,
    }
    slab_frames = -(-planes.shape[0] // (workers * SLABS_PER_WORKER))
    with FramePool(planes, expected, omit_empty, workers, slab_frames) as pool:
        yield FrameEncoding(syntax, pool)
