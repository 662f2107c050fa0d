"""Tiled slide-microscopy SEGs of any type -> one plane of their total pixel matrix, in slide coordinates.

A SEG over a whole-slide image is not a stack of planes in patient space
but tiles of one 2D total pixel matrix. highdicom assembles the tiles (its
``get_volume``, a volume of one plane in the SLIDE coordinate system, holding
what its ``get_total_pixel_matrix`` gives); a LABELMAP is one label plane,
and BINARY and FRACTIONAL segments go into layers as the classic reader
puts them (:func:`.binary_reader.layered_segments`), FRACTIONAL values
thresholded at 0.5 in the same way. A slide segmented on several focal
planes or optical paths is several planes, which Slicer's one plane cannot
hold: it is refused, naming them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import highdicom as hd
from pydicom import Dataset

from ...errors import GeometryMismatchError, SegFileError, cause
from ..segments.segment_metadata import SegmentMetadata
from ..segments.sop_classes import SegmentationType
from .binary_reader import Box, inclusion_threshold, layered_segments, mask_in_box
from .palette import with_palette_colors
from .seg_contents import SegContents
from .seg_header import slide_planes_problem
from .seg_info import background_of, seg_info, segments_of

HIGHDICOM_ASSEMBLY_ERRORS = (ValueError, RuntimeError, AttributeError, KeyError, TypeError, IndexError, sqlite3.Error)
"""What highdicom raises for tiles it cannot assemble (see :func:`_assembly_errors`)."""


def read_tiled_seg_dataset(dataset: Dataset, path: Path, reference: hd.VolumeGeometry | None) -> SegContents:
    """Read a tiled SEG dataset (pixel data included) as label layers of one plane of its total pixel matrix."""
    if reference is not None:
        raise GeometryMismatchError(f"{path}: a tiled slide-microscopy SEG cannot be placed on a volume grid.")
    problem = slide_planes_problem(dataset, path)
    if problem:
        raise SegFileError(problem)
    segments = with_palette_colors(dataset, segments_of(dataset, path), path)
    notes: list[str] = []
    with _assembly_errors(path):
        image = hd.seg.Segmentation.from_dataset(dataset, copy=False)
    if dataset.SegmentationType == SegmentationType.LABELMAP:
        with _assembly_errors(path):
            layers = [image.get_volume(combine_segments=True, skip_overlap_checks=True)]
        layer_of_segment = {segment.number: 0 for segment in segments}
    else:
        layers, layer_of_segment, notes = _classic_layers(image, dataset, path, segments)
    return SegContents(
        layers=layers,
        segments=segments,
        layer_of_segment=layer_of_segment,
        info=seg_info(dataset, path),
        background=background_of(dataset, path),
        notes=notes,
    )


def _classic_layers(
    image: hd.seg.Segmentation, dataset: Dataset, path: Path, segments: list[SegmentMetadata]
) -> tuple[list[hd.Volume], dict[int, int], list[str]]:
    """A BINARY or FRACTIONAL slide's segments in layers, each segment's plane assembled on its own.

    One segment's plane at a time: never a segments x plane array.
    """
    if not segments:
        raise SegFileError(f"{path}: the SEG describes no segment.")
    threshold, notes = inclusion_threshold(dataset, path)

    def plane(number: int) -> hd.Volume:
        with _assembly_errors(path):
            return image.get_volume(segment_numbers=[number], combine_segments=False, rescale_fractional=False)

    first = plane(segments[0].number)

    def boxes() -> Iterator[tuple[int, list[Box | None]]]:
        for segment in segments:
            volume = first if segment is segments[0] else plane(segment.number)
            yield segment.number, [mask_in_box((0, 0, 0), volume.array[0, :, :, 0] >= threshold)]

    arrays, layer_of_segment = layered_segments(boxes(), segments, first.spatial_shape, path)
    volumes = [hd.Volume(array, first.affine, first.coordinate_system, first.frame_of_reference_uid) for array in arrays]
    return volumes, layer_of_segment, notes


@contextmanager
def _assembly_errors(path: Path) -> Iterator[None]:
    """What highdicom raises for tiles it cannot assemble, as our error naming the file, the cause chained.

    Only highdicom runs in these blocks, so even a TypeError or an IndexError is its own, on this data.
    """
    try:
        yield
    except HIGHDICOM_ASSEMBLY_ERRORS as error:
        raise SegFileError(f"{path}: cannot assemble the tiled frames ({cause(error)}).") from error
