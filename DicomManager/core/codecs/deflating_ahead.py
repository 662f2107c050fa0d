"""Deflating a label volume's frames while highdicom builds the dataset they go into.

A deflated SEG (Deflated Explicit VR Little Endian) is one deflate stream of
its whole dataset: the elements before Pixel Data, the frames, the elements
after. The frames are nearly all of it, and they are known before highdicom
starts: the non-empty planes in order (all planes when empty frames are
kept), as :class:`.frame_pool.FramePool` expects them too. So they are
deflated on threads as soon as the planes exist, as the middle of that
stream: started from no dictionary and ended on a sync flush, it joins
whatever deflated data comes before it and after it. zlib lets go of the GIL
while it compresses, so this runs beside highdicom's Python, a thread per
core (leaving one core to highdicom alone costs more: the frames are then
not deflated when it is done). :func:`.deflated_file.save_deflated` then
deflates the elements around them.

The frames highdicom hands over are checked against the expected ones: if
they differ (another order, another count), the deflated frames are not
used and the file is deflated whole as before, so a wrong expectation costs
time, never the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from io import BytesIO

import numpy as np

from ..cores import available_cores
from .deflated_file import deflate_stream
from .frame_pool import frame_planes
from .native_frames import NativeFrames


class DeflatingAhead:
    """The expected frames of ``planes``, deflated on a background thread as the middle of a deflated dataset."""

    def __init__(self, planes: np.ndarray, omit_empty: bool) -> None:
        self._frames = [planes[index] for index in frame_planes(planes, omit_empty)]
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="deflating-ahead")
        self._deflated = self._thread.submit(_deflate_middle, NativeFrames(self._frames), available_cores())

    def deflated_for(self, frames: Sequence[np.ndarray]) -> bytes | None:
        """``frames`` deflated, waiting for it if need be, when they are the expected frames; else None."""
        if len(frames) != len(self._frames) or not all(map(_same_frame, frames, self._frames)):
            return None
        return self._deflated.result()

    def close(self, cancel: bool = False) -> None:
        """Let the thread go once its deflating is done, the deflated frames kept for :meth:`deflated_for`; or cancel it."""
        self._thread.shutdown(wait=False, cancel_futures=cancel)


@contextmanager
def deflating_ahead(planes: np.ndarray, omit_empty: bool) -> Iterator[DeflatingAhead]:
    """A :class:`DeflatingAhead` of ``planes`` for the block that builds their dataset; cancelled if the block fails."""
    ahead = DeflatingAhead(planes, omit_empty)
    try:
        yield ahead
    except BaseException:
        ahead.close(cancel=True)
        raise
    ahead.close()


def _deflate_middle(frames: NativeFrames, workers: int) -> bytes:
    deflated = BytesIO()
    deflate_stream(list(frames.pieces()), deflated, workers=workers, finish=False)
    return deflated.getvalue()


def _same_frame(given: np.ndarray, expected: np.ndarray) -> bool:
    """Whether ``given`` holds the bytes of ``expected``: the same view of the same memory, or equal values of one type."""
    if given.__array_interface__ == expected.__array_interface__:
        return True
    return given.dtype == expected.dtype and np.array_equal(given, expected)
