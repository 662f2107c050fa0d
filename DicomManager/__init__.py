"""DICOMLabelMapSeg's DicomManager: Slicer segmentations <-> DICOM Segmentation, LABELMAP first.

What a Python user needs is importable from here::

    from DicomManager import ExportOptions, read_seg, write_segmentation

- Reading any SEG (LABELMAP, BINARY, FRACTIONAL): :func:`read_seg` returns
  :class:`SegContents` (label layers, segments, the SEG's identity).
- Writing: :func:`write_segmentation` (a :class:`LayeredSegmentation`; one
  LABELMAP SEG, or as :class:`OverlapPolicy` says when segments overlap) and
  :func:`write_labelmap_seg` (one label volume), both steered by
  :class:`ExportOptions`; :func:`build_segmentation` and
  :func:`build_labelmap_seg` give the same SEGs in memory, without a file. ``workers=ALL_CORES`` (outside the Slicer
  application, which must not be forked) spreads frame encoding and
  decoding over the cores where that pays.
- Slicer's segmentation file without Slicer: :func:`read_seg_nrrd`, :func:`write_seg_nrrd`;
  label volumes (NRRD, NIfTI, MetaImage, as dcmqi takes them): :func:`read_label_volume`,
  :func:`write_label_volume`.
- In Slicer or with ``slicer-core``: :class:`MrmlDicomManager` (segmentation and volume
  nodes; also under its first name, ``DicomManager``).
- Measurements (Slicer's segment statistics as a TID 1500 report): :func:`measure_seg`
  (:class:`SegMeasurements`, from :func:`segment_statistics`), :func:`write_measurement_report`
  (:func:`report_path_beside` names it beside its SEG), :func:`read_measurement_report`
  (:class:`MeasurementReportContents`); :class:`SegmentStatistics` per segment.
- Every error raised on purpose is a :class:`DicomLabelMapSegError`.

Names are imported on first use, so that importing the package costs nothing
(Slicer imports it at startup, also where highdicom is not installed yet).
The modules below ``core``, ``mrml`` and the rest are the implementation.
"""

from importlib import import_module
from typing import TYPE_CHECKING

from .errors import DicomLabelMapSegError

__version__ = "0.1.0"

_PUBLIC = {
    "ALL_CORES": "core.cores",
    "Code": "core.segments.segment_metadata",
    "Compression": "core.codecs.compression_choices",
    "DicomManager": "mrml.manager",
    "ExportOptions": "core.writing.export_options",
    "LayeredSegmentation": "core.segments.layered_segmentation",
    "MeasurementReportContents": "core.measurements.report_reading",
    "MrmlDicomManager": "mrml.manager",
    "OverlapPolicy": "core.writing.overlap_policy",
    "SegContents": "core.reading.seg_contents",
    "SegInfo": "core.reading.seg_info",
    "SegMeasurements": "core.measurements.measuring",
    "SegmentMetadata": "core.segments.segment_metadata",
    "SegmentStatistics": "core.measurements.segment_statistics",
    "SegmentationType": "core.segments.sop_classes",
    "SeriesAttributes": "core.writing.export_options",
    "SourceSeries": "core.geometry.source_series",
    "WrittenSeg": "core.writing.seg_file",
    "WrittenSeries": "core.writing.series_writer",
    "build_labelmap_seg": "core.writing.labelmap_writer",
    "build_segmentation": "core.writing.series_writer",
    "measure_seg": "core.measurements.measuring",
    "read_label_volume": "core.label_files.label_volume_files",
    "read_measurement_report": "core.measurements.report_reading",
    "read_seg": "core.reading.seg_reader",
    "read_seg_nrrd": "core.slicer_files.seg_nrrd",
    "read_source_series": "core.geometry.source_series",
    "read_source_series_folder": "core.geometry.source_series",
    "report_path_beside": "core.measurements.measurement_report",
    "segment_statistics": "core.measurements.segment_statistics",
    "write_label_volume": "core.label_files.label_volume_files",
    "write_labelmap_seg": "core.writing.labelmap_writer",
    "write_measurement_report": "core.measurements.measurement_report",
    "write_seg_nrrd": "core.slicer_files.seg_nrrd",
    "write_segmentation": "core.writing.series_writer",
}
"""The module of each public name but the error base class, imported by ``__getattr__`` on first use."""

__all__ = [
    "DicomLabelMapSegError",
    "ALL_CORES",
    "Code",
    "Compression",
    "DicomManager",
    "ExportOptions",
    "LayeredSegmentation",
    "MeasurementReportContents",
    "MrmlDicomManager",
    "OverlapPolicy",
    "SegContents",
    "SegInfo",
    "SegMeasurements",
    "SegmentMetadata",
    "SegmentStatistics",
    "SegmentationType",
    "SeriesAttributes",
    "SourceSeries",
    "WrittenSeg",
    "WrittenSeries",
    "build_labelmap_seg",
    "build_segmentation",
    "measure_seg",
    "read_label_volume",
    "read_measurement_report",
    "read_seg",
    "read_seg_nrrd",
    "read_source_series",
    "read_source_series_folder",
    "report_path_beside",
    "segment_statistics",
    "write_label_volume",
    "write_labelmap_seg",
    "write_measurement_report",
    "write_seg_nrrd",
    "write_segmentation",
]
"""The public names: ``_PUBLIC`` and the type-checking imports below list the same (a test holds them to it)."""


def __getattr__(name: str) -> object:
    """Import a public name from its module when it is first asked for."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        value = getattr(import_module(f".{module}", __name__), name)
    except ModuleNotFoundError as error:
        from .extras import missing_extra_message

        message = missing_extra_message(error, f"{__name__}.{name}")
        if message is None:
            raise
        raise ModuleNotFoundError(message, name=error.name) from error
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


if TYPE_CHECKING:  # for type checkers and editors; at run time, __getattr__ imports these on first use
    from .core.codecs.compression_choices import Compression
    from .core.cores import ALL_CORES
    from .core.geometry.source_series import SourceSeries, read_source_series, read_source_series_folder
    from .core.label_files.label_volume_files import read_label_volume, write_label_volume
    from .core.measurements.measurement_report import report_path_beside, write_measurement_report
    from .core.measurements.measuring import SegMeasurements, measure_seg
    from .core.measurements.report_reading import MeasurementReportContents, read_measurement_report
    from .core.measurements.segment_statistics import SegmentStatistics, segment_statistics
    from .core.reading.seg_contents import SegContents
    from .core.reading.seg_info import SegInfo
    from .core.reading.seg_reader import read_seg
    from .core.segments.layered_segmentation import LayeredSegmentation
    from .core.segments.segment_metadata import Code, SegmentMetadata
    from .core.segments.sop_classes import SegmentationType
    from .core.slicer_files.seg_nrrd import read_seg_nrrd, write_seg_nrrd
    from .core.writing.export_options import ExportOptions, SeriesAttributes
    from .core.writing.labelmap_writer import build_labelmap_seg, write_labelmap_seg
    from .core.writing.overlap_policy import OverlapPolicy
    from .core.writing.seg_file import WrittenSeg
    from .core.writing.series_writer import WrittenSeries, build_segmentation, write_segmentation
    from .mrml.manager import DicomManager, MrmlDicomManager
