"""Segment metadata as the tags of a Slicer segment (``vtkSegment``), as plain strings.

A Slicer segment keeps its terminology in the ``TerminologyEntry`` tag, and
this project keeps the SEG attributes Slicer has no field for in tags named
``DICOM.<Keyword>``, so a loaded SEG exported again keeps them. Both the
segmentation nodes made in Slicer and the ``.seg.nrrd`` files written without
it take their tags from :func:`segment_tags`.
"""

from __future__ import annotations

from .segment_metadata import SegmentMetadata, algorithm_identification_to_json
from .terminology import TerminologyCodes, terminology_entry_from_codes

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
        if value and not (field == "algorithm_type" and value == "MANUAL"):
            tags[tag] = str(value)
    if metadata.algorithm_identification is not None:
        tags[ALGORITHM_IDENTIFICATION_TAG] = algorithm_identification_to_json(metadata.algorithm_identification)
    return tags
