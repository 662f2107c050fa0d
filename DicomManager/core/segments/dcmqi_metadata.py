"""dcmqi's segmentation metadata JSON -> segment metadata and series attributes.

dcmqi users describe segments in a JSON file (``segmentAttributes``: one list
per input label file, each item with a ``labelID``, codes and a
``recommendedDisplayRGBValue``; see dcmqi's ``seg-schema.json``). Accepting it
as it is lets them switch without rewriting their files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ...errors import MetadataFileError
from ..writing.export_options import SeriesAttributes
from .segment_metadata import RGB_CHANNELS, TISSUE, Code, SegmentMetadata


@dataclass(frozen=True)
class DcmqiMetadata:
    """The segments and series attributes a dcmqi metadata file describes."""

    segments: list[SegmentMetadata]
    series: SeriesAttributes


def read_dcmqi_metadata(path: Path, defaults: SeriesAttributes = SeriesAttributes()) -> DcmqiMetadata:
    """Read a dcmqi metadata JSON file; attributes it does not set keep ``defaults``."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataFileError(f"{path}: cannot read it as JSON ({error}).") from error
    groups = document.get("segmentAttributes") if isinstance(document, dict) else None
    if not isinstance(groups, list) or not groups:
        raise MetadataFileError(f"{path}: 'segmentAttributes' is missing or empty.")
    items = [item for group in groups for item in (group if isinstance(group, list) else [group])]
    segments = [_segment(item, path) for item in items]
    numbers = [segment.number for segment in segments]
    if len(set(numbers)) != len(numbers):
        raise MetadataFileError(f"{path}: a labelID is used more than once ({sorted(numbers)}).")
    return DcmqiMetadata(segments=segments, series=_series(document, defaults))


# dcmqi's top-level keys -> our series attribute and its type.
_SERIES_KEYS = {
    "SeriesDescription": ("series_description", str),
    "SeriesNumber": ("series_number", int),
    "InstanceNumber": ("instance_number", int),
    "ContentLabel": ("content_label", str),
    "ContentDescription": ("content_description", str),
    "ContentCreatorName": ("content_creator_name", str),
    "ClinicalTrialSeriesID": ("clinical_trial_series_id", str),
    "ClinicalTrialTimePointID": ("clinical_trial_time_point_id", str),
    "ClinicalTrialCoordinatingCenterName": ("clinical_trial_coordinating_center_name", str),
}


def _series(document: dict[str, Any], defaults: SeriesAttributes) -> SeriesAttributes:
    changes = {
        attribute: convert(document[key])
        for key, (attribute, convert) in _SERIES_KEYS.items()
        if document.get(key)
    }
    return replace(defaults, **changes)


def _segment(item: Any, path: Path) -> SegmentMetadata:
    if not isinstance(item, dict) or "labelID" not in item:
        raise MetadataFileError(f"{path}: a segmentAttributes item has no labelID.")
    try:
        number = int(item["labelID"])
    except (TypeError, ValueError):
        raise MetadataFileError(f"{path}: labelID {item['labelID']!r} is not a whole number.") from None
    where = f"{path}: segment {number}"
    color = item.get("recommendedDisplayRGBValue")
    if color is not None and (not isinstance(color, list) or len(color) != RGB_CHANNELS):
        raise MetadataFileError(f"{where}: recommendedDisplayRGBValue must be three numbers.")
    return SegmentMetadata(
        number=number,
        label=str(item.get("SegmentLabel") or f"Segment {number}"),
        category=_code(item, "SegmentedPropertyCategoryCodeSequence", where) or TISSUE,
        type=_code(item, "SegmentedPropertyTypeCodeSequence", where) or TISSUE,
        type_modifier=_code(item, "SegmentedPropertyTypeModifierCodeSequence", where),
        anatomic_region=_code(item, "AnatomicRegionSequence", where),
        anatomic_region_modifier=_code(item, "AnatomicRegionModifierSequence", where),
        color=tuple(int(c) for c in color) if color is not None else None,
        description=item.get("SegmentDescription") or None,
        algorithm_type=str(item.get("SegmentAlgorithmType", "MANUAL")),
        algorithm_name=item.get("SegmentAlgorithmName") or None,
        tracking_id=item.get("TrackingIdentifier") or None,
        tracking_uid=item.get("TrackingUniqueIdentifier") or None,
    )


def _code(item: dict[str, Any], key: str, where: str) -> Code | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not {"CodeValue", "CodingSchemeDesignator"} <= value.keys():
        raise MetadataFileError(f"{where}: {key} needs CodeValue and CodingSchemeDesignator.")
    return Code(
        value=str(value["CodeValue"]),
        scheme=str(value["CodingSchemeDesignator"]),
        meaning=str(value.get("CodeMeaning", "")),
    )
