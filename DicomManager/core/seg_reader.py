"""SEG file -> labels on a grid + segment metadata.

:func:`read_seg` reads any Segmentation Storage object we support into a
:class:`~.seg_dataset.LayeredSegmentation`; :func:`read_labelmap_seg` is the
LABELMAP reader behind it. BINARY and FRACTIONAL SEGs are read by
:mod:`.binary_seg_reader`.

LABELMAP frames are decoded by pydicom with the fastest installed plugin and
placed by their Image Position (Patient) on the target grid: the referenced
series' grid when the caller gives it, else the SEG's own grid. Voxels that no
frame covers get the SEG's PixelPaddingValue, or 0 without one, which is what
dcmqi's reader produces (its expected outputs for
``sparse-labelmap-{ppv5,noppv}.dcm`` are the reference). A value that names no
segment, such as such padding, means "no segment" to Slicer.

Tiled slide-microscopy LABELMAPs are not volumes: they are read by highdicom
as one 2D plane of their total pixel matrix in the slide coordinate system.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset

from ..errors import GeometryMismatchError, SegFileError
from .frame_geometry import check_frame_of_reference, frame_geometry, frame_indices, own_grid
from .garbage_collection import garbage_collection_paused
from .label_layers import values_not_in
from .seg_dataset import (
    FrameReader,
    LayeredSegmentation,
    SegInfo,
    background_of,
    malformed_content_refused,
    seg_info,
    segments_of,
)
from .seg_header import is_tiled, read_seg_dataset
from .segment_metadata import SegmentMetadata
from .sop_classes import SegmentationType

logger = logging.getLogger(__name__)


@dataclass
class LabelMapSegmentation:
    """A LABELMAP SEG read back: labels per voxel on a grid, and what each label is.

    ``segments`` lists the segments with numbers above 0; a described
    background segment (number 0, as dcmqi writes) is kept apart in
    ``background``.
    """

    labels: hd.Volume
    segments: list[SegmentMetadata]
    info: SegInfo
    background: SegmentMetadata | None = None


def read_seg(path: Path, reference: hd.VolumeGeometry | None = None) -> LayeredSegmentation:
    """Read any LABELMAP, BINARY or FRACTIONAL SEG as label layers; with ``reference``, on that grid."""
    path = Path(path)
    with malformed_content_refused(path), garbage_collection_paused():
        dataset = read_seg_dataset(path)
        if dataset.SegmentationType != SegmentationType.LABELMAP:
            from .binary_seg_reader import read_binary_seg_dataset

            return read_binary_seg_dataset(dataset, path, reference)
        result = _labelmap_from_dataset(dataset, path, reference)
    return LayeredSegmentation(
        layers=[result.labels],
        segments=result.segments,
        layer_of_segment={segment.number: 0 for segment in result.segments},
        info=result.info,
        background=result.background,
    )


def read_seg_header(path: Path) -> Dataset:
    """Read a SEG of any supported type without its pixel data."""
    return read_seg_dataset(Path(path), stop_before_pixels=True)


def read_labelmap_seg(path: Path, reference: hd.VolumeGeometry | None = None) -> LabelMapSegmentation:
    """Read a LABELMAP SEG; with ``reference``, the labels are placed on that grid.

    Raises :class:`SegFileError` for files that are not LABELMAP SEGs or are
    broken, :class:`GeometryMismatchError` when frames do not sit on the
    reference grid, and :class:`CodecUnavailableError` when no installed
    decoder handles the transfer syntax.
    """
    path = Path(path)
    with malformed_content_refused(path), garbage_collection_paused():
        dataset = read_seg_dataset(path)
        if dataset.SegmentationType != SegmentationType.LABELMAP:
            raise SegFileError(f"{path}: a {dataset.SegmentationType} SEG, not a Label Map Segmentation.")
        return _labelmap_from_dataset(dataset, path, reference)


def _labelmap_from_dataset(dataset: Dataset, path: Path, reference: hd.VolumeGeometry | None) -> LabelMapSegmentation:
    segments = segments_of(dataset, path)
    if is_tiled(dataset):
        if reference is not None:
            raise GeometryMismatchError(f"{path}: a tiled slide-microscopy SEG cannot be placed on a volume grid.")
        labels = _read_tiled(dataset, path)
    else:
        labels = _read_volume(dataset, path, reference, [segment.number for segment in segments])
    return LabelMapSegmentation(
        labels=labels,
        segments=segments,
        info=seg_info(dataset, path),
        background=background_of(dataset, path),
    )


def _read_tiled(dataset: Dataset, path: Path) -> hd.Volume:
    try:
        image = hd.seg.Segmentation.from_dataset(dataset, copy=False)
        return image.get_volume(combine_segments=True, skip_overlap_checks=True)
    except (ValueError, RuntimeError, AttributeError, KeyError, TypeError, IndexError, sqlite3.Error) as error:
        raise SegFileError(f"{path}: cannot assemble the tiled frames ({error}).") from error


def _read_volume(dataset: Dataset, path: Path, reference: hd.VolumeGeometry | None, numbers: list[int]) -> hd.Volume:
    frames = frame_geometry(dataset, path)
    grid = reference if reference is not None else own_grid(dataset, frames, path)
    check_frame_of_reference(dataset, grid, path)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    indices = frame_indices(frames, grid, rows, columns, path)
    padding = dataset.get("PixelPaddingValue")
    fill = int(padding) if padding is not None else 0
    allowed = [*numbers, fill]
    dtype = np.uint16 if int(dataset.BitsAllocated) > 8 else np.uint8
    # np.zeros takes zeroed pages from the system lazily: slices no frame covers cost no memory traffic.
    labels = np.zeros(grid.spatial_shape, dtype=dtype) if fill == 0 else np.full(grid.spatial_shape, fill, dtype=dtype)
    # Each frame is decoded straight into its place: no array of all frames, no second copy.
    decoded = 0
    for frame, (slice_index, row, column) in zip(FrameReader(dataset, path).frames(range(len(indices))), indices):
        if frame.shape != (rows, columns):
            raise SegFileError(f"{path}: frame {decoded + 1} decodes to {frame.shape}, not {rows}x{columns}.")
        undescribed = values_not_in(frame, allowed)
        if undescribed:
            shown = ", ".join(str(value) for value in undescribed[:10])
            raise SegFileError(f"{path}: pixel values {shown} are the number of no segment in SegmentSequence.")
        labels[slice_index, row:row + rows, column:column + columns] = frame
        decoded += 1
    if decoded != len(indices):
        raise SegFileError(f"{path}: the pixel data holds {decoded} frames, not the {len(indices)} the header declares.")
    return hd.Volume(
        array=labels,
        affine=grid.affine,
        coordinate_system="PATIENT",
        frame_of_reference_uid=dataset.get("FrameOfReferenceUID") or grid.frame_of_reference_uid,
    )
