"""A layered segmentation -> the SEG objects of one series: LABELMAP when it can be, else as the overlap policy says.

The segmentation is written as one LABELMAP SEG when no voxel is claimed
twice; otherwise :mod:`.overlap_policy` decides: one classic BINARY SEG, one
LABELMAP instance per layer in one series, or an error naming the overlaps.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd

from ...errors import InvalidSegmentationError
from ..garbage_collection import garbage_collection_paused
from ..geometry.given_grids import source_series
from ..geometry.source_series import SourceSeries
from ..segments.label_layers import describe_overlaps, merge_finding_overlaps
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.sop_classes import SegmentationType
from .binary_writer import build_binary_seg
from .export_options import ExportOptions
from .file_output import refuse_existing
from .labelmap_writer import build_labelmap_seg
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
        The images the segmentation was drawn on: a :class:`SourceSeries`, the
        series' folder, or a list of its files; of the volumes of a multi-frame
        image there (echoes, image types, stacks), the segmentation's grid chooses one.
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
    plan = options.plan(output_dir)
    options, output_path = plan.options, plan.output_path
    if options.overlap is not OverlapPolicy.LAYERS:
        refuse_existing(output_path, options.overwrite)  # the one file written, checked before the work
    built = build_segmentation(segmentation, source, options)
    paths = [output_path] if len(built) == 1 else [
        output_path.with_name(f"{output_path.stem}_layer{index}{output_path.suffix}") for index in range(1, len(built) + 1)
    ]
    for path in paths:
        refuse_existing(path, options.overwrite)
    written: list[WrittenSeg] = []
    try:
        for seg, path in zip(built, paths, strict=True):
            written.append(save_seg(seg, path, options.overwrite))
    except BaseException:
        for instance in written:
            instance.path.unlink(missing_ok=True)
        raise
    return WrittenSeries(str(options.series.series_instance_uid), SegmentationType(built[0].SegmentationType), tuple(written))


@garbage_collection_paused()
def build_segmentation(
    segmentation: LayeredSegmentation, source: SourceSeries, options: ExportOptions = ExportOptions()
) -> list[hd.seg.Segmentation]:
    """The SEG datasets of :func:`write_segmentation`, in memory: for a pipeline that sends them on without a file.

    One LABELMAP SEG; for overlapping segments one BINARY SEG, or one LABELMAP
    per layer (instance numbers 1, 2, ...), as ``options.overlap`` says. All
    share one SeriesInstanceUID. Raises as :func:`write_segmentation`.
    """
    if not isinstance(segmentation, LayeredSegmentation):
        raise InvalidSegmentationError(
            f"segmentation: expected a LayeredSegmentation (LayeredSegmentation.from_labels(labels, segments) for one "
            f"label volume), not {type(segmentation).__name__}."
        )
    options = options.resolved()
    source = source_series(source, grid=segmentation.layers[0].get_geometry())  # chooses a multi-frame source's volume
    layers, segments = segmentation.layers, segmentation.segments
    merged, overlaps = merge_finding_overlaps([layer.array for layer in layers])
    if not overlaps:
        return [build_labelmap_seg(layers[0].with_array(merged), segments, source, options)]
    if options.overlap is OverlapPolicy.ERROR:
        raise InvalidSegmentationError(describe_overlaps(overlaps, {segment.number: segment.label for segment in segments}))
    logger.info("%d pairs of segments overlap; writing them with the %s policy", len(overlaps), options.overlap.value)
    if options.overlap is OverlapPolicy.BINARY:
        return [build_binary_seg(segmentation, source, options)]
    return [
        build_labelmap_seg(
            layer,
            [segment for segment in segments if segmentation.layer_of_segment[segment.number] == index],
            source,
            options.with_series(instance_number=index + 1, sop_instance_uid=None),
        )
        for index, layer in enumerate(layers)
    ]
