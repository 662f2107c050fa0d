"""Segment statistics as a TID 1500 Measurement Report (Enhanced SR) that references its SEG, built with highdicom.

One volumetric ROI measurement group (TID 1411) per segment: its tracking identifier is the
segment's label, its region the SEG's segment (Referenced Segment, with the source series), its
finding and finding site the segment's property type and anatomic region, as QuantitativeReporting
writes them. The report joins the SEG's study in a series of its own; the SEG and the source
images are its evidence. Enhanced SR is enough (no spatial coordinates) and is what
QuantitativeReporting's writer, dcmqi's ``tid1500writer``, produces.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
from pydicom import Dataset
from pydicom.sr.codedict import codes

from ... import __version__
from ...errors import InvalidSegmentationError
from ..segments.segment_metadata import Code, SegmentMetadata
from ..writing.file_output import write_atomically
from .quantities import VOLUME_MM3, VOXEL_COUNT, Quantity, Statistic, image_quantities
from .segment_statistics import SegmentStatistics

logger = logging.getLogger(__name__)

MANUFACTURER = "DICOMLabelMapSeg"
DEFAULT_SERIES_DESCRIPTION = "Measurement Report"
"""QuantitativeReporting's series description for its reports."""
REPORT_BESIDE_SEG_SUFFIX = "_measurements"
"""What a report written beside its SEG adds to the SEG's file name (see :func:`report_path_beside`)."""
LATERALITIES = {"7771000", "24028007", "51440002", "66459002"}
"""SCT Left, Right, Right and left, Unilateral (CID 244): an anatomic region modifier that is a laterality."""


@dataclass(frozen=True)
class ReportSeries:
    """The report's own series and instance; ``None`` fields are filled from the SEG (series number + 1) or new UIDs."""

    series_description: str = DEFAULT_SERIES_DESCRIPTION
    series_number: int | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None


def build_measurement_report(
    seg: Dataset,
    segments: Sequence[SegmentMetadata],
    statistics: Sequence[SegmentStatistics],
    source_images: Sequence[Dataset],
    series: ReportSeries = ReportSeries(),
) -> hd.sr.EnhancedSR:
    """The measurement report of ``statistics`` over the SEG ``seg`` (its header is enough).

    Parameters
    ----------
    seg:
        The SEG the statistics were measured on.
    segments:
        Its segments; each statistic's segment must be among them.
    statistics:
        From :func:`.segment_statistics.segment_statistics` over the source series.
    source_images:
        The source series' headers, in any order: the report's evidence and image library.
    series:
        The report's series attributes.

    Raises
    ------
    InvalidSegmentationError
        A statistic names a segment the SEG does not describe.
    """
    by_number = {segment.number: segment for segment in segments}
    modality = str(source_images[0].get("Modality", ""))
    intensity = image_quantities(modality)
    if intensity is None:
        logger.warning(
            "Modality %r: no voxel value quantity is known for it, so the report holds only voxel counts and volumes.",
            modality,
        )
    source_series = str(source_images[0].SeriesInstanceUID)
    groups = [
        _measurement_group(seg, _segment(by_number, entry.segment_number), entry, intensity or [], source_series)
        for entry in statistics
    ]
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(
            observer_device_context=hd.sr.ObserverContext(
                observer_type=codes.DCM.Device,
                observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
                    uid=hd.UID(), manufacturer_name=MANUFACTURER, model_name=MANUFACTURER
                ),
            )
        ),
        procedure_reported=codes.cid100.ImagingProcedure,
        imaging_measurements=groups,
    )
    series_number = series.series_number if series.series_number is not None else int(seg.get("SeriesNumber") or 0) + 1
    with warnings.catch_warnings(record=True) as caught:
        # highdicom warns of the sources' attributes it copies (a one-part PatientName): the log, not the terminal.
        warnings.simplefilter("always")
        document = hd.sr.EnhancedSR(
            evidence=[seg, *source_images],
            content=report,
            series_instance_uid=series.series_instance_uid or hd.UID(),
            series_number=series_number,
            sop_instance_uid=series.sop_instance_uid or hd.UID(),
            instance_number=1,
            manufacturer=MANUFACTURER,
            is_complete=True,
            series_description=series.series_description,
            software_versions=__version__,
        )
    for warning in caught:
        logger.debug("highdicom: %s", warning.message)
    return document


def report_path_beside(seg_path: Path) -> Path:
    """Where the report of the SEG at ``seg_path`` goes beside it: ``liver.dcm`` -> ``liver_measurements.dcm``."""
    seg_path = Path(seg_path)
    return seg_path.with_name(f"{seg_path.stem}{REPORT_BESIDE_SEG_SUFFIX}{seg_path.suffix or '.dcm'}")


def write_measurement_report(report: hd.sr.EnhancedSR, path: Path, overwrite: bool = False) -> Path:
    """Save ``report`` to ``path``: written whole under a temporary name, then moved there."""
    write_atomically(Path(path), report.save_as, overwrite)
    return Path(path)


def _segment(by_number: dict[int, SegmentMetadata], number: int) -> SegmentMetadata:
    try:
        return by_number[number]
    except KeyError:
        raise InvalidSegmentationError(f"Segment {number} was measured but the SEG does not describe it.") from None


def _measurement_group(
    seg: Dataset, segment: SegmentMetadata, entry: SegmentStatistics, intensity: Sequence[Quantity], source_series: str
) -> hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations:
    measurements = [_measurement(VOXEL_COUNT, entry.voxel_count), _measurement(VOLUME_MM3, entry.volume_mm3)]
    if entry.intensity is not None:
        values = {
            Statistic.MINIMUM: entry.intensity.minimum,
            Statistic.MAXIMUM: entry.intensity.maximum,
            Statistic.MEAN: entry.intensity.mean,
            Statistic.MEDIAN: entry.intensity.median,
            Statistic.STANDARD_DEVIATION: entry.intensity.standard_deviation,
        }
        measurements += [_measurement(quantity, values[quantity.statistic]) for quantity in intensity]
    return hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=segment.tracking_uid or hd.UID(), identifier=segment.label),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=str(seg.SOPClassUID),
            sop_instance_uid=str(seg.SOPInstanceUID),
            segment_number=segment.number,
            source_series=hd.sr.SourceSeriesForSegmentation(source_series),
        ),
        finding_type=segment.type.to_coded_concept(),
        finding_sites=_finding_sites(segment),
        measurements=measurements,
    )


def _measurement(quantity: Quantity, value: float) -> hd.sr.Measurement:
    return hd.sr.Measurement(
        name=quantity.name.to_coded_concept(),
        value=value,
        unit=quantity.unit.to_coded_concept(),
        derivation=quantity.derivation.to_coded_concept() if quantity.derivation else None,
    )


def _finding_sites(segment: SegmentMetadata) -> list[hd.sr.FindingSite] | None:
    if segment.anatomic_region is None:
        return None
    modifier: Code | None = segment.anatomic_region_modifier
    is_laterality = modifier is not None and modifier.scheme == "SCT" and modifier.value in LATERALITIES
    return [
        hd.sr.FindingSite(
            anatomic_location=segment.anatomic_region.to_coded_concept(),
            laterality=modifier.to_coded_concept() if modifier and is_laterality else None,
            topographical_modifier=modifier.to_coded_concept() if modifier and not is_laterality else None,
        )
    ]
