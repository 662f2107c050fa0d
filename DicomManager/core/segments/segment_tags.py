"""Segment metadata as the tags of a Slicer segment (``vtkSegment``), as plain strings.

A Slicer segment keeps its terminology in the ``TerminologyEntry`` tag, and
this project keeps the SEG attributes Slicer has no field for in tags named
``DICOM.<Keyword>``, so a loaded SEG exported again keeps them. Segmentation
nodes and the ``.seg.nrrd`` files read and written without Slicer share
:func:`segment_tags` and :func:`segment_metadata_from_tags`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .segment_metadata import (
    AlgorithmType,
    SegmentMetadata,
    algorithm_identification_from_json,
    algorithm_identification_to_json,
)
from .terminology import TerminologyCodes, codes_from_terminology_entry, terminology_entry_from_codes

TERMINOLOGY_TAG = "TerminologyEntry"
"""The tag in which Slicer keeps a segment's terminology entry string."""
SEGMENT_TAGS = {
    "description": "DICOM.SegmentDescription",
    "algorithm_type": "DICOM.SegmentAlgorithmType",
    "algorithm_name": "DICOM.SegmentAlgorithmName",
    "tracking_id": "DICOM.TrackingID",
    "tracking_uid": "DICOM.TrackingUID",
}
"""Segment tags that keep SEG attributes Slicer has no field for."""
ALGORITHM_IDENTIFICATION_TAG = "DICOM.SegmentationAlgorithmIdentification"
"""Segment tag holding the SegmentationAlgorithmIdentificationSequence item as JSON."""


def segment_tags(metadata: SegmentMetadata) -> dict[str, str]:
    """Every tag a Slicer segment gets for ``metadata``: terminology, then the non-default DICOM attributes."""
    codes = TerminologyCodes(
        category=metadata.category,
        type=metadata.type,
        type_modifier=metadata.type_modifier,
        anatomic_region=metadata.anatomic_region,
        anatomic_region_modifier=metadata.anatomic_region_modifier,
    )
    tags = {TERMINOLOGY_TAG: terminology_entry_from_codes(codes)}
    for field, tag in SEGMENT_TAGS.items():
        value = getattr(metadata, field)
        if value and not (field == "algorithm_type" and value == AlgorithmType.MANUAL):
            tags[tag] = str(value)
    if metadata.algorithm_identification is not None:
        tags[ALGORITHM_IDENTIFICATION_TAG] = algorithm_identification_to_json(metadata.algorithm_identification)
    return tags


SEGMENT_TAG_NAMES = (TERMINOLOGY_TAG, *SEGMENT_TAGS.values(), ALGORITHM_IDENTIFICATION_TAG)
"""Every tag :func:`segment_metadata_from_tags` reads."""


def segment_metadata_from_tags(
    number: int, label: str, color: Sequence[float], tags: Mapping[str, str]
) -> SegmentMetadata:
    """What a Slicer segment's name, colour (components 0..1) and tags say about segment ``number``."""
    entry = tags.get(TERMINOLOGY_TAG)
    codes = codes_from_terminology_entry(entry) if entry else TerminologyCodes()
    values = {field: tags.get(tag) or None for field, tag in SEGMENT_TAGS.items()}
    identification = tags.get(ALGORITHM_IDENTIFICATION_TAG)
    return SegmentMetadata(
        number=number,
        label=label,
        category=codes.category,
        type=codes.type,
        type_modifier=codes.type_modifier,
        anatomic_region=codes.anatomic_region,
        anatomic_region_modifier=codes.anatomic_region_modifier,
        color=tuple(int(round(component * 255)) for component in color),
        description=values["description"],
        algorithm_type=values["algorithm_type"] or AlgorithmType.MANUAL,
        algorithm_name=values["algorithm_name"],
        tracking_id=values["tracking_id"],
        tracking_uid=values["tracking_uid"],
        algorithm_identification=algorithm_identification_from_json(identification) if identification else None,
    )
