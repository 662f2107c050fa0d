"""Label layers whose segments may overlap -> one classic BINARY SEG (SOP Class 1.2.840.10008.5.1.4.1.1.66.4)."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import replace

import highdicom as hd
import numpy as np

from ..codecs.compression_strategies import FramesToEncode
from ..codecs.highdicom_frame_calls import built_by_highdicom
from .export_plan import PlannedSeg, SeriesPlan
from .referenced_source import refer_as_the_seg_did
from .seg_building import (
    check_frame_size,
    finish,
    frame_box,
    highdicom_arguments,
    highdicom_refusals,
    segment_descriptions,
)
from .source_references import refer_to_file_frames

logger = logging.getLogger(__name__)


def binary_seg(plan: SeriesPlan, instance: PlannedSeg) -> hd.seg.Segmentation:
    """The planned classic BINARY SEG, whose segments may overlap, built by highdicom over the plan's source images.

    highdicom takes one mask per segment; they are built only over the slices
    that hold labelled voxels, so memory is segments x those slices. Frames
    keep the source's full rows and columns, as readers such as OHIF expect,
    unless the plan crops them to the segments.

    A BINARY SEG numbers its segments 1, 2, 3, ... (PS3.3 C.8.20.2): other
    numbers are given those in ascending order, and the change is logged.
    """
    source, strategy = plan.source, instance.strategy
    numbers = sorted(segment.number for segment in instance.segments)
    binary_number = {number: index for index, number in enumerate(numbers, start=1)}
    if any(number != new for number, new in binary_number.items()):
        logger.warning("A BINARY SEG numbers segments from 1: %s become %s", numbers, list(binary_number.values()))
    binary_segments = [replace(segment, number=binary_number[segment.number]) for segment in instance.segments]
    box = frame_box(instance.layers, in_plane=plan.crop_to_segments)
    masks = np.zeros((*[window.stop - window.start for window in box], len(numbers)), dtype=bool)
    check_frame_size(strategy.compression, *masks.shape[1:3], cropped=plan.crop_to_segments)
    for channel, number in enumerate(numbers):
        masks[..., channel] = instance.layers[instance.layer_of_segment[number]][box] == number
    frames = FramesToEncode(masks, omit_empty=bool(masks.any()), requested_workers=plan.workers)

    def build(transfer_syntax_uid: str, workers: int | Executor) -> hd.seg.Segmentation:
        return hd.seg.Segmentation(
            pixel_array=hd.Volume(
                masks, source.geometry[box].affine, "PATIENT", source.geometry.frame_of_reference_uid,
                channels={"SegmentNumber": list(binary_number.values())},
            ),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=segment_descriptions(binary_segments),
            omit_empty_frames=frames.omit_empty,
            **highdicom_arguments(source, instance.series, transfer_syntax_uid, workers),
        )

    with highdicom_refusals():
        seg = built_by_highdicom(build, strategy.encoding(frames), lambda: strategy.plain_encoding(frames))
    refer_to_file_frames(seg, source)
    refer_as_the_seg_did(seg, source)
    return finish(seg, binary_segments, instance.series)
