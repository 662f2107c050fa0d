"""One export resolved before anything is built: every SEG it writes, with its attributes, labels, compression and file.

What the writers below take and never complete: series attributes with
their defaults and UIDs, the labels checked and on the source grid, the
compression strategy of each SEG, and the files, refused once here when they
exist unasked. An export is planned at its top (:func:`plan_series` for a
layered segmentation, :func:`plan_labelmap` for one label volume) and the
plan goes down whole.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

import highdicom as hd
import numpy as np

from ...errors import InvalidSegmentationError
from ..codecs.compression import Compression
from ..codecs.compression_strategies import CompressionStrategy, compression_strategy
from ..geometry.given_grids import LabelsGiven, label_volume, labels_grid, source_series
from ..geometry.grids import match_to_grid
from ..geometry.source_series import SourceSeries
from ..segments.label_layers import describe_overlaps, merge_finding_overlaps
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.segment_metadata import SegmentMetadata, segment_metadata_of
from ..segments.sop_classes import SegmentationType
from .export_options import DEFAULT_SERIES, ExportOptions, SeriesAttributes
from .file_output import refuse_existing
from .overlap_policy import OverlapPolicy
from .seg_building import check_frame_of_reference, check_segment_numbers, checked_label_array

logger = logging.getLogger(__name__)

GRID_NAME = "The segmentation grid"
"""How errors name the labels when they do not lie on the source grid."""


@dataclass(frozen=True)
class PlannedSeg:
    """One SEG instance of an export, resolved.

    ``layers``: label arrays on the source grid, each holding only the
    numbers of its segments (one for a LABELMAP SEG); ``layer_of_segment``:
    the layer of each segment number; ``series``: every attribute set, this
    instance's SOP Instance UID and number among them; ``output_path``: the
    file, or None for a SEG built in memory.
    """

    segmentation_type: SegmentationType
    layers: tuple[np.ndarray, ...]
    segments: tuple[SegmentMetadata, ...]
    layer_of_segment: Mapping[int, int]
    series: SeriesAttributes
    strategy: CompressionStrategy
    output_path: Path | None

    def __post_init__(self) -> None:
        unset = [f.name for f in fields(SeriesAttributes)
                 if getattr(self.series, f.name) is None and (getattr(DEFAULT_SERIES, f.name) is not None
                                                              or f.name in ("series_instance_uid", "sop_instance_uid"))]
        if unset:
            raise ValueError(f"A planned SEG needs its series attributes resolved; {unset} are not")
        if self.segmentation_type is SegmentationType.LABELMAP and len(self.layers) != 1:
            raise ValueError(f"A LABELMAP SEG has one label layer, not {len(self.layers)}")
        if set(self.layer_of_segment) != {segment.number for segment in self.segments}:
            raise ValueError("layer_of_segment names other segments than the planned SEG has")


@dataclass(frozen=True)
class SeriesPlan:
    """The SEG instances of one export, over one source series; all share one SeriesInstanceUID."""

    source: SourceSeries
    instances: tuple[PlannedSeg, ...]
    crop_to_segments: bool
    workers: int
    overwrite: bool

    def __post_init__(self) -> None:
        if not self.instances:
            raise ValueError("An export writes at least one SEG")
        if len({instance.series.series_instance_uid for instance in self.instances}) != 1:
            raise ValueError("The SEGs of one export share one SeriesInstanceUID")

    @property
    def series_instance_uid(self) -> str:
        """The series the SEGs are written in."""
        return str(self.instances[0].series.series_instance_uid)


def plan_series(
    segmentation: LayeredSegmentation, source: SourceSeries, output_dir: Path | None, options: ExportOptions
) -> SeriesPlan:
    """The export of ``segmentation`` over ``source``: one LABELMAP SEG, or as ``options.overlap`` says for overlaps.

    ``output_dir``: where the files go, or None for SEGs built in memory.
    Raises what :func:`.series_writer.write_segmentation` does.
    """
    if not isinstance(segmentation, LayeredSegmentation):
        raise InvalidSegmentationError(
            f"segmentation: expected a LayeredSegmentation (LayeredSegmentation.from_labels(labels, segments) for one "
            f"label volume), not {type(segmentation).__name__}."
        )
    resolved = options.plan(output_dir or Path())
    series, compression = resolved.options.series, options.compression
    source = source_series(source, grid=segmentation.layers[0].get_geometry())  # chooses a multi-frame source's volume
    layers, segments = segmentation.layers, segmentation.segments
    merged, overlaps = merge_finding_overlaps([layer.array for layer in layers])
    if overlaps and options.overlap is OverlapPolicy.ERROR:
        raise InvalidSegmentationError(describe_overlaps(overlaps, {segment.number: segment.label for segment in segments}))
    by_layer = bool(overlaps) and options.overlap is OverlapPolicy.LAYERS
    paths = _paths(resolved.output_path if output_dir is not None else None, len(layers) if by_layer else 1)
    for path in paths:
        if path is not None:
            refuse_existing(path, options.overwrite)
    if not overlaps:
        instances = [_labelmap(layers[0].with_array(merged), segments, source, compression, series, paths[0])]
    else:
        logger.info("%d pairs of segments overlap; writing them with the %s policy", len(overlaps), options.overlap.value)
        if by_layer:
            instances = [
                _labelmap(
                    layer, [segment for segment in segments if segmentation.layer_of_segment[segment.number] == index],
                    source, compression, replace(series, instance_number=index + 1, sop_instance_uid=None), path,
                )
                for index, (layer, path) in enumerate(zip(layers, paths, strict=True))
            ]
        else:
            instances = [_binary(segmentation, source, compression, series, paths[0])]
    return SeriesPlan(source, tuple(instances), options.crop_to_segments, options.workers, options.overwrite)


def plan_labelmap(
    labels: LabelsGiven,
    segments: Sequence[SegmentMetadata | hd.seg.SegmentDescription],
    source: SourceSeries,
    output_dir: Path | None,
    options: ExportOptions,
) -> SeriesPlan:
    """The export of one label volume as one LABELMAP SEG; raises what :func:`.labelmap_writer.write_labelmap_seg` does."""
    resolved = options.plan(output_dir or Path())
    output_path = resolved.output_path if output_dir is not None else None
    if output_path is not None:
        refuse_existing(output_path, options.overwrite)
    source = source_series(source, grid=labels_grid(labels))  # the labels' grid chooses a multi-frame source's volume
    labels = label_volume(labels, source)
    metadata = [segment_metadata_of(segment, f"segments[{index}]") for index, segment in enumerate(segments)]
    instance = _labelmap(labels, metadata, source, options.compression, resolved.options.series, output_path)
    return SeriesPlan(source, (instance,), options.crop_to_segments, options.workers, options.overwrite)


def _paths(output_path: Path | None, count: int) -> list[Path | None]:
    """The file of each of ``count`` instances: ``output_path``, or for several ``<stem>_layer<N><suffix>``."""
    if output_path is None or count == 1:
        return [output_path] * count
    return [output_path.with_name(f"{output_path.stem}_layer{index}{output_path.suffix}") for index in range(1, count + 1)]


def _labelmap(
    labels: hd.Volume, segments: Sequence[SegmentMetadata], source: SourceSeries, compression: Compression,
    series: SeriesAttributes, output_path: Path | None,
) -> PlannedSeg:
    strategy = compression_strategy(compression)
    check_segment_numbers(segments)
    array = checked_label_array(labels.array, [segment.number for segment in segments])
    check_frame_of_reference(labels, source)
    on_grid = match_to_grid(labels.with_array(array), source.geometry, what=GRID_NAME).array
    return PlannedSeg(SegmentationType.LABELMAP, (on_grid,), tuple(segments), {segment.number: 0 for segment in segments},
                      _with_instance_uid(series), strategy, output_path)


def _binary(
    segmentation: LayeredSegmentation, source: SourceSeries, compression: Compression, series: SeriesAttributes,
    output_path: Path | None,
) -> PlannedSeg:
    strategy = compression_strategy(compression, binary=True)
    segments = segmentation.segments
    check_segment_numbers(segments)
    numbers = sorted(segment.number for segment in segments)
    on_grid = []
    for index, layer in enumerate(segmentation.layers):
        check_frame_of_reference(layer, source)
        in_layer = [n for n in numbers if segmentation.layer_of_segment[n] == index]
        array = checked_label_array(layer.array, in_layer or [1])
        on_grid.append(match_to_grid(layer.with_array(array), source.geometry, what=GRID_NAME).array)
    return PlannedSeg(SegmentationType.BINARY, tuple(on_grid), tuple(segments), dict(segmentation.layer_of_segment),
                      _with_instance_uid(series), strategy, output_path)


def _with_instance_uid(series: SeriesAttributes) -> SeriesAttributes:
    return replace(series, sop_instance_uid=series.sop_instance_uid or hd.UID())
