"""What a SEG file holds, as every reader returns it: label layers, segments and the SEG's identity.

The LABELMAP reader (:mod:`.labelmap_reader`) and the BINARY/FRACTIONAL
reader (:mod:`.binary_reader`) both return :class:`SegContents`; their
frames are decoded by :mod:`.frames`, what they take from the header by
:mod:`.seg_info`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from ...errors import GeometryMismatchError, shown
from ..geometry.grids import match_to_grid
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.segment_metadata import SegmentMetadata
from .seg_info import SegInfo

if TYPE_CHECKING:
    import highdicom as hd


@dataclass
class SegContents(LayeredSegmentation):
    """What a SEG file holds, read as Slicer holds segmentations: label layers on one grid, and more.

    A LABELMAP (or a BINARY SEG without overlaps) gives one layer, so
    :attr:`labels` is its label volume. Besides the layers: ``info`` (the
    SEG's identity and series attributes), ``background`` (a described
    segment 0, as dcmqi writes in LABELMAPs) and ``notes`` (what could not be
    kept exactly, for example fractional values thresholded at 0.5).
    """

    info: SegInfo
    background: SegmentMetadata | None = None
    notes: list[str] = field(default_factory=list)


def placed_on_grid(contents: SegContents, grid: hd.VolumeGeometry) -> SegContents:
    """The layers of a SEG already decoded, moved onto ``grid`` without decoding its frames again.

    The voxels are carried over as they are (:func:`~..geometry.grids.match_to_grid`):
    the result is what reading the SEG onto ``grid`` gives where the SEG's own
    grid lies on ``grid``'s voxels, voxels it does not cover 0.

    Raises
    ------
    GeometryMismatchError
        Another frame of reference, or layers whose voxels do not sit on
        ``grid``'s (such as frames on every other slice of ``grid``, whose own
        grid has twice its spacing).
    """
    seg_uid, grid_uid = contents.info.frame_of_reference_uid, grid.frame_of_reference_uid
    if seg_uid and grid_uid and seg_uid != grid_uid:
        raise GeometryMismatchError(
            f"{contents.info.path}: the SEG is in frame of reference {shown(seg_uid)}, the reference series in "
            f"{shown(grid_uid)}."
        )
    return replace(contents, layers=[match_to_grid(layer, grid, str(contents.info.path)) for layer in contents.layers])
