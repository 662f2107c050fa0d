"""Pausing Python's cyclic garbage collector around the heavy DICOM work.

pydicom and highdicom make tens of thousands of small objects for the
functional groups of a large SEG (three datasets per frame), which makes
Python run full collections of the whole process while a SEG is read or
written. In a process holding Slicer's scene, or highdicom's tables of the
standard, each one walks all of them and frees nothing (benchmarks/README.md
has what it costs).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def garbage_collection_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block; it is back on after, unless it was off before.

    Reference counting still frees everything that is not in a cycle, which is
    all a SEG read leaves behind; cycles made meanwhile wait for the next
    collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
