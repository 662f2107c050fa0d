"""What LABELMAP and BINARY SEGs share when highdicom builds them: input checks, highdicom's arguments, what it leaves unset.

Every check runs before highdicom is called, so that a problem is reported
in the project's terms, naming the segment or value, before anything is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager

import highdicom as hd
import numpy as np
from pydicom import Dataset

from ... import __version__
from ...errors import EncodingError, InvalidSegmentationError
from ..codecs.compression import Compression, frame_size_problem
from ..geometry.source_series import SourceSeries
from ..library_output import copied_person_name_warnings_at_debug
from ..segments.label_layers import label_dtype, labelled_box, values_not_in
from ..segments.segment_metadata import (
    MAX_SEGMENT_NUMBER,
    SegmentMetadata,
    segment_description_from_metadata,
    set_segment_algorithm,
)
from .export_options import SeriesAttributes
from .source_references import source_images_for_highdicom

MANUFACTURER = "DICOMLabelMapSeg"
ACQUISITION_EQUIPMENT_CODE_VALUE = "109101"
"""DCM code of the Purpose of Reference "Acquisition Equipment" (PS3.16 CID 7005)."""
VALUES_SHOWN = 10
"""How many undescribed label values an error message lists."""


def highdicom_arguments(
    source: SourceSeries, series: SeriesAttributes, pixel_syntax: str, workers: int | Executor
) -> dict[str, object]:
    """The highdicom Segmentation arguments that LABELMAP and BINARY SEGs share; ``series`` is a planned SEG's, all set."""
    return {
        "source_images": source_images_for_highdicom(source),
        "series_instance_uid": series.series_instance_uid,
        "series_number": series.series_number,
        "sop_instance_uid": series.sop_instance_uid,
        "instance_number": series.instance_number,
        "manufacturer": MANUFACTURER,
        "manufacturer_model_name": MANUFACTURER,
        "software_versions": __version__,
        "device_serial_number": "1",
        "transfer_syntax_uid": pixel_syntax,
        "series_description": series.series_description,
        "content_label": series.content_label,
        "content_description": series.content_description,
        "content_creator_name": series.content_creator_name,
        "workers": workers,
    }


def finish(seg: hd.seg.Segmentation, segments: Sequence[SegmentMetadata], series: SeriesAttributes) -> hd.seg.Segmentation:
    """What highdicom does not set: each segment's algorithm, clinical trial attributes.

    And one thing it adds that a SEG should not carry: highdicom 0.28 copies the
    source scanner (institution, address, station, serial number) into the
    Contributing Equipment Sequence. A SEG copies patient and study from its
    source and nothing else, so that item is removed; the processing-equipment
    item naming the software stays.
    """
    trial = {
        "ClinicalTrialSeriesID": series.clinical_trial_series_id,
        "ClinicalTrialTimePointID": series.clinical_trial_time_point_id,
        "ClinicalTrialCoordinatingCenterName": series.clinical_trial_coordinating_center_name,
    }
    if any(trial.values()):
        # ClinicalTrialCoordinatingCenterName is Type 2 in the Clinical Trial Series module: present, maybe empty.
        seg.ClinicalTrialCoordinatingCenterName = trial.pop("ClinicalTrialCoordinatingCenterName") or ""
        for keyword, value in trial.items():
            if value:
                setattr(seg, keyword, value)
    by_number = {segment.number: segment for segment in segments}
    for item in seg.SegmentSequence:
        if item.SegmentNumber in by_number:
            set_segment_algorithm(item, by_number[item.SegmentNumber])
    if "ContributingEquipmentSequence" in seg:
        seg.ContributingEquipmentSequence = [
            item for item in seg.ContributingEquipmentSequence if not _is_acquisition_equipment(item)
        ]
    return seg


def _is_acquisition_equipment(item: Dataset) -> bool:
    purposes = item.get("PurposeOfReferenceCodeSequence", [])
    return any(code.get("CodeValue") == ACQUISITION_EQUIPMENT_CODE_VALUE and code.get("CodingSchemeDesignator") == "DCM"
               for code in purposes)


def check_frame_size(compression: Compression, rows: int, columns: int, cropped: bool) -> None:
    """Refuse, before anything is encoded, frames beyond the codec's limits."""
    problem = frame_size_problem(compression, rows, columns)
    if problem:
        hint = " (frames cropped to the segments; without cropping they have the source's size)" if cropped else ""
        raise EncodingError(f"The SEG cannot be written: {problem}{hint}.")


@contextmanager
def highdicom_refusals() -> Iterator[None]:
    """highdicom's refusal of the data (a ValueError or RuntimeError from it or a codec) as an :class:`EncodingError`."""
    try:
        with copied_person_name_warnings_at_debug():
            yield
    except (ValueError, RuntimeError) as error:
        raise EncodingError(f"highdicom could not build the SEG: {error}") from error


def frame_box(arrays: Sequence[np.ndarray], in_plane: bool) -> tuple[slice, slice, slice]:
    """The window the frames cover: the labelled voxels' (see :func:`..segments.label_layers.labelled_box`), or slice 0.

    A SEG needs a frame even when nothing is labelled.
    """
    return labelled_box(arrays, in_plane) or (slice(0, 1), slice(0, arrays[0].shape[1]), slice(0, arrays[0].shape[2]))


def segment_descriptions(segments: Sequence[SegmentMetadata]) -> list[hd.seg.SegmentDescription]:
    """highdicom's descriptions of ``segments`` (numbers checked by :func:`check_segment_numbers`), in number order."""
    ordered = sorted(segments, key=lambda segment: segment.number)
    return [segment_description_from_metadata(segment) for segment in ordered]


def check_segment_numbers(segments: Sequence[SegmentMetadata]) -> None:
    """Refuse a segmentation without segments, or with a segment number used twice."""
    if not segments:
        raise InvalidSegmentationError("The segmentation has no segments.")
    numbers = [segment.number for segment in segments]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise InvalidSegmentationError(f"Segment numbers {duplicates} are used by more than one segment.")


def checked_label_array(array: np.ndarray, numbers: Sequence[int]) -> np.ndarray:
    """Return the labels as the smallest unsigned type that holds every segment number.

    Every non-zero value must be the number of a described segment.
    """
    if array.dtype.kind not in "uib" and (array.dtype.kind != "f" or not np.array_equal(array, np.round(array))):
        raise InvalidSegmentationError(
            f"Labels must be whole numbers; the label array has type {array.dtype} with fractional values."
        )
    if array.size == 0:
        raise InvalidSegmentationError("The label array is empty.")
    if array.dtype.kind != "u":
        low = array.min()
        if low < 0:
            raise InvalidSegmentationError(f"Label values must not be negative; found {low}.")
    high = array.max()
    if high > MAX_SEGMENT_NUMBER:
        raise InvalidSegmentationError(
            f"Label value {high} is above {MAX_SEGMENT_NUMBER}, the largest segment number DICOM allows."
        )
    undescribed = values_not_in(array, numbers)
    if undescribed:
        shown = ", ".join(str(v) for v in undescribed[:VALUES_SHOWN]) + (" ..." if len(undescribed) > VALUES_SHOWN else "")
        raise InvalidSegmentationError(f"Label values {shown} have no segment metadata.")
    return array.astype(label_dtype(max(numbers)), copy=False)


def check_frame_of_reference(labels: hd.Volume, source: SourceSeries) -> None:
    """Refuse labels in another frame of reference than the source images'."""
    source_uid = source.geometry.frame_of_reference_uid
    if labels.frame_of_reference_uid and source_uid and labels.frame_of_reference_uid != source_uid:
        raise InvalidSegmentationError(
            f"The segmentation is in frame of reference {labels.frame_of_reference_uid}, "
            f"the source series in {source_uid}."
        )
