"""LABELMAP SEG dataset -> one label volume on a grid, with its segments.

Frames are decoded by pydicom with the fastest installed plugin and
placed by their Image Position (Patient) on the target grid: the referenced
series' grid when the caller gives it, else the SEG's own grid. Voxels that no
frame covers get the SEG's PixelPaddingValue, or 0 without one, which is what
dcmqi's reader produces (its expected outputs for
``sparse-labelmap-{ppv5,noppv}.dcm`` are the reference). A value that names no
segment, such as such padding, means "no segment" to Slicer. A PALETTE COLOR
LABELMAP's palette gives the colour of each segment that has no recommended
colour of its own (:mod:`.palette`).

Tiled slide-microscopy LABELMAPs are not volumes: :mod:`.tiled_reader` reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset

from ...errors import SegFileError
from ..geometry.frame_geometry import frames_on_grid
from .frame_placement import decoding_workers, new_label_volume, place_frames
from .frames import FrameReader
from .palette import with_palette_colors
from .seg_contents import SegContents
from .seg_info import background_of, seg_info, segments_of


def read_labelmap_seg_dataset(
    dataset: Dataset,
    path: Path,
    reference: hd.VolumeGeometry | None,
    workers: int = 0,
    image_positions: Mapping[str, Sequence[float]] | None = None,
) -> SegContents:
    """Read a LABELMAP SEG dataset (pixel data included, not tiled) as one label volume; with ``reference``, on that grid.

    ``workers``: processes to decode the frames on (see :mod:`.frame_placement`); 0 is this process.
    ``image_positions``: the reference's images by SOP Instance UID (see
    :func:`~..geometry.frame_geometry.frames_on_grid`).
    """
    segments = with_palette_colors(dataset, segments_of(dataset, path), path)
    labels = _read_volume(dataset, path, reference, image_positions, [segment.number for segment in segments], workers)
    return SegContents(
        layers=[labels],
        segments=segments,
        layer_of_segment={segment.number: 0 for segment in segments},
        info=seg_info(dataset, path),
        background=background_of(dataset, path),
    )


def _read_volume(
    dataset: Dataset,
    path: Path,
    reference: hd.VolumeGeometry | None,
    image_positions: Mapping[str, Sequence[float]] | None,
    numbers: list[int],
    workers: int,
) -> hd.Volume:
    grid, indices = frames_on_grid(dataset, path, reference, image_positions)
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
