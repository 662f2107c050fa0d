"""What one segment is, and how it is written to and read from a SEG's Segment Sequence.

:class:`SegmentMetadata` is the project's own record of a segment: number,
label, colour, terminology codes and algorithm. The two functions at the end
are the one place where it meets DICOM's Segment Description macro
(PS3.3 C.8.20.4): :func:`segment_description_from_metadata` builds highdicom's
item for writing and :func:`segment_metadata_from_dataset` reads an item back.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from numbers import Integral
from typing import TYPE_CHECKING

from pydicom import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence

from ...errors import InvalidSegmentationError, SegFileError, quoted
from .cielab_colors import CIELAB_MAX, RGB_MAX, rgb_from_cielab

if TYPE_CHECKING:  # imported where codes are given and segments written, not where they are read (info starts fast)
    import highdicom as hd
    from pydicom.sr.coding import Code as PydicomCode

logger = logging.getLogger(__name__)

class AlgorithmType(StrEnum):
    """Segment Algorithm Type (0062,0008): how a segment was made; the values are the DICOM ones."""

    MANUAL = "MANUAL"
    SEMIAUTOMATIC = "SEMIAUTOMATIC"
    AUTOMATIC = "AUTOMATIC"


MAX_SEGMENT_NUMBER = 65535
"""Segment Number (0062,0004) is US: the largest segment number, and label value, DICOM allows."""
RGB_CHANNELS = 3


@dataclass(frozen=True)
class Code:
    """A coded concept: value, coding scheme designator and meaning.

    Not pydicom's ``Code``: that one is equal to any code with the same value
    and scheme whatever its meaning (and maps SRT to SCT), so a round trip
    that lost a meaning would compare equal; this one compares all three.
    """

    value: str
    scheme: str
    meaning: str

    @classmethod
    def of(cls, code: Code | PydicomCode | hd.sr.CodedConcept, what: str) -> Code:
        """``code`` as ours: from pydicom's ``Code`` (``codes.SCT.Liver``) or highdicom's ``CodedConcept`` too.

        Raises :class:`InvalidSegmentationError` naming ``what`` for anything else.
        """
        if isinstance(code, Code):
            return code
        import highdicom as hd
        from pydicom.sr.coding import Code as PydicomCode  # pydicom.sr loads its code dictionaries: 0.15 s

        if isinstance(code, (PydicomCode, hd.sr.CodedConcept)):
            return cls(value=str(code.value), scheme=str(code.scheme_designator), meaning=str(code.meaning))
        raise InvalidSegmentationError(
            f"{what}: expected a Code (ours, pydicom's or highdicom's CodedConcept), not {type(code).__name__}."
        )

    def to_coded_concept(self) -> hd.sr.CodedConcept:
        """This code as highdicom's dataset item."""
        import highdicom as hd

        return hd.sr.CodedConcept(value=self.value, scheme_designator=self.scheme, meaning=self.meaning)

    @classmethod
    def from_item(cls, item: Dataset) -> Code:
        """Read a code sequence item (CodeValue, LongCodeValue or URNCodeValue)."""
        value = item.get("CodeValue") or item.get("LongCodeValue") or item.get("URNCodeValue") or ""
        return cls(
            value=str(value),
            scheme=str(item.get("CodingSchemeDesignator", "")),
            meaning=str(item.get("CodeMeaning", "")),
        )


TISSUE = Code("85756007", "SCT", "Tissue")
"""Slicer's default category and type for a segment without terminology."""


@dataclass(frozen=True)
class AlgorithmIdentification:
    """One item of SegmentationAlgorithmIdentificationSequence: which algorithm made the segment.

    ``parameters`` is kept as the AlgorithmParameters text exactly as stored
    (highdicom writes ``name=value`` pairs separated by commas).
    """

    family: Code
    name: str
    version: str
    parameters: str | None = None
    source: str | None = None

    def to_dataset(self) -> Dataset:
        item = Dataset()
        item.AlgorithmFamilyCodeSequence = [self.family.to_coded_concept()]
        item.AlgorithmName = self.name
        item.AlgorithmVersion = self.version
        if self.parameters:
            item.AlgorithmParameters = self.parameters
        if self.source:
            item.AlgorithmSource = self.source
        return item

    @classmethod
    def from_item(cls, item: Dataset) -> AlgorithmIdentification:
        return cls(
            family=Code.from_item(item.AlgorithmFamilyCodeSequence[0]),
            name=str(item.get("AlgorithmName", "")),
            version=str(item.get("AlgorithmVersion", "")),
            parameters=_optional_str(item.get("AlgorithmParameters")),
            source=_optional_str(item.get("AlgorithmSource")),
        )


@dataclass(frozen=True)
class SegmentMetadata:
    """Everything DICOMLabelMapSeg keeps about one segment, checked when it is made.

    ``number`` is the segment's value in the label array; numbers need not be
    consecutive (0 is the background, which a SEG may describe). ``color`` is
    the recommended display colour as 8-bit RGB and is written as
    RecommendedDisplayCIELabValue; None leaves the choice to the viewer.
    ``label_generated`` says that the reader made the label up (the SEG gave
    none), so that Slicer may replace it as it replaces names it generates; it
    is a display hint, not compared. Codes may be given as pydicom's ``Code``
    (``codes.SCT.Liver``) or highdicom's ``CodedConcept``, the algorithm type
    as its name; they are kept as :class:`Code` and :class:`AlgorithmType`.

    Raises
    ------
    InvalidSegmentationError
        A field of the wrong type or out of range, naming the segment and the field.
    """

    number: int
    label: str
    category: Code = TISSUE
    type: Code = TISSUE
    type_modifier: Code | None = None
    anatomic_region: Code | None = None
    anatomic_region_modifier: Code | None = None
    color: tuple[int, int, int] | None = None
    description: str | None = None
    algorithm_type: AlgorithmType = AlgorithmType.MANUAL
    algorithm_name: str | None = None
    tracking_id: str | None = None
    tracking_uid: str | None = None
    algorithm_identification: AlgorithmIdentification | None = None
    label_generated: bool = field(default=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not isinstance(self.number, Integral) or not 0 <= self.number <= MAX_SEGMENT_NUMBER:
            raise InvalidSegmentationError(
                f"Segment {self.number!r}: the segment number must be a whole number from 0 to {MAX_SEGMENT_NUMBER}."
            )
        object.__setattr__(self, "number", int(self.number))
        where = f"Segment {self.number} ({self.label!r})"
        if not isinstance(self.label, str):
            raise InvalidSegmentationError(f"{where}: the label must be text, not {type(self.label).__name__}.")
        for name in ("category", "type", "type_modifier", "anatomic_region", "anatomic_region_modifier"):
            value = getattr(self, name)
            if value is not None or name in ("category", "type"):
                object.__setattr__(self, name, Code.of(value, f"{where}: {name}"))
        if self.color is not None:
            rgb = tuple(self.color) if isinstance(self.color, Iterable) else ()
            if len(rgb) != RGB_CHANNELS or not all(isinstance(c, Integral) and 0 <= c <= RGB_MAX for c in rgb):
                raise InvalidSegmentationError(f"{where}: colour {self.color} is not 8-bit RGB.")
            object.__setattr__(self, "color", tuple(int(c) for c in rgb))
        try:
            object.__setattr__(self, "algorithm_type", AlgorithmType(self.algorithm_type))
        except ValueError:
            raise InvalidSegmentationError(
                f"{where}: algorithm type {self.algorithm_type!r} is not one of {', '.join(AlgorithmType)}."
            ) from None
        for name in ("description", "algorithm_name", "tracking_id", "tracking_uid"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise InvalidSegmentationError(f"{where}: {name} must be text, not {type(getattr(self, name)).__name__}.")
        if self.algorithm_identification is not None and not isinstance(self.algorithm_identification, AlgorithmIdentification):
            raise InvalidSegmentationError(f"{where}: algorithm_identification must be an AlgorithmIdentification.")

    def validate(self) -> None:
        """Raise :class:`InvalidSegmentationError` naming the segment and the field when a SEG cannot describe it.

        What a segment read from a file may lack but a SEG written must have:
        a number from 1, a label, an algorithm name unless MANUAL, tracking ID
        and UID together.
        """
        where = f"Segment {self.number} ({self.label!r})"
        if self.number < 1:
            raise InvalidSegmentationError(f"{where}: segment number must be between 1 and {MAX_SEGMENT_NUMBER}.")
        if not self.label:
            raise InvalidSegmentationError(f"Segment {self.number}: the label is empty.")
        if self.algorithm_type != AlgorithmType.MANUAL and not self.algorithm_name:
            raise InvalidSegmentationError(
                f"{where}: algorithm type {self.algorithm_type} needs an algorithm name "
                "(SegmentAlgorithmName is required unless the type is MANUAL)."
            )
        if (self.tracking_id is None) != (self.tracking_uid is None):
            raise InvalidSegmentationError(f"{where}: tracking ID and tracking UID must be given together.")


def segment_metadata_of(segment: SegmentMetadata | hd.seg.SegmentDescription, what: str) -> SegmentMetadata:
    """``segment`` as our record: highdicom's ``SegmentDescription`` is read as a Segment Sequence item.

    Raises :class:`InvalidSegmentationError` naming ``what`` for anything else.
    """
    if isinstance(segment, SegmentMetadata):
        return segment
    import highdicom as hd

    if isinstance(segment, hd.seg.SegmentDescription):
        try:
            return segment_metadata_from_dataset(segment, what)
        except SegFileError as error:
            raise InvalidSegmentationError(str(error)) from error
    raise InvalidSegmentationError(
        f"{what}: expected a SegmentMetadata or a highdicom SegmentDescription, not {type(segment).__name__}."
    )


def segment_description_from_metadata(segment: SegmentMetadata) -> hd.seg.SegmentDescription:
    """Build the Segment Sequence item for ``segment``, its algorithm left as MANUAL.

    highdicom insists on an AlgorithmIdentificationSequence (a Type 3
    attribute) for non-manual segments, and copies the first segment's
    algorithm to the background segment it adds; dcmqi's metadata and most
    files carry only SegmentAlgorithmName (Type 1C). So the item is built as
    MANUAL and :func:`set_segment_algorithm` sets the real algorithm on the
    finished dataset.
    """
    import highdicom as hd

    segment.validate()
    description = hd.seg.SegmentDescription(
        segment_number=segment.number,
        segment_label=segment.label,
        segmented_property_category=segment.category.to_coded_concept(),
        segmented_property_type=segment.type.to_coded_concept(),
        algorithm_type=AlgorithmType.MANUAL,
        tracking_id=segment.tracking_id,
        tracking_uid=segment.tracking_uid,
        anatomic_regions=(
            [segment.anatomic_region.to_coded_concept()] if segment.anatomic_region else None
        ),
        display_color=hd.color.CIELabColor.from_rgb(*segment.color) if segment.color else None,
    )
    if segment.description:
        description.SegmentDescription = segment.description
    if segment.type_modifier:
        description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence = [
            segment.type_modifier.to_coded_concept()
        ]
    if segment.anatomic_region_modifier:
        if not segment.anatomic_region:
            raise InvalidSegmentationError(
                f"Segment {segment.number} ({segment.label!r}): an anatomic region modifier "
                "needs an anatomic region."
            )
        description.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [
            segment.anatomic_region_modifier.to_coded_concept()
        ]
    return description


def set_segment_algorithm(item: Dataset, segment: SegmentMetadata) -> None:
    """Write the segment's algorithm (type, name, identification) into its Segment Sequence ``item``."""
    item.SegmentAlgorithmType = segment.algorithm_type
    if segment.algorithm_name:
        item.SegmentAlgorithmName = segment.algorithm_name
    if segment.algorithm_identification is not None:
        item.SegmentationAlgorithmIdentificationSequence = [segment.algorithm_identification.to_dataset()]
    elif "SegmentationAlgorithmIdentificationSequence" in item:
        del item.SegmentationAlgorithmIdentificationSequence


def segment_metadata_from_dataset(item: Dataset, source: str = "SEG") -> SegmentMetadata:
    """Read one Segment Sequence item; ``source`` names the file in messages.

    Only a missing or malformed SegmentNumber is refused: without it no voxel
    can be given a meaning. Other attributes a writer left out or got wrong
    (real files lack category and type codes, for example) are replaced by
    what Slicer gives a segment without them, and a warning names what was
    missing; whatever the item does have is kept.
    """
    value = item.get("SegmentNumber")
    try:
        number = int(value)
    except (TypeError, ValueError) as error:
        raise SegFileError(
            f"{source}: a Segment Sequence item's SegmentNumber (0062,0004) is {quoted(value)}, not a segment number."
        ) from error
    where = f"{source}: segment {number}"
    category = _code_or_tissue(item, "SegmentedPropertyCategoryCodeSequence", "(0062,0003)", where)
    type_item = _first(item, "SegmentedPropertyTypeCodeSequence")
    segment_type = _code_or_tissue(item, "SegmentedPropertyTypeCodeSequence", "(0062,000F)", where)
    region_item = _first(item, "AnatomicRegionSequence")
    label = str(item.get("SegmentLabel", ""))
    return SegmentMetadata(
        number=number,
        label=label or f"Segment {number}",
        label_generated=not label,
        category=category,
        type=segment_type,
        type_modifier=_first_code(type_item, "SegmentedPropertyTypeModifierCodeSequence") if type_item else None,
        anatomic_region=Code.from_item(region_item) if region_item is not None else None,
        anatomic_region_modifier=(
            _first_code(region_item, "AnatomicRegionModifierSequence") if region_item else None
        ),
        color=_rgb_from_cielab(item.get("RecommendedDisplayCIELabValue")),
        description=_optional_str(item.get("SegmentDescription")),
        algorithm_type=_algorithm_type(item, where),
        algorithm_name=_optional_str(item.get("SegmentAlgorithmName")),
        tracking_id=_optional_str(item.get("TrackingID")),
        tracking_uid=_optional_str(item.get("TrackingUID")),
        algorithm_identification=_algorithm_identification(item, where),
    )


def _code_or_tissue(item: Dataset, keyword: str, tag: str, where: str) -> Code:
    """The item's code in ``keyword``, or Slicer's default (Tissue) with a warning when it has none."""
    code_item = _first(item, keyword)
    code = Code.from_item(code_item) if code_item is not None else None
    if code is None or not (code.value and code.scheme):
        logger.warning("%s has no %s %s; it is loaded as %s", where, keyword, tag, TISSUE.meaning)
        return TISSUE
    return code


def _algorithm_type(item: Dataset, where: str) -> AlgorithmType:
    """SegmentAlgorithmType as written, or MANUAL with a warning when it is missing or not one of the three."""
    value = str(item.get("SegmentAlgorithmType", "")).strip().upper()
    if value not in tuple(AlgorithmType):
        logger.warning("%s: SegmentAlgorithmType (0062,0008) is %r; it is loaded as MANUAL", where, value or "(missing)")
        return AlgorithmType.MANUAL
    return AlgorithmType(value)


def _algorithm_identification(item: Dataset, where: str) -> AlgorithmIdentification | None:
    """The segmentation algorithm identification, or None with a warning when it lacks its family code."""
    algorithm_item = _first(item, "SegmentationAlgorithmIdentificationSequence")
    if algorithm_item is None:
        return None
    if _first(algorithm_item, "AlgorithmFamilyCodeSequence") is None:
        logger.warning("%s: SegmentationAlgorithmIdentificationSequence has no algorithm family; it is left out", where)
        return None
    return AlgorithmIdentification.from_item(algorithm_item)


def algorithm_identification_to_json(identification: AlgorithmIdentification) -> str:
    """The identification as a JSON string (how a Slicer segment tag keeps it)."""
    document = {
        "family": [identification.family.value, identification.family.scheme, identification.family.meaning],
        "name": identification.name,
        "version": identification.version,
        "parameters": identification.parameters,
        "source": identification.source,
    }
    return json.dumps(document, separators=(",", ":"))


def algorithm_identification_from_json(text: str) -> AlgorithmIdentification:
    """Read back :func:`algorithm_identification_to_json`; :class:`InvalidSegmentationError` if it is malformed."""
    try:
        document = json.loads(text)
        value, scheme, meaning = document["family"]
        return AlgorithmIdentification(
            family=Code(str(value), str(scheme), str(meaning)),
            name=str(document["name"]),
            version=str(document["version"]),
            parameters=document.get("parameters"),
            source=document.get("source"),
        )
    except (ValueError, KeyError, TypeError) as error:
        raise InvalidSegmentationError(f"Malformed algorithm identification {text!r} ({error}).") from error


def _first(item: Dataset, keyword: str) -> Dataset | None:
    """The first item of the sequence ``keyword``; None when it is absent, empty, or not a sequence of items."""
    sequence = item.get(keyword)
    if not isinstance(sequence, DicomSequence) or not sequence:
        return None
    return sequence[0] if isinstance(sequence[0], Dataset) else None


def _first_code(item: Dataset, keyword: str) -> Code | None:
    first = _first(item, keyword)
    return Code.from_item(first) if first is not None else None


def _optional_str(value: object) -> str | None:
    return str(value) if value not in (None, "") else None


def _rgb_from_cielab(value: object) -> tuple[int, int, int] | None:
    """The recommended display colour as 8-bit RGB; None when there is none or it is not three 16-bit values."""
    if not isinstance(value, (list, tuple, MultiValue)) or len(value) != RGB_CHANNELS:
        return None
    if not all(isinstance(v, int) and 0 <= v <= CIELAB_MAX for v in value):
        return None
    return rgb_from_cielab(tuple(value))

