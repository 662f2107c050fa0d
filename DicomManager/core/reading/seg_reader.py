"""Reading any SEG file: LABELMAP, BINARY or FRACTIONAL, into label layers on a grid with their segments.

:func:`read_seg`, :func:`read_seg_header` (the ``info`` command) and
:func:`header_problem` (the DICOM browser's offer) read a header through the
same checks (:func:`.seg_header.read_seg_dataset`), so that what one refuses
the others refuse with the same words; each routes the libraries' warnings
to DEBUG (:func:`~..library_output.reading_output_at_debug`).
"""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
from pydicom import Dataset

from ...errors import DicomLabelMapSegError
from ..garbage_collection import garbage_collection_paused
from ..geometry.frame_geometry import frame_geometry
from ..library_output import reading_output_at_debug
from ..segments.sop_classes import SegmentationType
from .binary_reader import read_binary_seg_dataset
from .labelmap_reader import read_labelmap_seg_dataset
from .seg_contents import SegContents, malformed_content_refused
from .seg_header import check_decodable, is_tiled, read_seg_dataset


def read_seg(path: Path, reference: hd.VolumeGeometry | None = None, workers: int = 0) -> SegContents:
    """Read a SEG file as label layers: one for a LABELMAP, one per set of overlapping segments otherwise.

    Parameters
    ----------
    path:
        A Segmentation Storage or Label Map Segmentation Storage file.
    reference:
        The grid to place the labels on (the referenced series'); without it,
        the SEG's own grid, which spans its frames.
    workers:
        Processes to decode a LABELMAP's frames on: 0 is this process (never
        fork the Slicer application), ``ALL_CORES`` one per core where that
        pays (see :mod:`.frame_placement`).

    Raises
    ------
    SegFileError
        Not a SEG we read, or broken (named: file, tag, frame).
    GeometryMismatchError
        Frames that do not lie on ``reference``.
    CodecUnavailableError
        No installed decoder handles the transfer syntax.
    """
    path = Path(path)
    with reading_output_at_debug(), malformed_content_refused(path), garbage_collection_paused():
        dataset = read_seg_dataset(path)
        check_decodable(dataset, path)
        if dataset.SegmentationType == SegmentationType.LABELMAP:
            return read_labelmap_seg_dataset(dataset, path, reference, workers)
        return read_binary_seg_dataset(dataset, path, reference)


def read_seg_header(path: Path) -> Dataset:
    """Read a SEG of any supported type without its pixel data (checked as :func:`read_seg` checks it)."""
    path = Path(path)
    with reading_output_at_debug(), malformed_content_refused(path):
        return read_seg_dataset(path, stop_before_pixels=True)


def header_problem(path: Path) -> str | None:
    """Why :func:`read_seg` would refuse the SEG at ``path``, judged from its header alone; None when it would load it.

    Checks what the readers check before decoding, in the same words: the
    header (:func:`read_seg_header`), a decoder for the transfer syntax, a
    volume rather than a tiled slide image of a classic SEG, and frames
    placed in space. A file this passes may still be refused for its pixel
    data.
    """
    path = Path(path)
    try:
        with reading_output_at_debug(), malformed_content_refused(path):
            dataset = read_seg_dataset(path, stop_before_pixels=True)
            check_decodable(dataset, path)
            if is_tiled(dataset):
                if dataset.SegmentationType != SegmentationType.LABELMAP:
                    return f"{path}: a tiled slide-microscopy {dataset.SegmentationType} SEG is a 2D slide image, not a volume."
            else:
                frame_geometry(dataset, path)
    except DicomLabelMapSegError as error:
        return str(error)
    return None
