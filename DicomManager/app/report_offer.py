"""What the DICOM browser should offer for a TID 1500 measurement report: ours where it measures a LABELMAP SEG.

Slicer 5.12's core ``DICOMTID1500Plugin`` offers every TID 1500 report at 0.95 and loads the
SEGs it references through the core SEG plugin, which it finds only for Segmentation Storage
(...66.4, ``DICOMTID1500Plugin.py`` 23, 170, 202 at v5.12.3). A report that measures a LABELMAP
SEG is offered above it, selected; one that measures only classic SEGs is offered below it,
unselected, so the core plugin keeps loading those as before.
"""

from __future__ import annotations

from pathlib import Path

from ..core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID
from ..errors import SegFileError
from .loadable_offer import LoadableOffer

REPORT_SOP_CLASS_UIDS = frozenset({
    "1.2.840.10008.5.1.4.1.1.88.22",  # Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  # Comprehensive SR
    "1.2.840.10008.5.1.4.1.1.88.34",  # Comprehensive 3D SR
})
"""The Structured Report classes a TID 1500 report comes in, as Slicer's TID 1500 plugin reads them."""

REPORT_CONFIDENCE = 0.96
"""Above the 0.95 of Slicer's core TID 1500 plugin, for reports whose SEGs only our loader reads."""


def offer_for_report_file(path: Path) -> LoadableOffer | None:
    """The loadable to offer for the SR at ``path``, or None when it is no measurement report of segments."""
    from ..core.measurements.report_reading import read_measurement_report

    try:
        report = read_measurement_report(Path(path))
    except SegFileError:
        return None
    classes = {group.seg_sop_class_uid for group in report.groups if group.seg_sop_class_uid}
    if not classes:
        return None
    name = report.series_description or "Measurement Report"
    offer = LoadableOffer(
        name=name,
        tooltip=f"{name}: measurements of {len(report.groups)} segments, loaded as a table by DICOMLabelMapSeg",
        confidence=REPORT_CONFIDENCE,
    )
    if LABELMAP_SEG_SOP_CLASS_UID in classes:
        return offer
    return offer.below_core_plugin("It measures classic SEGs only, which Slicer's own TID 1500 plugin loads.")
