"""Which SEG objects a segmentation becomes, and writing them as one series.

Given label layers (segments that overlap in different layers), the
segmentation is written as one LABELMAP SEG when no voxel is claimed twice;
otherwise :mod:`.overlap_policy` decides: one classic BINARY SEG, one
LABELMAP instance per layer in one series, or an error naming the overlaps.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import highdicom as hd

from ..errors import InvalidSegmentationError
from .compression import DEFAULT_COMPRESSION, Compression
from .file_output import refuse_existing
from .garbage_collection import garbage_collection_paused
from .label_layers import describe_overlaps, merge_finding_overlaps
from .overlap_policy import DEFAULT_OVERLAP_POLICY, OverlapPolicy
from .seg_writer import SeriesAttributes, WrittenSeg, build_binary_seg, save_seg, write_labelmap_seg
from .segment_metadata import SegmentMetadata
from .sop_classes import SegmentationType
from .source_series import SourceSeries

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrittenSeries:
    """The SEG instances written for one segmentation: one file, or one per layer."""

    series_instance_uid: str
    segmentation_type: SegmentationType  # LABELMAP, or BINARY for overlapping segments
    instances: tuple[WrittenSeg, ...]

    @property
    def paths(self) -> list[Path]:
        return [instance.path for instance in self.instances]


@garbage_collection_paused()
def write_segmentation_series(
    layers: Sequence[hd.Volume],
    layer_of_segment: dict[int, int],
    segments: Sequence[SegmentMetadata],
    source: SourceSeries,
    output_path: Path,
    *,
    overlap: OverlapPolicy = DEFAULT_OVERLAP_POLICY,
    compression: Compression = DEFAULT_COMPRESSION,
    series: SeriesAttributes = SeriesAttributes(),
    overwrite: bool = False,
    crop_to_segments: bool = False,
) -> WrittenSeries:
    """Write ``segments`` (voxels in ``layers``) over ``source`` to ``output_path``.

    With the ``layers`` policy and overlapping segments, the files are
    ``<stem>_layer<N><suffix>`` beside ``output_path``; all or none of them
    are left on disk. ``crop_to_segments``: see
    :func:`~DicomManager.core.seg_writer.write_labelmap_seg`.
    """
    output_path = Path(output_path)
    series = replace(series, series_instance_uid=series.series_instance_uid or hd.UID())
    merged, overlaps = merge_finding_overlaps([layer.array for layer in layers])
    names = {segment.number: segment.label for segment in segments}
    if not overlaps:
        written = write_labelmap_seg(
            layers[0].with_array(merged), segments, source, output_path,
            compression=compression, series=series, overwrite=overwrite, crop_to_segments=crop_to_segments,
        )
        return WrittenSeries(series.series_instance_uid, SegmentationType.LABELMAP, (written,))
    if overlap is OverlapPolicy.ERROR:
        raise InvalidSegmentationError(describe_overlaps(overlaps, names))
    logger.info("%d pairs of segments overlap; writing them with the %s policy", len(overlaps), overlap.value)
    if overlap is OverlapPolicy.BINARY:
        refuse_existing(output_path, overwrite)
        seg = build_binary_seg(
            layers, layer_of_segment, segments, source,
            compression=compression, series=series, crop_to_segments=crop_to_segments,
        )
        return WrittenSeries(series.series_instance_uid, SegmentationType.BINARY, (save_seg(seg, output_path, overwrite),))
    return _write_layer_instances(
        layers, layer_of_segment, segments, source, output_path, compression, series, overwrite, crop_to_segments
    )


def _write_layer_instances(
    layers: Sequence[hd.Volume],
    layer_of_segment: dict[int, int],
    segments: Sequence[SegmentMetadata],
    source: SourceSeries,
    output_path: Path,
    compression: Compression,
    series: SeriesAttributes,
    overwrite: bool,
    crop_to_segments: bool,
) -> WrittenSeries:
    paths = [output_path.with_name(f"{output_path.stem}_layer{index}{output_path.suffix}") for index in range(1, len(layers) + 1)]
    for path in paths:
        refuse_existing(path, overwrite)
    written: list[WrittenSeg] = []
    try:
        for index, (layer, path) in enumerate(zip(layers, paths)):
            in_layer = [segment for segment in segments if layer_of_segment[segment.number] == index]
            instance = replace(series, instance_number=index + 1, sop_instance_uid=None)
            written.append(
                write_labelmap_seg(
                    layer, in_layer, source, path,
                    compression=compression, series=instance, overwrite=overwrite, crop_to_segments=crop_to_segments,
                )
            )
    except BaseException:
        for instance in written:
            instance.path.unlink(missing_ok=True)
        raise
    return WrittenSeries(series.series_instance_uid, SegmentationType.LABELMAP, tuple(written))
