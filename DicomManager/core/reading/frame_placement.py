"""Decoding a LABELMAP's frames into their places in the label volume: in this process, or on forked workers.

Each frame is decoded, checked to hold only the values the SEG describes, and
written to its place in the label volume. On workers the label volume lies in
an anonymous shared mapping made before they are forked: each worker decodes
a run of consecutive frames straight into it, and only a count (or an error)
comes back, so no frame travels between processes. The runs are decoded as
this process would decode them; only the speed depends on the workers.

Forking needs the ``fork`` start method, and is never done in the Slicer
application: the library default is this process (``workers=0``), the command
line asks for :data:`~DicomManager.core.codecs.encoding_workers.ALL_CORES`.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from ...errors import SegFileError
from ..codecs.encoding_workers import ALL_CORES
from ..codecs.frame_pool import fork_available
from ..cores import available_cores
from ..segments.label_layers import values_not_in
from ..worker_lifetime import end_with_parent
from .frames import FrameReader

FRAMES_PER_WORKER = {RLELossless: 256, JPEGLSLossless: 256, JPEG2000Lossless: 16}
"""The fewest frames per worker that pay for forking it, by transfer syntax, measured on two cores.

A worker's writes into shared memory cost more than private ones (its pages
fault in more slowly): B's 185 RLE or JPEG-LS frames decode faster in one
process, D750's 750 on two. JPEG 2000 frames take ten times longer to decode
and pay from a few. Native and deflated frames are copied, not decoded, and a
deflated dataset is inflated whole before any frame: they stay in this
process. The figures are in ``benchmarks/README.md``.
"""
SHOWN_VALUES = 10
"""Undescribed pixel values named in an error at most."""

Place = tuple[int, int, int]
"""Where a frame goes in the label volume: slice, first row, first column."""

_run: _FrameRun | None = None
"""In a worker: the frames to place, inherited from the process that forked it."""


def decoding_workers(transfer_syntax_uid: str, frames: int, requested: int) -> int:
    """The processes to decode ``frames`` frames on: ``requested``, or for ALL_CORES what pays; 0 is this process."""
    if requested != ALL_CORES:
        return requested if requested > 1 and fork_available() else 0
    if transfer_syntax_uid not in FRAMES_PER_WORKER:
        return 0
    workers = min(available_cores(), frames // FRAMES_PER_WORKER[transfer_syntax_uid])
    return workers if workers > 1 and fork_available() else 0


def new_label_volume(shape: tuple[int, ...], dtype: np.dtype, fill: int, shared: bool) -> np.ndarray:
    """A label volume of ``fill``, in memory that forked workers write to when ``shared``.

    Zeroed pages come from the system untouched, so slices no frame covers cost nothing.
    """
    if not shared:
        return np.zeros(shape, dtype) if fill == 0 else np.full(shape, fill, dtype)
    count = int(np.prod(shape))
    shared_memory = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize))  # a mapping cannot be empty
    labels = np.frombuffer(shared_memory, dtype, count).reshape(shape)
    if fill:
        labels.fill(fill)
    return labels


class _FrameRun:
    """The frames of one SEG and their places, decoded a run at a time by :meth:`place`."""

    def __init__(self, reader: FrameReader, path: Path, labels: np.ndarray, places: Sequence[Place], allowed: list[int]):
        self.reader, self.path, self.labels, self.places, self.allowed = reader, path, labels, places, allowed

    def place(self, start: int, stop: int) -> int:
        """Decode frames ``start`` to ``stop`` (0-based) into their places; the number the pixel data held."""
        rows, columns = frame_shape = self.reader.frame_shape
        decoded = start
        frames = self.reader.frames(range(start, stop))
        for frame, (slice_index, row, column) in zip(frames, self.places[start:stop], strict=False):  # too few: counted
            if frame.shape != frame_shape:
                raise SegFileError(f"{self.path}: frame {decoded + 1} decodes to {frame.shape}, not {rows}x{columns}.")
            undescribed = values_not_in(frame, self.allowed)
            if undescribed:
                shown = ", ".join(str(value) for value in undescribed[:SHOWN_VALUES])
                raise SegFileError(f"{self.path}: pixel values {shown} are the number of no segment in SegmentSequence.")
            self.labels[slice_index, row : row + rows, column : column + columns] = frame
            decoded += 1
        return decoded - start


def place_frames(
    reader: FrameReader, path: Path, labels: np.ndarray, places: Sequence[Place], allowed: list[int], workers: int
) -> int:
    """Decode every frame into its place in ``labels`` (shared, from :func:`new_label_volume`, when ``workers``).

    Returns how many frames the pixel data held, up to ``len(places)``.
    """
    run = _FrameRun(reader, path, labels, places, allowed)
    if workers <= 1:
        return run.place(0, len(places))
    bounds = np.linspace(0, len(places), workers + 1).astype(int)
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers - 1, mp_context=context, initializer=_adopt, initargs=(run, os.getpid())) as pool:
        others = [pool.submit(_place_run, int(start), int(stop)) for start, stop in pairwise(bounds[1:])]
        try:
            decoded = run.place(0, int(bounds[1]))
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
        return decoded + sum(other.result() for other in others)


def _adopt(run: _FrameRun, parent_pid: int) -> None:
    global _run
    end_with_parent(parent_pid)
    _run = run


def _place_run(start: int, stop: int) -> int:
    assert _run is not None, "the worker was not forked with the frames"
    return _run.place(start, stop)
