"""Label volume + segment metadata + source headers -> one LABELMAP SEG (SOP Class 1.2.840.10008.5.1.4.1.1.66.7).

highdicom builds the dataset, after :mod:`.seg_building` has checked the
input, from the labels on the source grid (or on the part of it that holds
segments, on request); :mod:`.seg_file` saves it atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np

from ..codecs.compression import ensure_encoder_available
from ..codecs.encoding_workers import frame_encoder
from ..geometry.given_grids import LabelsGiven, label_volume, labels_grid, source_series
from ..geometry.grids import match_to_grid
from ..geometry.source_series import SourceSeries
from ..segments.segment_metadata import SegmentMetadata, segment_metadata_of
from .export_options import DEFAULT_SERIES, ExportOptions
from .file_output import refuse_existing
from .seg_building import (
    check_frame_of_reference,
    check_frame_size,
    checked_label_array,
    finish,
    frame_box,
    highdicom_arguments,
    highdicom_refusals,
    segment_descriptions,
)
from .seg_file import WrittenSeg, save_seg
from .source_references import refer_to_file_frames


def write_labelmap_seg(
    labels: LabelsGiven,
    segments: Sequence[SegmentMetadata | hd.seg.SegmentDescription],
    source: SourceSeries,
    output_dir: Path,
    options: ExportOptions = ExportOptions(),
) -> WrittenSeg:
    """Write ``labels`` as a LABELMAP SEG that references ``source``.

    Parameters
    ----------
    labels:
        Segment numbers per voxel (0 is background) on the source grid, on a
        part of it, or on it with axes flipped or swapped: a highdicom
        ``Volume``, an ``(array, affine)`` pair, or an array (slices, rows,
        columns) on the source grid itself.
    segments:
        One record per segment number (:class:`SegmentMetadata`, or highdicom's
        ``SegmentDescription``); segments that no voxel has are written as
        empty segments.
    source:
        The images the labels were drawn on: a :class:`SourceSeries`, the
        series' folder, or a list of its files; of the volumes of a multi-frame
        image there (echoes, image types, stacks), the labels' grid chooses one.
    output_dir:
        Folder of the file (named by ``options.file_name``, or after the
        series description and UID).
    options:
        Compression, cropping, series attributes, file name, overwriting.
        ``overlap`` does not apply: one label volume cannot overlap.

    Raises
    ------
    InvalidSegmentationError
        A label value without a segment, a segment number used twice, labels
        that are not whole numbers, another frame of reference.
    GeometryMismatchError
        Labels that do not lie on the source grid.
    EncodingError, CodecUnavailableError
        The compression cannot encode these frames here.
    OutputExistsError
        The file exists and ``options.overwrite`` is false.
    """
    plan = options.plan(output_dir)
    refuse_existing(plan.output_path, plan.options.overwrite)
    return save_seg(build_labelmap_seg(labels, segments, source, plan.options), plan.output_path, plan.options.overwrite)


def build_labelmap_seg(
    labels: LabelsGiven,
    segments: Sequence[SegmentMetadata | hd.seg.SegmentDescription],
    source: SourceSeries,
    options: ExportOptions = ExportOptions(),
) -> hd.seg.Segmentation:
    """The SEG dataset of :func:`write_labelmap_seg`, in memory: for a pipeline that sends it on without a file.

    Takes and raises what :func:`write_labelmap_seg` does (``options.file_name``
    and ``overwrite`` aside, which only name and guard a file).
    """
    options = options.resolved()
    source = source_series(source, grid=labels_grid(labels))  # the labels' grid chooses a multi-frame source's volume
    labels = label_volume(labels, source)
    segments = [segment_metadata_of(segment, f"segments[{index}]") for index, segment in enumerate(segments)]
    ensure_encoder_available(options.compression)
    series = options.series.over(DEFAULT_SERIES)
    descriptions = segment_descriptions(segments)
    array = checked_label_array(labels.array, [segment.number for segment in segments])
    check_frame_of_reference(labels, source)
    on_source_grid = match_to_grid(labels.with_array(array), source.geometry, what="The segmentation grid")
    labelled = bool(array.any())
    if options.crop_to_segments and labelled:
        box = frame_box([on_source_grid.array], in_plane=True)
        cropped = on_source_grid[box].with_array(np.ascontiguousarray(on_source_grid.array[box]))
        check_frame_size(options.compression, *cropped.spatial_shape[1:], cropped=True)
        pixels: np.ndarray | hd.Volume = cropped
    else:
        check_frame_size(options.compression, *on_source_grid.spatial_shape[1:], cropped=False)
        pixels = _pixels_for_highdicom(on_source_grid.array, source)
    planes = pixels.array if isinstance(pixels, hd.Volume) else pixels
    with frame_encoder(options.compression, planes, labelled, options.workers) as encoding, highdicom_refusals():
        seg = hd.seg.Segmentation(
            pixel_array=pixels,
            segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
            segment_descriptions=descriptions,
            # A SEG needs at least one frame: keep empty frames when all are empty.
            omit_empty_frames=labelled,
            **highdicom_arguments(source, series, encoding.transfer_syntax_uid, encoding.workers),
        )
    encoding.finish(seg)
    refer_to_file_frames(seg, source)
    return finish(seg, segments, options.compression, series)


def _pixels_for_highdicom(array: np.ndarray, source: SourceSeries) -> np.ndarray | hd.Volume:
    """The label array on the source grid in the form highdicom pairs with source images fastest.

    Slice k of the grid is image k of a single-frame series (SourceSeries
    orders them so), and highdicom pairs a plain array's planes with the
    images in that order; given a Volume it would match every plane to an
    image by position instead. A multi-frame source keeps the Volume: its
    frames need not be in the grid's order.
    """
    if len(source.datasets) > 1:
        return array
    return hd.Volume(array, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)
