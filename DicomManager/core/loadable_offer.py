"""What the DICOM browser should offer for a series, decided from a few header values.

Slicer's DICOM browser asks every plugin about every series it shows, so this
decision uses only values that the database's tag cache already holds (SOP
Class UID, Modality, Series Description): no file is parsed, no pixel is
decoded, no highdicom is imported.

Confidence: Slicer 5.12's core ``DICOMSegmentationPlugin`` (dcmqi) offers
every SEG at 0.95, and the browser preselects the highest confidence per
series. Our reader places LABELMAP frames by position, keeps every segment's
number and metadata and reads LABELMAPs that dcmqi 1.5.7 cannot decompress
(JPEG-LS, JPEG 2000), so for LABELMAP SEG we offer 0.97. Classic BINARY and
FRACTIONAL SEG (SOP Class ...66.4) are not offered: this reader does not load
them, so the core plugin stays the one that does.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sop_classes import LABELMAP_SEG_SOP_CLASS_UID

LABELMAP_CONFIDENCE = 0.97
"""Above the 0.95 of Slicer's core SEG plugin, below the 1.0 that would claim certainty."""


@dataclass(frozen=True)
class LoadableOffer:
    """How one SEG series appears in the DICOM browser's list of loadables."""

    name: str
    tooltip: str
    confidence: float
    selected: bool = True


def offer_for_seg_series(sop_class_uid: str, modality: str, series_description: str) -> LoadableOffer | None:
    """The loadable to offer for a series with these header values, or None when it is not ours."""
    if modality.strip() != "SEG" or sop_class_uid.strip() != LABELMAP_SEG_SOP_CLASS_UID:
        return None
    name = series_description.strip() or "Label map segmentation"
    return LoadableOffer(
        name=name,
        tooltip=f"{name}: DICOM Label Map Segmentation, loaded by DICOMLabelMapSeg",
        confidence=LABELMAP_CONFIDENCE,
    )
