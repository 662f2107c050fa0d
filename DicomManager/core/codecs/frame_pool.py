"""Encoding a label volume's frames on every core, ahead of highdicom, without sending the frames anywhere.

highdicom, given an Executor as ``workers``, submits one call per frame,
``encode_frame(array=frame, ...)``, as its frame loop reaches the frame, and
collects the results once every frame is submitted (what
:mod:`.highdicom_frame_calls` checks before it hands a frame on). With a plain process pool
each frame then travels pickled through a pipe, which for label frames costs
about what encoding them does, and the workers start only when highdicom's
loop does, after it has worked out the frames' geometry.

:class:`FramePool` forks its workers from this process once the planes exist,
so they read the planes where they are, and starts them at once on the frames
highdicom is expected to hand over: the non-empty planes in order (all planes
when empty frames are kept), encoded with the expected ``encode_frame``
arguments. When highdicom hands over a frame, the pool checks that it is the
next expected plane with the expected arguments and hands back that plane's
encoding. Any other frame (another order, other arguments) ends the
prediction: that frame and all later ones are encoded as handed over, so the
result never depends on the prediction being right, only the speed does. Figures are in
``benchmarks/README.md``.

Forking needs the ``fork`` start method (Linux, macOS); elsewhere
:func:`fork_available` is false and frames are encoded by highdicom's own pool.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections import deque
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from highdicom.frame import encode_frame

from ..worker_lifetime import end_with_parent

logger = logging.getLogger(__name__)

_planes: np.ndarray | None = None
"""In a worker: the planes, inherited from the process that forked it."""


@dataclass(frozen=True)
class _Expected:
    """An expected call: plane ``index``, and the future its slab will settle."""

    index: int
    future: Future


class FramePool:
    """A frame sink for highdicom's frame encoding that encodes ``planes`` ahead on ``workers`` forked processes.

    Parameters
    ----------
    planes:
        The array highdicom is given, planes along its first axis.
    encode_arguments:
        The keyword arguments highdicom is expected to pass ``encode_frame``
        besides the frame.
    omit_empty:
        Whether highdicom omits empty frames (``omit_empty_frames``).
    workers, slab_frames:
        Processes, and planes each of them encodes per message.
    """

    def __init__(
        self, planes: np.ndarray, encode_arguments: dict[str, Any], omit_empty: bool, workers: int, slab_frames: int
    ) -> None:
        self._planes = planes
        self._encode_arguments = encode_arguments
        self._processes = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("fork"), initializer=_adopt_planes,
            initargs=(planes, os.getpid()),
        )
        indices = frame_planes(planes, omit_empty)
        self._expected: deque[_Expected] = deque()
        self.frames_encoded_ahead = 0
        """How many frames handed over were answered by the encoding done ahead."""
        slab_frames = max(1, slab_frames)
        for start in range(0, len(indices), slab_frames):
            slab_indices = indices[start : start + slab_frames]
            futures = [Future() for _ in slab_indices]
            slab = self._processes.submit(_encode_planes, slab_indices, encode_arguments)
            slab.add_done_callback(lambda done, futures=futures: _settle(done, futures))
            self._expected.extend(_Expected(index, future) for index, future in zip(slab_indices, futures, strict=True))

    def take(self, frame: np.ndarray, arguments: Mapping[str, Any]) -> Future:
        """The future of ``frame`` encoded with ``arguments``: from the encoding done ahead where it is the next expected."""
        if self._expected and self._is_next_expected(frame, arguments):
            self.frames_encoded_ahead += 1
            return self._expected.popleft().future
        self._expected.clear()  # slabs already sent finish unused: a wrong prediction costs time, never the result
        return self._processes.submit(encode_frame, array=frame, **arguments)

    def __enter__(self) -> FramePool:
        return self

    def __exit__(self, *exception: object) -> None:
        logger.debug("%d frames were encoded ahead", self.frames_encoded_ahead)
        self._processes.shutdown(wait=True, cancel_futures=exception[0] is not None)

    def _is_next_expected(self, frame: np.ndarray, arguments: Mapping[str, Any]) -> bool:
        if dict(arguments) != self._encode_arguments:
            return False
        return bool(np.array_equal(frame, self._planes[self._expected[0].index]))


def frame_planes(planes: np.ndarray, omit_empty: bool) -> list[int]:
    """The planes highdicom is expected to make frames of, in file order: those not empty, or all when empty ones are kept."""
    return [k for k in range(planes.shape[0]) if not omit_empty or planes[k].any()]


def fork_available() -> bool:
    """Whether workers can be forked from this process, as :class:`FramePool` needs."""
    return "fork" in multiprocessing.get_all_start_methods()


def _adopt_planes(planes: np.ndarray, parent_pid: int) -> None:
    global _planes
    end_with_parent(parent_pid)
    _planes = planes


def _encode_planes(indices: list[int], encode_arguments: dict[str, Any]) -> list[bytes]:
    assert _planes is not None, "the worker was not forked with the planes"
    return [encode_frame(np.ascontiguousarray(_planes[index]), **encode_arguments) for index in indices]


def _settle(slab: Future, futures: list[Future]) -> None:
    if slab.cancelled():
        for future in futures:
            future.cancel()
        return
    error = slab.exception()
    if error is not None:
        for future in futures:
            future.set_exception(error)
        return
    for future, result in zip(futures, slab.result(), strict=True):
        future.set_result(result)
