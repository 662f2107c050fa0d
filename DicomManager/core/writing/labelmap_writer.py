"""Label volume + segment metadata + source headers -> one LABELMAP SEG (SOP Class 1.2.840.10008.5.1.4.1.1.66.7).

highdicom builds the dataset from a planned export (:mod:`.export_plan`: the
labels checked and on the source grid, the series resolved), from the labels
on the source grid or on the part of it that holds segments, on request; the
compression's strategy encodes the frames and :mod:`.seg_file` saves the file
atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path

import highdicom as hd
import numpy as np

from ..codecs.compression_strategies import FramesToEncode
from ..codecs.highdicom_frame_calls import built_by_highdicom
from ..geometry.given_grids import LabelsGiven
from ..geometry.source_series import SourceSeries
from ..segments.segment_metadata import SegmentMetadata
from .export_options import ExportOptions
from .export_plan import PlannedSeg, SeriesPlan, plan_labelmap
from .referenced_source import refer_as_the_seg_did
from .seg_building import check_frame_size, finish, frame_box, highdicom_arguments, highdicom_refusals, segment_descriptions
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
    plan = plan_labelmap(labels, segments, source, Path(output_dir), options)
    (instance,) = plan.instances
    return save_seg(labelmap_seg(plan, instance), instance, plan.overwrite)


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
    plan = plan_labelmap(labels, segments, source, None, options)
    return labelmap_seg(plan, plan.instances[0])


def labelmap_seg(plan: SeriesPlan, instance: PlannedSeg) -> hd.seg.Segmentation:
    """The planned LABELMAP SEG, built by highdicom over the plan's source images."""
    source, strategy = plan.source, instance.strategy
    (on_source_grid,) = instance.layers
    labelled = bool(on_source_grid.any())
    if plan.crop_to_segments and labelled:
        box = frame_box([on_source_grid], in_plane=True)
        cropped = source.geometry[box].with_array(np.ascontiguousarray(on_source_grid[box]))
        check_frame_size(strategy.compression, *cropped.spatial_shape[1:], cropped=True)
        pixels: np.ndarray | hd.Volume = cropped
    else:
        check_frame_size(strategy.compression, *on_source_grid.shape[1:], cropped=False)
        pixels = _pixels_for_highdicom(on_source_grid, source)
    planes = pixels.array if isinstance(pixels, hd.Volume) else pixels
    frames = FramesToEncode(planes, omit_empty=labelled, requested_workers=plan.workers)

    def build(transfer_syntax_uid: str, workers: int | Executor) -> hd.seg.Segmentation:
        return hd.seg.Segmentation(
            pixel_array=pixels,
            segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
            segment_descriptions=segment_descriptions(instance.segments),
            # A SEG needs at least one frame: keep empty frames when all are empty.
            omit_empty_frames=labelled,
            **highdicom_arguments(source, instance.series, transfer_syntax_uid, workers),
        )

    with highdicom_refusals():
        seg = built_by_highdicom(build, strategy.encoding(frames), lambda: strategy.plain_encoding(frames))
    refer_to_file_frames(seg, source)
    refer_as_the_seg_did(seg, source)
    return finish(seg, instance.segments, instance.series)


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
