"""Slicer terminology entry strings <-> DICOM codes, without Slicer's lists."""

from __future__ import annotations

from DicomManager import Code
from DicomManager.core.segments.segment_metadata import TISSUE
from DicomManager.core.segments.terminology import TerminologyCodes, codes_from_terminology_entry, terminology_entry_from_codes

SLICER_ENTRY = (
    "Segmentation category and type - 3D Slicer General Anatomy list~SCT^123037004^Anatomical Structure"
    "~SCT^64033007^Kidney~SCT^7771000^Left~Anatomic codes - DICOM master list~^^~^^"
)


def test_entry_written_by_slicer_parses():
    codes = codes_from_terminology_entry(SLICER_ENTRY)
    assert codes.category == Code("123037004", "SCT", "Anatomical Structure")
    assert codes.type == Code("64033007", "SCT", "Kidney")
    assert codes.type_modifier == Code("7771000", "SCT", "Left")
    assert codes.anatomic_region is None and codes.anatomic_region_modifier is None


def test_unknown_codes_survive_both_ways():
    codes = TerminologyCodes(
        category=Code("C1", "99LOCAL", "Local category"),
        type=Code("T-42", "99LOCAL", "Something no list knows"),
        type_modifier=Code("M", "99LOCAL", "Modifier"),
        anatomic_region=Code("R.1", "99LOCAL", "Region"),
        anatomic_region_modifier=Code("RM", "99LOCAL", "Region modifier"),
    )
    assert codes_from_terminology_entry(terminology_entry_from_codes(codes)) == codes


def test_empty_entry_fields_default_to_tissue():
    codes = codes_from_terminology_entry("~^^~^^~^^~~^^~^^")
    assert codes == TerminologyCodes(category=TISSUE, type=TISSUE)
