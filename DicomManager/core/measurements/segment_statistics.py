"""Per-segment statistics over an image, defined as Slicer's Segment Statistics module defines them.

Slicer's ``ScalarVolumeSegmentStatisticsPlugin`` (``Modules/Scripted/SegmentStatistics`` at
v5.12.3, ``computeStatistics`` and ``getStencilForVolume``) counts the voxels of the image grid
that the segment's binary labelmap, resampled nearest-neighbour onto that grid, marks as
non-zero; the volume is that count times the product of the image spacing. Minimum, maximum,
mean and standard deviation come from ``vtkImageAccumulate`` over those voxels, whose standard
deviation divides by n - 1. The voxels here are already on the image grid (the SEG is read onto
the source series' grid), so a segment's voxels are those whose label is its number.

The median is the one departure: Slicer takes ``vtkImageHistogramStatistics::GetMedian()``,
which for whole-number values reports one bin low ([5, 5, 5] gives 4). This module reports the
true median (the middle value, or the mean of the two middle values for an even count).

The work grows with the labelled voxels, not with the segments times the volume: the labelled
voxels are gathered once, ordered by label with a stable radix sort, and each segment's values
are then one contiguous run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import highdicom as hd
import numpy as np

from ...errors import GeometryMismatchError
from ..segments.layered_segmentation import LayeredSegmentation


@dataclass(frozen=True)
class IntensityStatistics:
    """The image values under one segment: what Slicer reports for a segment of at least one voxel."""

    minimum: float
    maximum: float
    mean: float
    median: float
    standard_deviation: float
    """Divided by n - 1, as ``vtkImageAccumulate``; 0 for a one-voxel segment."""


@dataclass(frozen=True)
class SegmentStatistics:
    """What was measured of one segment: its size and, where it has voxels, the image values under it."""

    segment_number: int
    voxel_count: int
    volume_mm3: float
    intensity: IntensityStatistics | None
    """None for a segment without voxels, as Slicer leaves those columns empty."""


def segment_statistics(segmentation: LayeredSegmentation, image: hd.Volume) -> list[SegmentStatistics]:
    """Measure every segment of ``segmentation`` over ``image``, in segment order.

    Parameters
    ----------
    segmentation:
        Label layers on ``image``'s grid (read the SEG with the source series as its reference).
    image:
        The source series' values, modality rescale applied.

    Raises
    ------
    GeometryMismatchError
        The layers do not lie on ``image``'s grid.
    """
    for layer in segmentation.layers:
        if layer.spatial_shape != image.spatial_shape or not np.allclose(layer.affine, image.affine, atol=1e-4):
            raise GeometryMismatchError(
                f"The segmentation's grid {layer.spatial_shape} does not match the image's grid {image.spatial_shape}."
            )
    voxel_volume = math.prod(float(s) for s in image.spacing)
    values = image.array
    measured: dict[int, SegmentStatistics] = {}
    for layer in segmentation.layers:
        measured.update(_layer_statistics(layer.array, values, voxel_volume))
    return [
        measured.get(segment.number, SegmentStatistics(segment.number, 0, 0.0, None))
        for segment in sorted(segmentation.segments, key=lambda s: s.number)
    ]


def _layer_statistics(labels: np.ndarray, values: np.ndarray, voxel_volume: float) -> dict[int, SegmentStatistics]:
    """Statistics of every label value of one layer, from one pass over its labelled voxels."""
    labelled = labels != 0
    numbers = labels[labelled]
    under = values[labelled]
    del labelled
    order = np.argsort(numbers, kind="stable")  # a radix sort for integer labels
    numbers, under = numbers[order], under[order]
    del order
    boundaries = np.flatnonzero(numbers[1:] != numbers[:-1]) + 1
    starts = np.concatenate(([0], boundaries)) if numbers.size else boundaries
    ends = np.concatenate((boundaries, [numbers.size])) if numbers.size else boundaries
    return {
        int(numbers[start]): SegmentStatistics(
            segment_number=int(numbers[start]),
            voxel_count=int(end - start),
            volume_mm3=int(end - start) * voxel_volume,
            intensity=_intensity(under[start:end]),
        )
        for start, end in zip(starts, ends, strict=True)
    }


def _intensity(values: np.ndarray) -> IntensityStatistics:
    as_float = values.astype(np.float64, copy=False)
    return IntensityStatistics(
        minimum=float(as_float.min()),
        maximum=float(as_float.max()),
        mean=float(as_float.mean()),
        median=float(np.median(as_float)),
        standard_deviation=float(as_float.std(ddof=1)) if as_float.size > 1 else 0.0,
    )
