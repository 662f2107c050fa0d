"""Slicer terminology entry strings <-> DICOM codes.

Slicer stores a segment's terminology as one string of seven fields joined by
``~``; each code field is ``scheme^value^meaning`` and an absent code is
``^^``::

    terminologyContext~category~type~typeModifier~anatomicContext~region~regionModifier

This module converts both ways without consulting Slicer's terminology lists,
so codes that Slicer does not know survive a round trip unchanged. The context
names are not DICOM data: on the way back the DICOM master list names are used,
which are the contexts Slicer ships for DICOM codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import TerminologyError
from .segment_metadata import TISSUE, Code

DEFAULT_TERMINOLOGY_CONTEXT = "Segmentation category and type - DICOM master list"
DEFAULT_ANATOMIC_CONTEXT = "Anatomic codes - DICOM master list"

_FIELD_SEPARATOR = "~"
_CODE_SEPARATOR = "^"
_FIELD_COUNT = 7
CODE_FIELDS = 3
"""A code field is ``scheme^value^meaning``."""


@dataclass(frozen=True)
class TerminologyCodes:
    """The five codes a Slicer terminology entry carries, category and type required."""

    category: Code = TISSUE
    type: Code = TISSUE
    type_modifier: Code | None = None
    anatomic_region: Code | None = None
    anatomic_region_modifier: Code | None = None


def terminology_entry_from_codes(
    codes: TerminologyCodes,
    terminology_context: str = DEFAULT_TERMINOLOGY_CONTEXT,
    anatomic_context: str = DEFAULT_ANATOMIC_CONTEXT,
) -> str:
    """Serialize ``codes`` as Slicer's terminology entry string."""
    fields = [
        terminology_context,
        _format_code(codes.category),
        _format_code(codes.type),
        _format_code(codes.type_modifier),
        anatomic_context,
        _format_code(codes.anatomic_region),
        _format_code(codes.anatomic_region_modifier),
    ]
    for name, text in (("terminology context", terminology_context), ("anatomic context", anatomic_context)):
        if _FIELD_SEPARATOR in text:
            raise TerminologyError(f"The {name} name {text!r} contains '~', which Slicer cannot store.")
    return _FIELD_SEPARATOR.join(fields)


def codes_from_terminology_entry(entry: str) -> TerminologyCodes:
    """Parse Slicer's terminology entry string; category and type default to Tissue when absent."""
    fields = entry.split(_FIELD_SEPARATOR)
    if len(fields) != _FIELD_COUNT:
        raise TerminologyError(
            f"Terminology entry {entry!r} has {len(fields)} '~'-separated fields, "
            f"expected {_FIELD_COUNT}."
        )
    category, type_, type_modifier, region, region_modifier = (
        _parse_code(fields[index], entry) for index in (1, 2, 3, 5, 6)
    )
    return TerminologyCodes(
        category=category or TISSUE,
        type=type_ or TISSUE,
        type_modifier=type_modifier,
        anatomic_region=region,
        anatomic_region_modifier=region_modifier,
    )


def _format_code(code: Code | None) -> str:
    if code is None:
        return _CODE_SEPARATOR * 2
    parts = (code.scheme, code.value, code.meaning)
    for part in parts:
        if _FIELD_SEPARATOR in part or _CODE_SEPARATOR in part:
            raise TerminologyError(
                f"Code {code.scheme}/{code.value} ({code.meaning!r}) contains '~' or '^', "
                "which a Slicer terminology entry cannot hold."
            )
    return _CODE_SEPARATOR.join(parts)


def _parse_code(field: str, entry: str) -> Code | None:
    """Parse a ``scheme^value^meaning`` field; an empty field or ``^^`` is no code."""
    if not field:
        return None
    parts = field.split(_CODE_SEPARATOR)
    if len(parts) != CODE_FIELDS:
        raise TerminologyError(f"Code {field!r} in terminology entry {entry!r} is not scheme^value^meaning.")
    scheme, value, meaning = parts
    if not scheme and not value:
        return None
    if not scheme or not value:
        raise TerminologyError(f"Code {field!r} in terminology entry {entry!r} lacks a scheme or a value.")
    return Code(value=value, scheme=scheme, meaning=meaning)
