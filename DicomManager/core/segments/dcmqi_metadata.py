"""dcmqi's segmentation metadata JSON <-> segment metadata and series attributes.

dcmqi users describe segments in a JSON file (``segmentAttributes``: one list
per input label file, each item with a ``labelID``, codes and a
``recommendedDisplayRGBValue``). Accepting it as it is lets them switch
without rewriting their files; it is checked against dcmqi's own schema
(``dcmqi_schema/seg-schema.json``), so that what the schema does not allow
is refused by name, and a misspelt key is named instead of silently ignored.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

from ...errors import InvalidSegmentationError, MetadataFileError
from ..writing.export_options import SeriesAttributes
from ..writing.file_output import write_atomically
from .layered_segmentation import LayeredSegmentation
from .segment_metadata import Code, SegmentMetadata

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DcmqiMetadata:
    """The segments and series attributes a dcmqi metadata file describes."""

    segments: list[SegmentMetadata]
    series: SeriesAttributes


def read_dcmqi_metadata(
    path: Path, defaults: SeriesAttributes = SeriesAttributes(), *, strict: bool = False
) -> DcmqiMetadata:
    """Read a dcmqi metadata JSON file, checked against dcmqi's schema; attributes it does not set keep ``defaults``.

    A key the schema does not know (a misspelt ``SegmentLable``, say) is logged as a warning, naming the
    segment and the key, and ignored; with ``strict`` it is refused. Anything else the schema does not
    allow (a missing ``SegmentedPropertyTypeCodeSequence``, a value of the wrong type) is refused.

    Raises
    ------
    MetadataFileError
        The file is not JSON, or not what dcmqi's schema allows; the message names the segment and the key.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataFileError(f"{path}: cannot read it as JSON ({error}).") from error
    check_against_dcmqi_schema(document, path, strict=strict)
    groups = document.get("segmentAttributes")
    if not groups:
        raise MetadataFileError(f"{path}: 'segmentAttributes' is missing.")
    segments = [_segment(item, path) for group in groups for item in group]
    numbers = [segment.number for segment in segments]
    if len(set(numbers)) != len(numbers):
        raise MetadataFileError(f"{path}: a labelID is used more than once ({sorted(numbers)}).")
    return DcmqiMetadata(segments=segments, series=_series(document, defaults))


def dcmqi_metadata_document(segmentation: LayeredSegmentation, series: SeriesAttributes) -> dict[str, Any]:
    """The dcmqi metadata JSON that describes ``segmentation``'s segments and ``series``, as dcmqi's schema has it.

    ``segmentAttributes`` holds one list per layer (dcmqi's one list per label file), each segment in its
    layer's. What dcmqi's format has no key for (a segment's algorithm identification) is left out.
    """
    groups: list[list[dict[str, Any]]] = [[] for _ in segmentation.layers]
    for segment in segmentation.segments:
        groups[segmentation.layer_of_segment[segment.number]].append(_segment_item(segment))
    document: dict[str, Any] = {
        key: str(getattr(series, attribute))
        for key, (attribute, _) in _SERIES_KEYS.items()
        if getattr(series, attribute) not in (None, "")
    }
    return document | {"segmentAttributes": [group for group in groups if group]}


def write_dcmqi_metadata(
    path: Path, segmentation: LayeredSegmentation, series: SeriesAttributes, overwrite: bool = False
) -> None:
    """Write :func:`dcmqi_metadata_document` to ``path``, completely or not at all, never replacing a file unasked."""
    text = json.dumps(dcmqi_metadata_document(segmentation, series), indent=2) + "\n"
    write_atomically(Path(path), lambda temporary: temporary.write_text(text, encoding="utf-8"), overwrite)


def _segment_item(segment: SegmentMetadata) -> dict[str, Any]:
    optional = {
        "SegmentDescription": segment.description,
        "SegmentAlgorithmName": segment.algorithm_name,
        "SegmentedPropertyTypeModifierCodeSequence": _code_item(segment.type_modifier),
        "AnatomicRegionSequence": _code_item(segment.anatomic_region),
        "AnatomicRegionModifierSequence": _code_item(segment.anatomic_region_modifier),
        "recommendedDisplayRGBValue": list(segment.color) if segment.color is not None else None,
        "TrackingIdentifier": segment.tracking_id,
        "TrackingUniqueIdentifier": segment.tracking_uid,
    }
    return {
        "labelID": segment.number,
        "SegmentLabel": segment.label,
        "SegmentAlgorithmType": str(segment.algorithm_type),
        "SegmentedPropertyCategoryCodeSequence": _code_item(segment.category),
        "SegmentedPropertyTypeCodeSequence": _code_item(segment.type),
    } | {key: value for key, value in optional.items() if value is not None}


def _code_item(code: Code | None) -> dict[str, str] | None:
    if code is None:
        return None
    return {"CodeValue": code.value, "CodingSchemeDesignator": code.scheme, "CodeMeaning": code.meaning}


_SCHEMA_FOLDER = Path(__file__).with_name("dcmqi_schema")
_COMMON_SCHEMA_URI = "https://raw.githubusercontent.com/qiicr/dcmqi/master/doc/schemas/common-schema.json"


def check_against_dcmqi_schema(document: Any, path: Path, *, strict: bool = False) -> None:
    """Refuse what dcmqi's ``seg-schema.json`` does not allow; warn about (``strict``: refuse) keys it does not know.

    Each message names the file, the segment (its ``labelID``) or top-level key, and the key at fault.
    """
    unknown = []
    for error in sorted(_schema_validator().iter_errors(document), key=lambda error: list(map(str, error.absolute_path))):
        where = _where(document, list(error.absolute_path), path)
        if error.validator == "additionalProperties":
            keys = sorted(set(error.instance) - set(error.schema.get("properties", {})))
            unknown.append(f"{where}: {', '.join(map(repr, keys))} {'is' if len(keys) == 1 else 'are'} not in dcmqi's schema")
        elif error.validator == "required":
            missing = [key for key in error.validator_value if key not in error.instance]
            raise MetadataFileError(f"{where} has no {', '.join(missing)} (dcmqi's schema requires it).")
        else:
            raise MetadataFileError(f"{where}: {error.message} (dcmqi's schema).")
    if unknown and strict:
        raise MetadataFileError(f"{unknown[0]}; leave it out, or leave out --strict to ignore it.")
    for message in unknown:
        logger.warning("%s; it is ignored", message)


def _where(document: Any, location: list[str | int], path: Path) -> str:
    """Which part of the file ``location`` is in: a segment by its labelID (and the key in it), or a top-level key."""
    match location:
        case ["segmentAttributes", int(group), int(item), *inner]:
            segment = document["segmentAttributes"][group][item]
            label_id = segment.get("labelID") if isinstance(segment, dict) else None
            name = f"segment {label_id}" if label_id is not None else f"segmentAttributes[{group}][{item}]"
            return " ".join([f"{path}: {name}", *map(str, inner)])
        case [key, *_]:
            return f"{path}: {key}"
    return str(path)


@cache
def _schema_validator() -> Any:
    """A validator of dcmqi's segmentation metadata schema, its references to the common schema resolved locally."""
    from jsonschema import Draft4Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def schema(name: str) -> Any:
        return json.loads((_SCHEMA_FOLDER / name).read_text(encoding="utf-8"))

    common = Resource.from_contents(schema("common-schema.json"), default_specification=DRAFT4)
    return Draft4Validator(schema("seg-schema.json"), registry=Registry().with_resource(_COMMON_SCHEMA_URI, common))


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


def _segment(item: dict[str, Any], path: Path) -> SegmentMetadata:
    """One ``segmentAttributes`` item, already checked against dcmqi's schema."""
    number = item["labelID"]
    color = item.get("recommendedDisplayRGBValue")
    try:
        segment = SegmentMetadata(
            number=number,
            label=item.get("SegmentLabel") or f"Segment {number}",
            category=_code(item, "SegmentedPropertyCategoryCodeSequence"),
            type=_code(item, "SegmentedPropertyTypeCodeSequence"),
            type_modifier=_code(item, "SegmentedPropertyTypeModifierCodeSequence"),
            anatomic_region=_code(item, "AnatomicRegionSequence"),
            anatomic_region_modifier=_code(item, "AnatomicRegionModifierSequence"),
            color=tuple(color) if color is not None else None,
            description=item.get("SegmentDescription") or None,
            algorithm_type=item["SegmentAlgorithmType"],
            algorithm_name=item.get("SegmentAlgorithmName") or None,
            tracking_id=item.get("TrackingIdentifier") or None,
            tracking_uid=item.get("TrackingUniqueIdentifier") or None,
        )
        segment.validate()
    except InvalidSegmentationError as error:
        raise MetadataFileError(f"{path}: {error}") from error
    return segment


def _code(item: dict[str, Any], key: str) -> Code | None:
    value = item.get(key)
    if value is None:
        return None
    return Code(value=value["CodeValue"], scheme=value["CodingSchemeDesignator"], meaning=value["CodeMeaning"])
