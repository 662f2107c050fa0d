"""A SEG's header read and checked as :func:`~.seg_reader.read_seg` checks it, its pixel data left unread.

Only pydicom is imported, so that ``info`` starts fast: the readers that
decode frames (and highdicom, numpy's arrays) are not. Reading the file
(:func:`read_header`) and checking it as a SEG (:func:`read_seg_header`) are
two steps, so that a caller can look at the header before it is judged as a
SEG's (``info`` also describes measurement reports) without reading the file
twice.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydicom import Dataset, FileDataset
from pydicom.errors import BytesLengthException

from ...errors import SegFileError, cause
from ..library_output import reading_output_at_debug
from .seg_header import check_seg_dataset, read_dicom, read_seg_dataset

MALFORMED_CONTENT = (ValueError, struct.error, OSError, NotImplementedError, OverflowError, EOFError, zlib.error,
                     BytesLengthException, sqlite3.Error)
"""What pydicom and highdicom raise for a malformed value: pydicom converts values lazily, where they are first used.

TypeError, AttributeError, KeyError and IndexError are not here: they are
what a bug raises, and the readers check explicitly what a file can lack.
"""


@contextmanager
def malformed_content_refused(path: Path) -> Iterator[None]:
    """A malformed value that pydicom or highdicom trips over, as a :class:`SegFileError` naming the file.

    The readers' own checks name most defects; this catches the values that
    only fail when converted, with the cause chained.
    """
    try:
        yield
    except MALFORMED_CONTENT as error:
        raise SegFileError(f"{path}: malformed or unsupported content ({type(error).__name__}: {cause(error)}).") from error


def read_header(path: Path) -> FileDataset:
    """The header of the DICOM file at ``path``, pixel data left unread, refused by name when it cannot be read."""
    path = Path(path)
    with reading_output_at_debug(), malformed_content_refused(path):
        return read_dicom(path, stop_before_pixels=True)


def read_seg_header(path: Path, header: Dataset | None = None) -> Dataset:
    """Read a SEG of any supported type without its pixel data (checked as :func:`~.seg_reader.read_seg` checks it).

    ``header`` is the file's header when the caller has read it already
    (:func:`read_header`); it is checked and completed in place.
    """
    path = Path(path)
    with reading_output_at_debug(), malformed_content_refused(path):
        return read_seg_dataset(path, stop_before_pixels=True) if header is None else check_seg_dataset(header, path)
