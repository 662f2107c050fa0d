"""Reading any SEG file: LABELMAP, BINARY or FRACTIONAL, into label layers on a grid with their segments.

:func:`read_seg`, :func:`~.header_reading.read_seg_header` (the ``info`` command) and
:func:`header_problem` (the DICOM browser's offer) read a header through the
same checks (:func:`.seg_header.read_seg_dataset`), so that what one refuses
the others refuse with the same words; each routes the libraries' warnings
to DEBUG (:func:`~..library_output.reading_output_at_debug`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import highdicom as hd
from pydicom import Dataset

from ...errors import DicomLabelMapSegError
from ..garbage_collection import garbage_collection_paused
from ..geometry.frame_geometry import frame_geometry, grid_choosing_the_volume
from ..geometry.given_grids import ReferenceGiven, is_read_from_files, reference_grid
from ..library_output import reading_output_at_debug
from ..segments.sop_classes import SegmentationType
from .binary_reader import read_binary_seg_dataset
from .header_reading import malformed_content_refused, read_seg_header
from .labelmap_reader import read_labelmap_seg_dataset
from .seg_contents import SegContents
from .seg_header import check_decodable, is_tiled, read_seg_dataset, slide_planes_problem
from .tiled_reader import read_tiled_seg_dataset


def read_seg(
    path: Path,
    reference: ReferenceGiven | None = None,
    workers: int = 0,
    *,
    image_positions: Mapping[str, Sequence[float]] | None = None,
) -> SegContents:
    """Read a SEG file as label layers: one for a LABELMAP, one per set of overlapping segments otherwise.

    A tiled slide-microscopy SEG gives one plane of its total pixel matrix, in
    slide coordinates.

    Parameters
    ----------
    path:
        A Segmentation Storage or Label Map Segmentation Storage file.
    reference:
        The grid to place the labels on (the referenced series'): a highdicom
        ``VolumeGeometry`` or ``Volume``, a :class:`SourceSeries`, the series'
        folder or a list of its files (of the volumes of a multi-frame image
        there, the one that holds the SEG's frames); without it, the SEG's
        own grid, which spans its frames.
    workers:
        Processes to decode a LABELMAP's frames on: 0 is this process (never
        fork the Slicer application), ``ALL_CORES`` one per core where that
        pays (see :mod:`.frame_placement`).
    image_positions:
        Image Position (Patient) of the reference series' single-frame images,
        by SOP Instance UID (:func:`~..geometry.source_series.reference_of_folder`
        reads them): a frame that names one of them as its source image goes
        on that image's slice when it lies within a quarter slice of it
        (writers that compute positions again leave them a little off).

    Raises
    ------
    SegFileError
        Not a SEG we read, or broken (named: file, tag, frame).
    GeometryMismatchError
        Frames that do not lie on ``reference``, or a tiled SEG given a ``reference``.
    CodecUnavailableError
        No installed decoder handles the transfer syntax.
    SourceSeriesError
        A ``reference`` that is none of those, or whose files are not one series.
    """
    path = Path(path)
    with reading_output_at_debug(), garbage_collection_paused():
        with malformed_content_refused(path):
            dataset = read_seg_dataset(path)
            check_decodable(dataset, path)
            chooses = is_read_from_files(reference) and not is_tiled(dataset)
            choosing = grid_choosing_the_volume(dataset, path) if chooses else None
        reference = reference_grid(reference, grid=choosing)  # outside: a fault of the series is not the SEG's
        with malformed_content_refused(path):
            return _read_seg_dataset(dataset, path, reference, workers, image_positions)


def _read_seg_dataset(
    dataset: Dataset,
    path: Path,
    reference: hd.VolumeGeometry | None,
    workers: int,
    image_positions: Mapping[str, Sequence[float]] | None,
) -> SegContents:
    """The reader of the SEG's kind (tiled, LABELMAP, BINARY or FRACTIONAL) on ``reference``."""
    if is_tiled(dataset):
        return read_tiled_seg_dataset(dataset, path, reference)
    if dataset.SegmentationType == SegmentationType.LABELMAP:
        return read_labelmap_seg_dataset(dataset, path, reference, workers, image_positions)
    return read_binary_seg_dataset(dataset, path, reference, image_positions)


def header_problem(path: Path, header: Dataset | None = None) -> str | None:
    """Why :func:`read_seg` would refuse the SEG at ``path``, judged from its header alone; None when it would load it.

    Checks what the readers check before decoding, in the same words: the
    header (:func:`read_seg_header`), a decoder for the transfer syntax, a
    tiled slide image of one plane, and frames placed in space. A file this passes may still be refused for its pixel
    data. ``header`` is the file's header when the caller has read it already
    (:func:`~.seg_references.read_header_with_references`); it is completed in
    place, as :func:`~.seg_header.check_seg_dataset` completes it.
    """
    path = Path(path)
    try:
        with reading_output_at_debug(), malformed_content_refused(path):
            dataset = read_seg_header(path, header)
            check_decodable(dataset, path)
            if is_tiled(dataset):
                return slide_planes_problem(dataset, path)
            frame_geometry(dataset, path)
    except DicomLabelMapSegError as error:
        return str(error)
    return None
