"""A layered segmentation -> the SEG objects of one series: LABELMAP when it can be, else as the overlap policy says.

The segmentation is written as one LABELMAP SEG when no voxel is claimed
twice; otherwise :mod:`.overlap_policy` decides: one classic BINARY SEG, one
LABELMAP instance per layer in one series, or an error naming the overlaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from ...errors import InvalidSegmentationError
from ..garbage_collection import garbage_collection_paused
from ..geometry.source_series import SourceSeries
from ..segments.label_layers import describe_overlaps, merge_finding_overlaps
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.sop_classes import SegmentationType
from .binary_writer import build_binary_seg
from .export_options import ExportOptions
from .file_output import refuse_existing
from .labelmap_writer import write_labelmap_seg
from .overlap_policy import OverlapPolicy
from .seg_file import WrittenSeg, save_seg

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WrittenSeries:
    """The SEG instances written for one segmentation: one file, or one per layer."""

    series_instance_uid: str
    segmentation_type: SegmentationType  # LABELMAP, or BINARY for overlapping segments
    instances: tuple[WrittenSeg, ...]

    @property
    def paths(self) -> list[Path]:
        """The files written, in instance order."""
        return [instance.path for instance in self.instances]


@garbage_collection_paused()
def write_segmentation(
    segmentation: LayeredSegmentation, source: SourceSeries, output_dir: Path, options: ExportOptions = ExportOptions()
) -> WrittenSeries:
    """Write ``segmentation`` over the ``source`` images as one SEG series in ``output_dir``.

    Parameters
    ----------
    segmentation:
        Label layers on the source grid or any grid aligned with it.
    source:
        The images the segmentation was drawn on.
    output_dir:
        Folder of the files (see :class:`ExportOptions` for their names). With
        the ``layers`` policy and overlapping segments, all or none of the
        layer files are left on disk.
    options:
        How to write: compression, overlap policy, cropping, series attributes.

    Raises
    ------
    InvalidSegmentationError
        Bad labels or segments (see :func:`.labelmap_writer.write_labelmap_seg`), or
        overlapping segments under the ``error`` policy.
    GeometryMismatchError, EncodingError, CodecUnavailableError, OutputExistsError
        As :func:`.labelmap_writer.write_labelmap_seg`.
    """
    options = options.resolved()
    series_uid = str(options.series.series_instance_uid)
    output_path = options.output_path(output_dir)
    layers, segments = segmentation.layers, segmentation.segments
    merged, overlaps = merge_finding_overlaps([layer.array for layer in layers])
    if not overlaps:
        written = write_labelmap_seg(layers[0].with_array(merged), segments, source, output_path.parent,
                                     replace(options, file_name=output_path.name))
        return WrittenSeries(series_uid, SegmentationType.LABELMAP, (written,))
    if options.overlap is OverlapPolicy.ERROR:
        raise InvalidSegmentationError(describe_overlaps(overlaps, {segment.number: segment.label for segment in segments}))
    logger.info("%d pairs of segments overlap; writing them with the %s policy", len(overlaps), options.overlap.value)
    if options.overlap is OverlapPolicy.BINARY:
        refuse_existing(output_path, options.overwrite)
        written = save_seg(build_binary_seg(segmentation, source, options), output_path, options.overwrite)
        return WrittenSeries(series_uid, SegmentationType.BINARY, (written,))
    instances = _write_layer_instances(segmentation, source, output_path, options)
    return WrittenSeries(series_uid, SegmentationType.LABELMAP, instances)


def _write_layer_instances(
    segmentation: LayeredSegmentation, source: SourceSeries, output_path: Path, options: ExportOptions
) -> tuple[WrittenSeg, ...]:
    """One LABELMAP instance per layer, ``<stem>_layer<N><suffix>``: all of them, or none if one fails."""
    paths = [
        output_path.with_name(f"{output_path.stem}_layer{index}{output_path.suffix}")
        for index in range(1, len(segmentation.layers) + 1)
    ]
    for path in paths:
        refuse_existing(path, options.overwrite)
    written: list[WrittenSeg] = []
    try:
        for index, (layer, path) in enumerate(zip(segmentation.layers, paths, strict=True)):
            in_layer = [segment for segment in segmentation.segments if segmentation.layer_of_segment[segment.number] == index]
            instance = replace(options.with_series(instance_number=index + 1, sop_instance_uid=None), file_name=path.name)
            written.append(write_labelmap_seg(layer, in_layer, source, path.parent, instance))
    except BaseException:
        for instance in written:
            instance.path.unlink(missing_ok=True)
        raise
    return tuple(written)
