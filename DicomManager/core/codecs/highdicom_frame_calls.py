"""The one place that relies on how highdicom hands frames to an Executor: checked on every call, plain highdicom the fallback.

highdicom (0.27 and 0.28), building an encapsulated dataset with an
Executor as ``workers``, calls ``submit(encode_frame, array=frame, **arguments)``
once per frame, in file order, and encapsulates what the futures give. It does
not promise this, and our fastest encodings depend on it: the frame sinks
(:class:`.native_frames.FrameCollector`, :class:`.deflated_frames.FrameDeflater`,
:class:`.frame_pool.FramePool`) take those frames as they come. So highdicom is
given :class:`HighdicomFrameCalls`, which checks the shape of each call
(highdicom's own ``encode_frame``, the frame as ``array=``, no positional
arguments) and, once the dataset is built, that there was one call per frame;
only then does it hand the frame to the sink. On anything else
:func:`built_by_highdicom` builds the dataset again with plain highdicom (the
compression's own transfer syntax and highdicom's own encoding), which writes
the same file: a surprise costs time, never the result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np
from highdicom.frame import encode_frame
from pydicom import Dataset

logger = logging.getLogger(__name__)

BuiltDataset = TypeVar("BuiltDataset", bound=Dataset)


class FrameSink(Protocol):
    """What takes the frames highdicom would encode: each frame and the other ``encode_frame`` arguments, in order."""

    def take(self, frame: np.ndarray, arguments: Mapping[str, Any]) -> Future:
        """The future of the frame's encoded bytes, which highdicom encapsulates."""


def _nothing(dataset: Dataset) -> None:
    """A dataset highdicom built needs nothing more."""


@dataclass(frozen=True)
class FrameEncoding:
    """How highdicom is asked to encode a SEG's frames, and what the built dataset needs after.

    ``workers`` is what highdicom's ``workers`` gets (processes, 0 for this
    one), or a :class:`FrameSink` that takes the frames through
    :class:`HighdicomFrameCalls`; ``finish`` completes the dataset built so.
    """

    transfer_syntax_uid: str
    workers: int | FrameSink
    finish: Callable[[Dataset], None] = field(default=_nothing)


class UnexpectedFrameCall(Exception):
    """highdicom handed over its frames otherwise than :class:`HighdicomFrameCalls` relies on.

    Not a ValueError or RuntimeError: those are highdicom's refusals of the data.
    """


class HighdicomFrameCalls(Executor):
    """The Executor highdicom is given: checks each call's shape and passes the frame to a :class:`FrameSink`."""

    def __init__(self, sink: FrameSink) -> None:
        self._sink = sink
        self.calls = 0
        """How many frames were handed over."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        if fn is not encode_frame or args or "array" not in kwargs:
            name = getattr(fn, "__module__", "?") + "." + getattr(fn, "__qualname__", repr(fn))
            raise UnexpectedFrameCall(f"submit({name}, {len(args)} positional arguments, keywords {sorted(kwargs)})")
        frame = kwargs.pop("array")
        self.calls += 1
        return self._sink.take(frame, kwargs)


def built_by_highdicom(
    build: Callable[[str, int | Executor], BuiltDataset],
    fast: AbstractContextManager[FrameEncoding],
    plain: Callable[[], FrameEncoding],
) -> BuiltDataset:
    """The dataset ``build(transfer_syntax_uid, workers)`` makes, with the ``fast`` encoding where highdicom plays along.

    ``fast`` is entered around the build and left after ``finish``; where
    highdicom's calls are not as expected, the dataset is built again with the
    ``plain`` encoding, which needs no assumption about highdicom's calls.
    """
    try:
        with fast as encoding:
            if isinstance(encoding.workers, int):
                return _built(build, encoding.transfer_syntax_uid, encoding.workers, encoding.finish)
            calls = HighdicomFrameCalls(encoding.workers)
            dataset = build(encoding.transfer_syntax_uid, calls)
            if calls.calls != int(dataset.NumberOfFrames):
                raise UnexpectedFrameCall(f"{calls.calls} frames handed over for {dataset.NumberOfFrames} in the dataset")
            encoding.finish(dataset)
            return dataset
    except UnexpectedFrameCall as unexpected:
        logger.warning("highdicom did not hand over its frames as expected (%s); building the SEG with highdicom's own "
                       "encoding", unexpected)
    encoding = plain()
    if not isinstance(encoding.workers, int):
        raise TypeError(f"a plain encoding gives highdicom a number of workers, not {encoding.workers!r}")
    return _built(build, encoding.transfer_syntax_uid, encoding.workers, encoding.finish)


def _built(
    build: Callable[[str, int | Executor], BuiltDataset], syntax: str, workers: int, finish: Callable[[Dataset], None]
) -> BuiltDataset:
    dataset = build(syntax, workers)
    finish(dataset)
    return dataset
