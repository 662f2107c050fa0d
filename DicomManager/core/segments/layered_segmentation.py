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

from ...errors import InvalidSegmentationError
from .segment_metadata import SegmentMetadata


@dataclass
class LayeredSegmentation:
    """Segments and their voxels: segment ``n`` is where ``layers[layer_of_segment[n]] == n``.

    Parameters
    ----------
    layers:
        Label arrays on one grid, with that grid's affine and frame of reference.
    segments:
        What each segment is, segment 0 (background) left out.
    layer_of_segment:
        Segment number -> index in ``layers``.
    """

    layers: list[hd.Volume]
    segments: list[SegmentMetadata]
    layer_of_segment: dict[int, int]

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
