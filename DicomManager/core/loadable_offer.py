"""What the DICOM browser should offer for a series, decided from a few header values.

Slicer's DICOM browser asks every plugin about every series it shows, so this
decision uses only values that the database's tag cache holds (SOP Class UID,
Modality, Series Description, Dimension Organization Type): no pixel is
decoded and no highdicom is imported.

Confidence: Slicer 5.12's core ``DICOMSegmentationPlugin`` (dcmqi) offers
every SEG at 0.95, and the browser preselects the highest confidence per
series. We offer 0.97, above it, for the SEGs our reader has been shown to
load at least as well:

- LABELMAP: frames placed by position, every segment number and all segment
  metadata kept, JPEG-LS and JPEG 2000 files read (dcmqi 1.5.7 cannot).
- Classic BINARY: on every classic SEG in the project's test data (dcmqi's and
  highdicom's, overlapping segments and a source series with a 200 mm gap
  included) our labels equal dcmqi's ``segimage2itkimage`` segment by segment;
  overlapping segments become separate layers instead of being merged away.
- Classic FRACTIONAL: thresholded at 0.5 (and said so); dcmqi's merged output,
  which the core plugin imports, turns the fractions themselves into labels.

Tiled slide-microscopy SEGs other than LABELMAP are not volumes and are not
offered.
"""

from __future__ import annotations

from dataclasses import dataclass

from .sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UIDS

SEG_CONFIDENCE = 0.97
"""Above the 0.95 of Slicer's core SEG plugin, below the 1.0 that would claim certainty."""


@dataclass(frozen=True)
class LoadableOffer:
    """How one SEG series appears in the DICOM browser's list of loadables."""

    name: str
    tooltip: str
    confidence: float
    selected: bool = True


def offer_for_seg_series(
    sop_class_uid: str, modality: str, series_description: str, dimension_organization_type: str = ""
) -> LoadableOffer | None:
    """The loadable to offer for a series with these header values, or None when it is not ours."""
    sop_class_uid = sop_class_uid.strip()
    if modality.strip() != "SEG" or sop_class_uid not in SEGMENTATION_SOP_CLASS_UIDS:
        return None
    labelmap = sop_class_uid == LABELMAP_SEG_SOP_CLASS_UID
    if not labelmap and dimension_organization_type.strip().startswith("TILED"):
        return None
    kind = "DICOM Label Map Segmentation" if labelmap else "DICOM Segmentation (classic)"
    name = series_description.strip() or "Segmentation"
    return LoadableOffer(name=name, tooltip=f"{name}: {kind}, loaded by DICOMLabelMapSeg", confidence=SEG_CONFIDENCE)
