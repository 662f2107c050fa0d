"""Label layers whose segments may overlap -> one classic BINARY SEG (SOP Class 1.2.840.10008.5.1.4.1.1.66.4)."""

from __future__ import annotations

import logging
from dataclasses import replace

import highdicom as hd
import numpy as np

from ..codecs.compression import Compression, ensure_encoder_available
from ..codecs.deflated_frames import deflate_frames
from ..codecs.encoding_workers import encoding_workers
from ..geometry.grids import match_to_grid
from ..geometry.source_series import SourceSeries
from ..segments.layered_segmentation import LayeredSegmentation
from .export_options import DEFAULT_SERIES, ExportOptions
from .referenced_source import refer_as_the_seg_did
from .seg_building import (
    check_frame_of_reference,
    check_frame_size,
    check_segment_numbers,
    checked_label_array,
    finish,
    frame_box,
    highdicom_arguments,
    highdicom_refusals,
    segment_descriptions,
)
from .source_references import refer_to_file_frames

logger = logging.getLogger(__name__)


def build_binary_seg(segmentation: LayeredSegmentation, source: SourceSeries, options: ExportOptions) -> hd.seg.Segmentation:
    """Build a classic BINARY SEG of ``segmentation``, whose segments may overlap.

    highdicom takes one mask per segment; they are built only over the slices
    that hold labelled voxels, so memory is segments x those slices. Frames
    keep the source's full rows and columns, as readers such as OHIF expect,
    unless ``options.crop_to_segments``.

    A BINARY SEG numbers its segments 1, 2, 3, ... (PS3.3 C.8.20.2): other
    numbers are given those in ascending order, and the change is logged.
    """
    compression = binary_compression(options.compression)
    ensure_encoder_available(compression)
    series = options.series.over(DEFAULT_SERIES)
    segments = segmentation.segments
    check_segment_numbers(segments)  # before renumbering, which would hide a number used twice
    numbers = sorted(segment.number for segment in segments)
    binary_number = {number: index for index, number in enumerate(numbers, start=1)}
    if any(number != new for number, new in binary_number.items()):
        logger.warning("A BINARY SEG numbers segments from 1: %s become %s", numbers, list(binary_number.values()))
    binary_segments = [replace(segment, number=binary_number[segment.number]) for segment in segments]
    on_grid = []
    for index, layer in enumerate(segmentation.layers):
        check_frame_of_reference(layer, source)
        in_layer = [n for n in numbers if segmentation.layer_of_segment[n] == index]
        array = checked_label_array(layer.array, in_layer or [1])
        on_grid.append(match_to_grid(layer.with_array(array), source.geometry, what="The segmentation grid").array)
    box = frame_box(on_grid, in_plane=options.crop_to_segments)
    masks = np.zeros((*[window.stop - window.start for window in box], len(numbers)), dtype=bool)
    check_frame_size(compression, *masks.shape[1:3], cropped=options.crop_to_segments)
    for channel, number in enumerate(numbers):
        masks[..., channel] = on_grid[segmentation.layer_of_segment[number]][box] == number
    workers = encoding_workers(compression, masks.shape[0] * masks.shape[3], options.workers)
    with highdicom_refusals():
        seg = hd.seg.Segmentation(
            pixel_array=hd.Volume(
                masks, source.geometry[box].affine, "PATIENT", source.geometry.frame_of_reference_uid,
                channels={"SegmentNumber": list(binary_number.values())},
            ),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=segment_descriptions(binary_segments),
            omit_empty_frames=bool(masks.any()),
            **highdicom_arguments(source, series, compression.frame_transfer_syntax_uid, workers),
        )
    if compression is Compression.DEFLATE_FRAMES:
        deflate_frames(seg)  # 1-bit frames, each packed on its own before it is deflated
    refer_to_file_frames(seg, source)
    refer_as_the_seg_did(seg, source)
    return finish(seg, binary_segments, compression, series)


def binary_compression(compression: Compression) -> Compression:
    """The transfer syntax a BINARY SEG gets when ``compression`` is asked for.

    BINARY frames are packed 1 bit per pixel; of the pixel codecs, highdicom
    encodes them only with JPEG 2000 (which dcmqi 1.5.7 cannot read). RLE and
    JPEG-LS therefore become deflate: lossless, small, and read by dcmqi,
    highdicom and OHIF.
    """
    if compression in (Compression.RLE, Compression.JPEGLS):
        logger.info("A BINARY SEG cannot use %s; writing it deflated", compression.value)
        return Compression.DEFLATE
    return compression
