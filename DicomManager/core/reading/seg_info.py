"""A SEG described from its header alone: its identity and series attributes (:class:`SegInfo`) and its segments.

Every reader takes these from the dataset it decodes, and ``info`` from a
header read without the pixel data; only pydicom is needed, so that ``info``
imports neither highdicom nor the readers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom import Dataset

from ..segments.segment_metadata import SegmentMetadata, segment_metadata_from_dataset
from ..segments.sop_classes import SegmentationType
from ..writing.export_options import SeriesAttributes


@dataclass(frozen=True)
class SegInfo:
    """Identifiers and series attributes of a SEG, as a browser or report shows them.

    The source images it references one by one are not here: listing them
    parses an item per image
    that loading never uses; :func:`.seg_references.read_seg_references`
    lists them.
    """

    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    series_description: str
    series_number: int | None
    content_label: str
    content_description: str
    content_creator_name: str
    transfer_syntax_uid: str
    bits_allocated: int
    number_of_frames: int
    pixel_padding_value: int | None
    photometric_interpretation: str
    frame_of_reference_uid: str | None
    referenced_series_uid: str | None
    segmentation_type: SegmentationType = SegmentationType.LABELMAP
    clinical_trial_series_id: str = ""
    clinical_trial_time_point_id: str = ""
    clinical_trial_coordinating_center_name: str = ""

    def series_attributes(self) -> SeriesAttributes:
        """The content and clinical trial attributes to write again when this SEG is converted or re-exported."""
        return SeriesAttributes(
            series_description=self.series_description or None,
            series_number=self.series_number,
            content_label=self.content_label or None,
            content_description=self.content_description or None,
            content_creator_name=self.content_creator_name or None,
            clinical_trial_series_id=self.clinical_trial_series_id or None,
            clinical_trial_time_point_id=self.clinical_trial_time_point_id or None,
            clinical_trial_coordinating_center_name=self.clinical_trial_coordinating_center_name or None,
        )


def segments_of(dataset: Dataset, path: Path) -> list[SegmentMetadata]:
    """The segments a SEG describes, background segment 0 left out."""
    items = [segment_metadata_from_dataset(item, source=str(path)) for item in dataset.SegmentSequence]
    return [segment for segment in items if segment.number != 0]


def background_of(dataset: Dataset, path: Path) -> SegmentMetadata | None:
    """The described background segment (number 0, as dcmqi writes in LABELMAPs), if any."""
    items = [item for item in dataset.SegmentSequence if item.get("SegmentNumber") == 0]
    return segment_metadata_from_dataset(items[0], source=str(path)) if items else None


def seg_info(dataset: Dataset, path: Path) -> SegInfo:
    """Identifiers and series attributes of a SEG dataset read from ``path``."""
    referenced_series = dataset.get("ReferencedSeriesSequence") or []
    series_item = referenced_series[0] if referenced_series else None
    padding = dataset.get("PixelPaddingValue")  # these two checked by seg_header to be one whole number if there
    series_number = dataset.get("SeriesNumber")
    return SegInfo(
        path=path,
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        series_instance_uid=str(dataset.get("SeriesInstanceUID", "")),
        study_instance_uid=str(dataset.get("StudyInstanceUID", "")),
        series_description=str(dataset.get("SeriesDescription", "")),
        series_number=int(series_number) if series_number not in (None, "") else None,
        content_label=str(dataset.get("ContentLabel", "")),
        content_description=str(dataset.get("ContentDescription", "")),
        content_creator_name=str(dataset.get("ContentCreatorName", "")),
        transfer_syntax_uid=str(dataset.file_meta.get("TransferSyntaxUID", "")),
        bits_allocated=int(dataset.BitsAllocated),
        number_of_frames=int(dataset.get("NumberOfFrames", 1)),
        pixel_padding_value=int(padding) if padding is not None else None,
        photometric_interpretation=str(dataset.get("PhotometricInterpretation", "")),
        frame_of_reference_uid=dataset.get("FrameOfReferenceUID"),
        referenced_series_uid=str(series_item.get("SeriesInstanceUID", "")) or None if series_item else None,
        segmentation_type=SegmentationType(dataset.SegmentationType),  # checked by seg_header
        clinical_trial_series_id=str(dataset.get("ClinicalTrialSeriesID", "")),
        clinical_trial_time_point_id=str(dataset.get("ClinicalTrialTimePointID", "")),
        clinical_trial_coordinating_center_name=str(dataset.get("ClinicalTrialCoordinatingCenterName", "")),
    )
