"""A layered segmentation -> the SEG objects of one series: LABELMAP when it can be, else as the overlap policy says.

The segmentation is written as one LABELMAP SEG when no voxel is claimed
twice; otherwise :mod:`.overlap_policy` decides: one classic BINARY SEG, one
LABELMAP instance per layer in one series, or an error naming the overlaps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd

from ..garbage_collection import garbage_collection_paused
from ..geometry.source_series import SourceSeries
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.sop_classes import SegmentationType
from .binary_writer import binary_seg
from .export_options import ExportOptions
from .export_plan import SeriesPlan, plan_series
from .labelmap_writer import labelmap_seg
from .seg_file import WrittenSeg, save_seg


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
    plan = plan_series(segmentation, source, Path(output_dir), options)
    built = built_segs(plan)
    written: list[WrittenSeg] = []
    try:
        for seg, instance in zip(built, plan.instances, strict=True):
            written.append(save_seg(seg, instance, plan.overwrite))
    except BaseException:
        for done in written:
            done.path.unlink(missing_ok=True)
        raise
    return WrittenSeries(plan.series_instance_uid, plan.instances[0].segmentation_type, tuple(written))


@garbage_collection_paused()
def build_segmentation(
    segmentation: LayeredSegmentation, source: SourceSeries, options: ExportOptions = ExportOptions()
) -> list[hd.seg.Segmentation]:
    """The SEG datasets of :func:`write_segmentation`, in memory: for a pipeline that sends them on without a file.

    One LABELMAP SEG; for overlapping segments one BINARY SEG, or one LABELMAP
    per layer (instance numbers 1, 2, ...), as ``options.overlap`` says. All
    share one SeriesInstanceUID. Raises as :func:`write_segmentation`.
    """
    return built_segs(plan_series(segmentation, source, None, options))


def built_segs(plan: SeriesPlan) -> list[hd.seg.Segmentation]:
    """The planned SEGs, built by highdicom in instance order."""
    return [
        (binary_seg if instance.segmentation_type is SegmentationType.BINARY else labelmap_seg)(plan, instance)
        for instance in plan.instances
    ]
