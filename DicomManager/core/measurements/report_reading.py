"""Reading a TID 1500 Measurement Report back: its volumetric measurement groups, through highdicom's SR API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pydicom import Dataset
from pydicom.errors import InvalidDicomError

from ...errors import SegFileError
from ..segments.segment_metadata import Code

if TYPE_CHECKING:  # imported to read a report, not to tell one (info on a SEG does not load highdicom)
    import highdicom as hd

SR_MODALITY = "SR"


@dataclass(frozen=True)
class ReportedMeasurement:
    """One numeric measurement of a group: quantity, derivation modifier, value and unit."""

    quantity: Code
    value: float
    unit: Code
    derivation: Code | None


@dataclass(frozen=True)
class ReportedSegment:
    """One volumetric ROI measurement group: which segment of which SEG, and what was measured of it."""

    tracking_identifier: str
    seg_sop_class_uid: str | None
    seg_sop_instance_uid: str | None
    segment_number: int | None
    finding: Code | None
    measurements: list[ReportedMeasurement]


@dataclass(frozen=True)
class MeasurementReportContents:
    """What a measurement report says, as ``info`` and the Slicer loader show it."""

    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    series_description: str
    groups: list[ReportedSegment]

    @property
    def seg_sop_instance_uids(self) -> list[str]:
        """The SEGs the groups reference, in the order they first appear."""
        return list(dict.fromkeys(g.seg_sop_instance_uid for g in self.groups if g.seg_sop_instance_uid))


def is_structured_report(header: Dataset) -> bool:
    """Whether ``header``, read from a DICOM file, is a Structured Report's."""
    return str(header.get("Modality", "")) == SR_MODALITY


def read_measurement_report(path: Path) -> MeasurementReportContents:
    """Read the volumetric ROI measurement groups of the TID 1500 report at ``path``.

    Raises
    ------
    SegFileError
        Not a TID 1500 Measurement Report that highdicom reads.
    """
    import highdicom as hd

    path = Path(path)
    try:
        report = hd.sr.srread(path)
        groups = report.content.get_volumetric_roi_measurement_groups()
    except (InvalidDicomError, OSError, ValueError, AttributeError, TypeError, KeyError) as error:
        raise SegFileError(f"{path}: not a TID 1500 Measurement Report highdicom reads ({error}).") from error
    return MeasurementReportContents(
        path=path,
        sop_instance_uid=str(report.SOPInstanceUID),
        series_instance_uid=str(report.SeriesInstanceUID),
        study_instance_uid=str(report.StudyInstanceUID),
        series_description=str(report.get("SeriesDescription", "")),
        groups=[_reported_segment(group) for group in groups],
    )


def _reported_segment(group: hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations) -> ReportedSegment:
    segment = group.referenced_segment
    reference = segment[0].ReferencedSOPSequence[0] if segment is not None else None
    finding = group.finding_type
    return ReportedSegment(
        tracking_identifier=str(group.tracking_identifier or ""),
        seg_sop_class_uid=str(reference.ReferencedSOPClassUID) if reference else None,
        seg_sop_instance_uid=str(reference.ReferencedSOPInstanceUID) if reference else None,
        segment_number=int(reference.ReferencedSegmentNumber) if reference and "ReferencedSegmentNumber" in reference else None,
        finding=_code(finding) if finding else None,
        measurements=[
            ReportedMeasurement(
                quantity=_code(measurement.name),
                value=float(measurement.value),
                unit=_code(measurement.unit),
                derivation=_code(measurement.derivation) if measurement.derivation else None,
            )
            for measurement in group.get_measurements()
        ],
    )


def _code(concept: hd.sr.CodedConcept) -> Code:
    return Code(str(concept.value), str(concept.scheme_designator), str(concept.meaning))


@dataclass(frozen=True)
class TableColumn:
    """One quantity of a report as a table column: its name (the statistic) and unit."""

    name: str
    unit: str


def report_table(report: MeasurementReportContents) -> tuple[list[TableColumn], list[dict[str, float]]]:
    """The report as a table: a column per quantity (in the order they first appear), a row per group.

    A quantity is named by its derivation modifier where it has one (Minimum, Mean, ...),
    else by its concept name (Volume, Number of voxels), as Slicer's Segment Statistics names
    its columns; its unit is the UCUM code.
    """
    columns: dict[str, TableColumn] = {}
    rows = []
    for group in report.groups:
        row = {}
        for measurement in group.measurements:
            name = measurement.derivation.meaning if measurement.derivation else measurement.quantity.meaning
            columns.setdefault(name, TableColumn(name, measurement.unit.value))
            row[name] = measurement.value
        rows.append(row)
    return list(columns.values()), rows
