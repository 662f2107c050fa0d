"""Measuring a SEG file over its source series: the SEG read onto the series' grid, then its segments measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
from pydicom import Dataset

from ...errors import GeometryMismatchError
from ..geometry.source_series import SourceSeries, image_positions, read_series_voxels
from ..reading.seg_contents import SegContents
from ..reading.seg_reader import read_seg, read_seg_header
from .measurement_report import ReportSeries, build_measurement_report
from .segment_statistics import SegmentStatistics, segment_statistics


@dataclass(frozen=True)
class SegMeasurements:
    """A SEG, what it holds on its source series' grid, and what was measured of each of its segments."""

    seg_header: Dataset
    contents: SegContents
    source: SourceSeries
    statistics: list[SegmentStatistics]

    def report(self, series: ReportSeries = ReportSeries()) -> hd.sr.EnhancedSR:
        """These measurements as a TID 1500 Measurement Report in the SEG's study."""
        return build_measurement_report(self.seg_header, self.contents.segments, self.statistics, self.source.datasets, series)


def measure_seg(seg_path: Path, source: SourceSeries, workers: int = 0) -> SegMeasurements:
    """Read the SEG at ``seg_path`` onto ``source``'s grid and measure each segment over the series' values.

    Raises
    ------
    GeometryMismatchError
        The SEG is in another frame of reference than ``source``, or its frames do not lie on the series' grid.
    SegFileError
        The SEG cannot be read (labels of no segment among them).
    SourceSeriesError
        The series' voxels cannot be read.
    """
    seg_path = Path(seg_path)
    header = read_seg_header(seg_path)
    seg_frame = str(header.get("FrameOfReferenceUID", ""))
    source_frame = str(source.datasets[0].get("FrameOfReferenceUID", ""))
    if seg_frame != source_frame:
        raise GeometryMismatchError(
            f"{seg_path}: its frame of reference {seg_frame or '(none)'} is not that of series "
            f"{source.series_instance_uid} ({source_frame or 'none'}); measure it over the series it was drawn on."
        )
    contents = read_seg(seg_path, source.geometry, workers=workers, image_positions=image_positions(source.datasets))
    statistics = segment_statistics(contents, read_series_voxels(source))
    return SegMeasurements(header, contents, source, statistics)
