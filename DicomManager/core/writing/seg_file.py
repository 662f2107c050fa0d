"""Saving a built SEG: atomically, in its transfer syntax, and saying what was written."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd

from ..segments.sop_classes import SegmentationType
from .export_plan import PlannedSeg
from .file_output import write_atomically

logger = logging.getLogger(__name__)

OHIF_LABELMAP_BITS = 8
"""OHIF keeps label maps in 8 bits: segment numbers above 255 do not survive there."""


@dataclass(frozen=True)
class WrittenSeg:
    """What was written: the file and the identifiers a database or report needs."""

    path: Path
    series_instance_uid: str
    sop_instance_uid: str
    bits_allocated: int
    number_of_frames: int
    segmentation_type: SegmentationType = SegmentationType.LABELMAP


def save_seg(seg: hd.seg.Segmentation, planned: PlannedSeg, overwrite: bool) -> WrittenSeg:
    """Write a built SEG to its planned file atomically, as its compression saves it, never replacing a file unasked.

    Raises
    ------
    OutputExistsError
        When the file exists (it may have appeared since the plan was made) and ``overwrite`` is false.
    """
    if planned.output_path is None:
        raise ValueError("A SEG planned in memory has no file to be saved to")
    output_path = planned.output_path
    write_atomically(output_path, lambda path: planned.strategy.save(seg, path), overwrite)
    logger.info("Wrote %s (%s, %d frames, %s)", output_path, seg.SegmentationType, seg.NumberOfFrames,
                seg.file_meta.TransferSyntaxUID.name)
    if seg.SegmentationType == SegmentationType.LABELMAP and int(seg.BitsAllocated) > OHIF_LABELMAP_BITS:
        logger.warning(
            "%s is a 16-bit LABELMAP (segment numbers above 255): OHIF keeps label maps in 8 bits, so those "
            "segments do not survive there.", output_path,
        )
    return WrittenSeg(
        path=output_path,
        series_instance_uid=str(seg.SeriesInstanceUID),
        sop_instance_uid=str(seg.SOPInstanceUID),
        bits_allocated=int(seg.BitsAllocated),
        number_of_frames=int(seg.NumberOfFrames),
        segmentation_type=SegmentationType(seg.SegmentationType),
    )
