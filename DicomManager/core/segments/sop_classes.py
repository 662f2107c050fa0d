"""The SOP Classes and Segmentation Types this extension tells apart; importing this module costs nothing."""

from enum import StrEnum

SEGMENTATION_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"
"""Segmentation Storage: the classic BINARY and FRACTIONAL SEG."""

LABELMAP_SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.7"
"""Label Map Segmentation Storage (Supplement 243): SegmentationType LABELMAP."""

SEGMENTATION_SOP_CLASS_UIDS = frozenset({SEGMENTATION_SOP_CLASS_UID, LABELMAP_SEG_SOP_CLASS_UID})

SOP_CLASS_NAMES = {
    SEGMENTATION_SOP_CLASS_UID: "Segmentation Storage",
    LABELMAP_SEG_SOP_CLASS_UID: "Label Map Segmentation Storage",
}
"""Names for messages; pydicom releases before the standard's 2025b edition do not know the LABELMAP class."""


class SegmentationType(StrEnum):
    """Segmentation Type (0062,0001): how a SEG's frames hold its segments; the values are the DICOM ones."""

    LABELMAP = "LABELMAP"
    BINARY = "BINARY"
    FRACTIONAL = "FRACTIONAL"
