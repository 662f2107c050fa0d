"""Native Pixel Data that is never joined: the frames highdicom hands its encoder, read in place as one stream.

highdicom builds native (uncompressed) Pixel Data by collecting every frame's
bytes and joining them: the frames twice over, at once. For the transfer
syntaxes whose frames are stored native (Explicit VR Little Endian, and
Deflated Explicit VR Little Endian, which deflates the whole dataset),
highdicom is instead asked for an encapsulated dataset with a
:class:`FrameCollector` taking its frames (through
:mod:`.highdicom_frame_calls`): it hands the collector each frame (a view of
its own label array) in file order, and the collector encodes none.
The dataset then gets the native syntax and a :class:`NativeFrames` value for
Pixel Data, which pydicom writes as a buffered value, and the deflated writer
streams from, a frame at a time.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np
from pydicom import Dataset
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from .pixel_data_element import PIXEL_DATA_TAG, native_pixel_data_vr

STAND_IN_SYNTAX = RLELossless
"""The encapsulated syntax highdicom builds with while the collector takes the frames: any that LABELMAP allows."""
PLACEHOLDER = b"\x00\x00"
"""What the collector returns for a frame: the smallest fragment pydicom encapsulates, dropped with the rest."""


class FrameCollector:
    """A frame sink that takes each frame highdicom would encode, in order, and encodes none (see the module docstring).

    ``deflated_for``: where the frames are being deflated ahead (see
    :mod:`.deflating_ahead`), what gives the collected frames deflated, or
    None when they are not the frames deflated.
    """

    def __init__(self, deflated_for: Callable[[Sequence[np.ndarray]], bytes | None] | None = None) -> None:
        self.frames: list[np.ndarray] = []
        self._deflated_for = deflated_for

    def deflated(self) -> bytes | None:
        """The collected frames deflated ahead, where they were and these are the frames; else None."""
        return self._deflated_for(self.frames) if self._deflated_for else None

    def take(self, frame: np.ndarray, arguments: Mapping[str, Any]) -> Future:
        """Keep ``frame``; highdicom gets a placeholder for its encoding."""
        self.frames.append(frame)
        collected: Future = Future()
        collected.set_result(PLACEHOLDER)
        return collected


class NativeFrames(io.BufferedIOBase):
    """The frames' little-endian bytes one after another, padded to an even length: a read-only, seekable stream.

    ``deflated``: the same bytes deflated already, as the middle of a deflated
    dataset (see :mod:`.deflating_ahead`), or None.
    """

    def __init__(self, frames: Sequence[np.ndarray], deflated: bytes | None = None) -> None:
        super().__init__()
        self.deflated = deflated
        self._views = [memoryview(little_endian(frame)).cast("B") for frame in frames]
        total = sum(len(view) for view in self._views)
        if total % 2:
            self._views.append(memoryview(b"\x00"))
        self._starts = np.cumsum([0] + [len(view) for view in self._views])
        self._position = 0

    def __len__(self) -> int:
        return int(self._starts[-1])

    def pieces(self) -> Iterator[memoryview]:
        """The stream's bytes as they lie: one view per frame, then the pad byte if any."""
        yield from self._views

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: len(self)}[whence]
        self._position = max(0, base + offset)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        end = len(self) if size is None or size < 0 else min(len(self), self._position + size)
        chunks = []
        while self._position < end:
            index = int(np.searchsorted(self._starts, self._position, side="right")) - 1
            offset = self._position - int(self._starts[index])
            take = min(len(self._views[index]) - offset, end - self._position)
            chunks.append(self._views[index][offset : offset + take])
            self._position += take
        return b"".join(chunks)

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)


def make_native(dataset: Dataset, collector: FrameCollector) -> None:
    """Give a dataset built with :data:`STAND_IN_SYNTAX` and ``collector`` its native syntax and the collected frames."""
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    del dataset[PIXEL_DATA_TAG]
    pixel_data = NativeFrames(collector.frames, collector.deflated())
    dataset.add_new(PIXEL_DATA_TAG, native_pixel_data_vr(int(dataset.BitsAllocated)), pixel_data)


def little_endian(frame: np.ndarray) -> np.ndarray:
    """The frame as a contiguous little-endian array: itself where it is one already."""
    if frame.dtype.byteorder == ">" or (frame.dtype.byteorder == "=" and sys.byteorder == "big"):
        frame = frame.astype(frame.dtype.newbyteorder("<"))
    return np.ascontiguousarray(frame)
