"""LABELMAP SEG dataset -> one label volume on a grid, with its segments.

Frames are decoded by pydicom with the fastest installed plugin and
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

import sqlite3
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset

from ...errors import GeometryMismatchError, SegFileError, cause
from ..geometry.frame_geometry import check_frame_of_reference, frame_geometry, frame_indices, own_grid
from .frame_placement import decoding_workers, new_label_volume, place_frames
from .frames import FrameReader
from .seg_contents import SegContents, background_of, seg_info, segments_of
from .seg_header import is_tiled


def read_labelmap_seg_dataset(
    dataset: Dataset, path: Path, reference: hd.VolumeGeometry | None, workers: int = 0
) -> SegContents:
    """Read a LABELMAP SEG dataset (pixel data included) as one label volume; with ``reference``, on that grid.

    ``workers``: processes to decode the frames on (see :mod:`.frame_placement`); 0 is this process.
    """
    segments = segments_of(dataset, path)
    if is_tiled(dataset):
        if reference is not None:
            raise GeometryMismatchError(f"{path}: a tiled slide-microscopy SEG cannot be placed on a volume grid.")
        labels = _read_tiled(dataset, path)
    else:
        labels = _read_volume(dataset, path, reference, [segment.number for segment in segments], workers)
    return SegContents(
        layers=[labels],
        segments=segments,
        layer_of_segment={segment.number: 0 for segment in segments},
        info=seg_info(dataset, path),
        background=background_of(dataset, path),
    )


def _read_tiled(dataset: Dataset, path: Path) -> hd.Volume:
    try:
        image = hd.seg.Segmentation.from_dataset(dataset, copy=False)
        return image.get_volume(combine_segments=True, skip_overlap_checks=True)
    except (ValueError, RuntimeError, AttributeError, KeyError, TypeError, IndexError, sqlite3.Error) as error:
        raise SegFileError(f"{path}: cannot assemble the tiled frames ({cause(error)}).") from error


def _read_volume(
    dataset: Dataset, path: Path, reference: hd.VolumeGeometry | None, numbers: list[int], workers: int
) -> hd.Volume:
    frames = frame_geometry(dataset, path)
    grid = reference if reference is not None else own_grid(dataset, frames, path)
    check_frame_of_reference(dataset, grid, path)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    indices = frame_indices(frames, grid, rows, columns, path)
    padding = dataset.get("PixelPaddingValue")
    fill = int(padding) if padding is not None else 0
    dtype = np.uint16 if int(dataset.BitsAllocated) > np.iinfo(np.uint8).bits else np.uint8
    workers = decoding_workers(dataset.file_meta.TransferSyntaxUID, len(indices), workers)
    labels = new_label_volume(grid.spatial_shape, dtype, fill, shared=workers > 1)
    decoded = place_frames(FrameReader(dataset, path), path, labels, indices, [*numbers, fill], workers)
    if decoded != len(indices):
        raise SegFileError(f"{path}: the pixel data holds {decoded} frames, not the {len(indices)} the header declares.")
    return hd.Volume(
        array=labels,
        affine=grid.affine,
        coordinate_system="PATIENT",
        frame_of_reference_uid=dataset.get("FrameOfReferenceUID") or grid.frame_of_reference_uid,
    )
