"""A segmentation as label layers on one grid: what every writer takes and every reader returns.

Slicer holds a segmentation this way (shared labelmap layers): each layer is a
label array whose values are segment numbers, and each segment's voxels are
all in one layer. Segments that do not overlap share a layer, so a
segmentation a LABELMAP SEG can hold is one layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import highdicom as hd
import numpy as np

from ...errors import InvalidSegmentationError
from .segment_metadata import SegmentMetadata, segment_metadata_of


@dataclass
class LayeredSegmentation:
    """Segments and their voxels: segment ``n`` is where ``layers[layer_of_segment[n]] == n``, checked when made.

    Parameters
    ----------
    layers:
        Label arrays on one grid, with that grid's affine and frame of reference.
    segments:
        What each segment is, segment 0 (background) left out: :class:`SegmentMetadata`
        records or highdicom ``SegmentDescription`` items.
    layer_of_segment:
        Segment number -> index in ``layers``, for every segment.

    Raises
    ------
    InvalidSegmentationError
        Layers on different grids, a segment number used twice, or a layer map
        that leaves out a segment, names one that is not there, or a layer that is not.
    """

    layers: list[hd.Volume]
    segments: list[SegmentMetadata]
    layer_of_segment: dict[int, int]

    def __post_init__(self) -> None:
        """Check that the layers share one grid and that the layer map covers exactly the segments."""
        self.layers = list(self.layers)
        if not self.layers or not all(isinstance(layer, hd.Volume) for layer in self.layers):
            raise InvalidSegmentationError("layers: expected one or more highdicom Volumes of segment numbers.")
        first = self.layers[0]
        for index, layer in enumerate(self.layers[1:], start=1):
            difference = _grid_difference(layer, first)
            if difference:
                raise InvalidSegmentationError(
                    f"layers: layer {index} is not on layer 0's grid ({difference}); every layer must share one grid."
                )
        self.segments = [segment_metadata_of(segment, f"segments[{i}]") for i, segment in enumerate(self.segments)]
        numbers = [segment.number for segment in self.segments]
        if len(set(numbers)) != len(numbers):
            raise InvalidSegmentationError(f"segments: a segment number is used more than once ({sorted(numbers)}).")
        if set(self.layer_of_segment) != set(numbers):
            missing = sorted(set(numbers) - set(self.layer_of_segment))
            unknown = sorted(set(self.layer_of_segment) - set(numbers))
            raise InvalidSegmentationError(
                "layer_of_segment must give the layer of every segment and of nothing else"
                + (f"; it has no layer for segment(s) {missing}" if missing else "")
                + (f"; it gives a layer for {unknown}, which no segment has" if unknown else "")
                + "."
            )
        outside = {number: layer for number, layer in self.layer_of_segment.items() if layer not in range(len(self.layers))}
        if outside:
            raise InvalidSegmentationError(
                f"layer_of_segment: {outside} names layers that do not exist ({len(self.layers)} layer(s))."
            )

    @classmethod
    def from_labels(cls, labels: hd.Volume, segments: Sequence[SegmentMetadata]) -> LayeredSegmentation:
        """One label volume whose non-zero values are the numbers of ``segments``."""
        return cls(layers=[labels], segments=list(segments), layer_of_segment={s.number: 0 for s in segments})

    def with_metadata(self, given: Sequence[SegmentMetadata] | None) -> LayeredSegmentation:
        """This segmentation with ``given`` records in place of its own for the segment numbers they list.

        For segment descriptions kept apart from the voxels (a dcmqi metadata
        file, a run's algorithm); segments not listed keep their own.
        """
        by_number = {segment.number: segment for segment in given or []}
        return replace(self, segments=[by_number.get(segment.number, segment) for segment in self.segments])

    @property
    def labels(self) -> hd.Volume:
        """The one label volume of a segmentation whose segments do not overlap.

        Raises
        ------
        InvalidSegmentationError
            When segments overlap, so that they are in more than one layer.
        """
        if len(self.layers) != 1:
            raise InvalidSegmentationError(
                f"The segments overlap ({len(self.layers)} layers), so they are not one label volume."
            )
        return self.layers[0]


def _grid_difference(volume: hd.Volume, other: hd.Volume) -> str | None:
    """How ``volume``'s grid differs from ``other``'s; None when they are one grid."""
    if volume.spatial_shape != other.spatial_shape:
        return f"shape {volume.spatial_shape}, not {other.spatial_shape}"
    if not np.allclose(volume.affine, other.affine, atol=1e-4):
        return "another affine"
    if volume.frame_of_reference_uid != other.frame_of_reference_uid:
        return f"frame of reference {volume.frame_of_reference_uid}, not {other.frame_of_reference_uid}"
    return None
