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
offered. A SEG we would not load here as things stand (the Python packages it
needs are missing, or its header shows the readers would refuse it) is
offered below the core plugin, unselected, with the reason as the loadable's
warning, so the core plugin is preselected. Where no SEG plugin is
registered (Slicer 5.10 has no core one; there ``DICOMScalarVolumePlugin``
takes a LABELMAP SEG for an image and offers it at 0.5, selected), a SEG
whose packages are missing is still offered above every other plugin,
selected: loading it installs them, after asking.

For export, the core plugin offers every segmentation at 1.0 and Slicer's
export dialog lists ties with the plugin whose name sorts last first, which
is the core one. We offer at :data:`EXPORT_CONFIDENCE`, just above 1.0: first
in the list, shown there as 100%.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UIDS
from .package_requirements import missing_requirements, requirements_to_read

if TYPE_CHECKING:
    from pydicom import Dataset

SEG_PLUGIN_KEY = "DICOMSegmentationPlugin"
"""The key of Slicer 5.12's core SEG plugin (dcmqi) in ``slicer.modules.dicomPlugins``, and of
QuantitativeReporting's, which it came from; absent on Slicer 5.10 without that extension."""

PLUGIN_KEY = "DICOMLabelMapSegPlugin"
"""Our key in ``slicer.modules.dicomPlugins``, apart from the core plugin's ``DICOMSegmentationPlugin``;
the export dialog lists plugins of equal confidence by this name."""

SEG_CONFIDENCE = 0.97
"""Above the 0.95 of Slicer's core SEG plugin, below the 1.0 that would claim certainty."""

BELOW_CORE_CONFIDENCE = 0.4
"""For a SEG we cannot load here yet: below the core plugin's 0.95 and DICOMPlugin's default 0.5."""

EXPORT_CONFIDENCE = 1.001
"""Above the core plugin's 1.0 for export, so the export dialog lists LABELMAP first; it displays as 100%."""


@dataclass(frozen=True)
class LoadableOffer:
    """How one SEG series appears in the DICOM browser's list of loadables."""

    name: str
    tooltip: str
    confidence: float
    selected: bool = True
    warning: str = ""

    def below_core_plugin(self, reason: str) -> LoadableOffer:
        """This offer made so that the core plugin is preselected, with ``reason`` shown to the user."""
        return replace(self, confidence=BELOW_CORE_CONFIDENCE, selected=False, warning=reason)

    def needing_packages(self, missing_packages: Sequence[str], seg_plugin_registered: bool = True) -> LoadableOffer:
        """This offer when loading must first install ``missing_packages``.

        Below the core plugin where a SEG plugin is registered; else as it
        is, selected, saying in the tooltip that loading installs them.
        """
        if not missing_packages:
            return self
        if not seg_plugin_registered:
            return replace(self, tooltip=f"{self.tooltip}. {_packages_to_install(missing_packages)}")
        return self.below_core_plugin(_packages_to_install(missing_packages))


@dataclass(frozen=True)
class ExportOffer:
    """How a segmentation appears in Slicer's *Export to DICOM* dialog."""

    confidence: float
    tooltip: str


def export_offer(missing_packages: Sequence[str] = ()) -> ExportOffer:
    """Our exporter first in the dialog, or below the core one when exporting must first install packages."""
    tooltip = "One LABELMAP SEG file: one frame per slice, every segment's number and metadata"
    if missing_packages:
        return ExportOffer(BELOW_CORE_CONFIDENCE, f"{tooltip}. {_packages_to_install(missing_packages)}")
    return ExportOffer(EXPORT_CONFIDENCE, tooltip)


def _packages_to_install(missing_packages: Sequence[str]) -> str:
    return (
        f"DICOMLabelMapSeg needs Python packages that are not installed ({', '.join(missing_packages)}): "
        "using it installs them (Slicer may then need a restart)."
    )


def offer_for_seg_series(
    sop_class_uid: str,
    modality: str,
    series_description: str,
    dimension_organization_type: str = "",
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


def offer_for_seg_file(
    offer: LoadableOffer,
    path: Path,
    transfer_syntax_uid: str,
    seg_plugin_registered: bool = True,
    header: Dataset | None = None,
) -> LoadableOffer:
    """``offer`` as loading the file here would turn out: below the core plugin when we would not load it now.

    That is when packages must be installed first, or when its header shows
    that the readers would refuse it (:func:`~DicomManager.core.reading.seg_reader.header_problem`); the
    loadable's warning then says why, and the core plugin is preselected.
    ``seg_plugin_registered`` says whether another SEG plugin
    (:data:`SEG_PLUGIN_KEY`) is registered: where none is, missing packages
    leave the offer selected (see :meth:`LoadableOffer.needing_packages`).
    ``header`` is the file's header (no pixel data) when the caller has read
    it already, so that the file is not read again; it may be completed in place.
    """
    missing = missing_requirements(requirements_to_read(transfer_syntax_uid))
    if missing:
        return offer.needing_packages(missing, seg_plugin_registered)
    from ..core.reading.seg_reader import header_problem  # needs pydicom 3 and highdicom, which the packages above include

    problem = header_problem(path, header)
    return offer.below_core_plugin(f"DICOMLabelMapSeg would not load it: {problem}") if problem else offer
