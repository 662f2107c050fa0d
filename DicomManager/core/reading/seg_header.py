"""Reading a SEG's header and checking it: what every reader, and the DICOM browser's offer, rely on.

A header whose attributes leave the voxels and their meaning clear is read,
with what a writer left out filled in and a warning saying so; one that does
not is refused by name. No highdicom is imported here: the DICOM browser
examines many files.
"""

from __future__ import annotations

import logging
import re
import struct
import warnings
from pathlib import Path

from pydicom import DataElement, Dataset, FileDataset
from pydicom.datadict import dictionary_has_tag, dictionary_VR, keyword_for_tag
from pydicom.dataelem import RawDataElement
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ...errors import CodecUnavailableError, SegFileError, cause, quoted, shown
from ..codecs.compression import DEFLATED_IMAGE_FRAME_COMPRESSION, decoder_available
from ..codecs.pixel_data_element import PIXEL_DATA_TAG
from ..segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UID, SegmentationType
from .deflated_dataset import UNDEFINED_LENGTH, read_dicom_file
from .functional_groups import FunctionalGroups
from .segmented_palette import MalformedTableError, segmented_entries

logger = logging.getLogger(__name__)

SEGMENTATION_TYPES = {
    LABELMAP_SEG_SOP_CLASS_UID: (SegmentationType.LABELMAP,),
    SEGMENTATION_SOP_CLASS_UID: (SegmentationType.BINARY, SegmentationType.FRACTIONAL),
}
"""The SegmentationType values each Segmentation SOP Class allows."""

BITS_ALLOCATED = {SegmentationType.LABELMAP: (8, 16), SegmentationType.BINARY: (1,), SegmentationType.FRACTIONAL: (8,)}
"""The BitsAllocated each SegmentationType has (PS3.3 C.8.20.2)."""
PHOTOMETRIC_INTERPRETATIONS = ("MONOCHROME2", "MONOCHROME1", "PALETTE COLOR")
"""What a SEG's Photometric Interpretation may say (PALETTE COLOR: a LABELMAP with its own palette)."""

PALETTE_COLOR = "PALETTE COLOR"
PALETTE_COLOURS = ("Red", "Green", "Blue")
PALETTE_ENTRY_BITS = (8, 16)
PALETTE_DESCRIPTOR_VALUES = 3
"""Entries, first mapped value, bits per entry."""
LARGEST_PALETTE = 2**16
"""A descriptor's 0 entries means 65536."""
PALETTE_ATTRIBUTES = tuple(
    f"{prefix}{colour}PaletteColorLookupTable{part}"
    for colour in (*PALETTE_COLOURS, "Alpha") for prefix, part in (("", "Descriptor"), ("", "Data"), ("Segmented", "Data"))
) + ("PaletteColorLookupTableUID",)
"""The Palette Color Lookup Table module's attributes that a SEG's palette is built from."""
MAX_SEGMENTED_PALETTE_BYTES = 3 * 2 * LARGEST_PALETTE
"""A segmented table describes at most 65536 entries: a discrete segment of one 16-bit entry takes 3 words."""

READ_ERRORS = (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, AttributeError, IndexError,
               struct.error, NotImplementedError, OverflowError, BytesLengthException)
"""What pydicom raises for a file it cannot parse, or for an element whose value it cannot convert.

Only pydicom's parsing and conversion run where these are caught, so even a
TypeError there is pydicom's, on this file's bytes.
"""

SINGLE_WHOLE_NUMBERS = ("Rows", "Columns", "BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                        "SamplesPerPixel", "NumberOfFrames", "PixelPaddingValue", "MaximumFractionalValue",
                        "SeriesNumber", "TotalPixelMatrixRows", "TotalPixelMatrixColumns", "TotalPixelMatrixFocalPlanes",
                        "NumberOfOpticalPaths")
"""Attributes the readers use as one whole number each."""
LARGEST_WHOLE_NUMBER = 2**31 - 1
"""The largest value of an Integer String (and of any frame count a file can hold)."""
LARGEST_SEGMENT_NUMBER = 2**16 - 1
"""SegmentNumber is US."""

CHECKED_SEQUENCES = ("SegmentSequence", "ReferencedSeriesSequence", "SharedFunctionalGroupsSequence")
"""Sequences read whole (small): every element in them is converted once here, so a malformed one is named."""

FRAMES_SEQUENCE = "PerFrameFunctionalGroupsSequence"
FRAME_MACROS = {
    "PlanePositionSequence": (),
    "PlaneOrientationSequence": (),
    "PixelMeasuresSequence": (),
    "SegmentIdentificationSequence": (),
    "DerivationImageSequence": ("SourceImageSequence",),
    "PlanePositionSlideSequence": (),
    "OpticalPathIdentificationSequence": (),
}
"""The functional group macros the readers take from each frame's item (see :mod:`.functional_groups`), with the
sequences they walk inside them (a frame's source images, which place it on its image's slice)."""
SPARSE_TILES_PER_FRAME = 64
"""A TILED_SPARSE image may leave out empty tiles, up to 63 of every 64 of its total pixel matrix."""
ITEM_HEADER_BYTES = 8
"""An encapsulated frame takes an item header of 8 bytes at least (PS3.5 A.4): a file holds no more frames than that allows."""
MAX_DEFLATE_RATIO = 1032
"""The most bytes one deflated byte inflates to (RFC 1951: a 258-byte match per 2 bits): the bound of a deflated dataset."""
END_OF_FILE_WARNING = re.compile(r"End of file reached before delimiter")
"""pydicom's warning for a sequence of undefined length cut off by the end of the file."""


def read_dicom(path: Path, stop_before_pixels: bool = False, specific_tags: list[int | str] | None = None) -> FileDataset:
    """Read a DICOM file as every reader here does: refused by name when it is not DICOM, unreadable or cut short."""
    path = Path(path)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            dataset = read_dicom_file(path, stop_before_pixels=stop_before_pixels, specific_tags=specific_tags)
    except FileNotFoundError:
        raise SegFileError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise SegFileError(f"{path}: a folder, not a file.") from None
    except READ_ERRORS as error:
        raise SegFileError(f"{path}: not a readable DICOM file ({cause(error)}).") from error
    for warning in caught:
        logger.debug("%s: %s: %s", path, warning.category.__name__, warning.message)
        if END_OF_FILE_WARNING.search(str(warning.message)):
            raise SegFileError(f"{path}: the file is cut short at byte {path.stat().st_size}, inside a sequence.")
    _check_not_cut_short(dataset, path)
    return dataset


def _check_not_cut_short(dataset: Dataset, path: Path) -> None:
    """pydicom reads what is left of a value the end of the file cuts: the last element says whether one was cut."""
    if not dataset:
        return
    tag = max(dataset.keys())
    raw = dataset.get_item(tag)  # as read, not converted
    if isinstance(raw, RawDataElement) and isinstance(raw.value, bytes) and raw.length != UNDEFINED_LENGTH \
            and len(raw.value) < raw.length:
        raise SegFileError(
            f"{path}: the file is cut short at byte {path.stat().st_size}: {_name(tag)} declares {raw.length} bytes "
            f"and {len(raw.value)} are there."
        )


def read_seg_dataset(path: Path, stop_before_pixels: bool = False) -> Dataset:
    """Read a SEG file and check its header: a Segmentation of a type we know, with values the readers can use.

    Every value the readers take as one number, and every sequence they walk,
    is checked here once, so that each defect is refused naming its attribute.
    """
    path = Path(path)
    return check_seg_dataset(read_dicom(path, stop_before_pixels=stop_before_pixels), path)


def check_seg_dataset(dataset: Dataset, path: Path) -> Dataset:
    """Check a dataset read from the SEG file ``path`` as :func:`read_seg_dataset` checks it, completing it in place."""
    convert_elements(dataset, path)
    check_segmentation_type(dataset, path)
    _check_single_whole_numbers(dataset, path)
    _check_segment_numbers(dataset, path)
    _complete_transfer_syntax(dataset, path)
    _complete_pixel_description(dataset, path)
    _drop_malformed_frame_of_reference(dataset, path)
    _drop_malformed_palette(dataset, path)
    _drop_surplus_frame_groups(dataset, path)
    if not is_tiled(dataset):
        FunctionalGroups(dataset, path)  # a functional group per frame: checked before the frames' bytes
    _check_frames_fit_the_file(dataset, path)
    if is_tiled(dataset):
        _check_total_pixel_matrix(dataset, path)
    return dataset


def _drop_malformed_palette(dataset: Dataset, path: Path) -> None:
    """A PALETTE COLOR SEG whose lookup table cannot be read is read as MONOCHROME2, with a warning naming the attribute.

    The palette only colours the segments; their numbers are the pixel values
    either way. pydicom's own errors for a malformed table name no attribute.
    """
    if dataset.get("PhotometricInterpretation") != PALETTE_COLOR:
        return
    problem = _palette_problem(dataset)
    if problem is None:
        return
    logger.warning("%s: %s; the palette is left out, segments without a recommended colour keep none", path, problem)
    for keyword in PALETTE_ATTRIBUTES:
        if keyword in dataset:
            del dataset[keyword]
    _replace(dataset, "PhotometricInterpretation", "MONOCHROME2")


def _palette_problem(dataset: Dataset) -> str | None:
    """What in the Palette Color Lookup Table (PS3.3 C.7.6.3.1.5, C.7.9) the palette cannot be built from; None if nothing.

    pydicom expands each table by the Red descriptor's entries and bits, so a
    segmented table, Alpha's included, is counted by them first (see
    :mod:`.segmented_palette`): none expands to more than it declares.
    """
    for colour in PALETTE_COLOURS:
        keyword = f"{colour}PaletteColorLookupTableDescriptor"
        descriptor = dataset.get(keyword)
        values = list(descriptor) if isinstance(descriptor, (MultiValue, list, tuple)) else [descriptor]
        if len(values) != PALETTE_DESCRIPTOR_VALUES or not all(isinstance(value, int) and value >= 0 for value in values):
            return f"{_name(Tag(keyword))} is {quoted(descriptor)}, not 3 whole numbers"
        entries, _, bits = values
        if bits not in PALETTE_ENTRY_BITS:
            return f"{_name(Tag(keyword))} gives {bits} bits per entry, not 8 or 16"
        plain, segmented = f"{colour}PaletteColorLookupTableData", f"Segmented{colour}PaletteColorLookupTableData"
        data_keyword = segmented if segmented in dataset else plain
        data = dataset.get(data_keyword)
        if not isinstance(data, bytes):
            return f"{_name(Tag(data_keyword))} is {quoted(data) if data is not None else 'missing'}, not bytes"
        if data_keyword == plain and len(data) < (entries or LARGEST_PALETTE) * bits // 8:
            return (f"{_name(Tag(data_keyword))} holds {len(data)} bytes; {entries or LARGEST_PALETTE} entries of {bits} bits "
                    f"need {(entries or LARGEST_PALETTE) * bits // 8}")
    return _segmented_tables_problem(dataset)


def _segmented_tables_problem(dataset: Dataset) -> str | None:
    """Which segmented table (Alpha's too) is too long, or cannot be expanded within the Red descriptor's entries."""
    entries, _, bits = dataset.RedPaletteColorLookupTableDescriptor
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    little_endian = not syntax.is_transfer_syntax or syntax.is_little_endian
    for colour in (*PALETTE_COLOURS, "Alpha"):
        keyword = f"Segmented{colour}PaletteColorLookupTableData"
        data = dataset.get(keyword)
        if data is None:
            continue
        if not isinstance(data, bytes):
            return f"{_name(Tag(keyword))} is {quoted(data)}, not bytes"
        if len(data) > MAX_SEGMENTED_PALETTE_BYTES:
            return f"{_name(Tag(keyword))} holds {len(data)} bytes; a table of 65536 entries needs fewer"
        try:
            segmented_entries(data, bits, entries or LARGEST_PALETTE, little_endian)
        except MalformedTableError as error:
            return f"{_name(Tag(keyword))} cannot be expanded: {error}"
    return None


def _drop_surplus_frame_groups(dataset: Dataset, path: Path) -> None:
    """A one-frame SEG with several per-frame functional group items: the first is its frame's, as highdicom reads it.

    With one frame there is no doubt which item describes it; with several,
    a count that disagrees leaves the frames' meaning unclear, and
    :class:`.functional_groups.FunctionalGroups` refuses it.
    """
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence")
    if dataset.NumberOfFrames == 1 and per_frame is not None and len(per_frame) > 1:
        logger.warning(
            "%s: PerFrameFunctionalGroupsSequence (5200,9230) has %d items for its one frame; the first is read",
            path, len(per_frame),
        )
        del per_frame[1:]


def _name(tag: int) -> str:
    """An attribute as messages name it: keyword and tag, or the tag alone."""
    tag = Tag(tag)
    keyword = keyword_for_tag(tag)
    return f"{keyword} {tag}" if keyword else str(tag)


def convert_elements(dataset: Dataset, path: Path) -> None:
    """Have pydicom convert each element the readers use, naming the one it cannot; sequences must hold items.

    pydicom converts an element's bytes where it is first used: a malformed
    one would otherwise fail far from here, with pydicom's words. Of the
    per-frame sequence, which may have thousands of items, only the macros
    the readers use are checked to be sequences of items: their values are
    read by the frame geometry.
    """
    for tag in list(dataset.keys()):
        if tag == PIXEL_DATA_TAG:
            continue
        element = _converted(dataset, tag, path, "")
        if dictionary_has_tag(tag) and dictionary_VR(tag) == "SQ":
            _check_items(element, path, "")
            if element.keyword in CHECKED_SEQUENCES:
                for number, item in enumerate(element.value, 1):
                    _convert_all(item, path, f"{element.keyword} item {number}: ")
            elif element.keyword == FRAMES_SEQUENCE:
                for number, item in enumerate(element.value, 1):
                    _check_frame_macros(item, path, f"frame {number}: ")


def _check_frame_macros(item: Dataset, path: Path, where: str) -> None:
    """A frame's functional group macros that the readers use, and the sequences they walk in them, hold items."""
    for macro, nested in FRAME_MACROS.items():
        if macro not in item:
            continue
        element = _converted(item, Tag(macro), path, where)
        _check_items(element, path, where)
        for number, macro_item in enumerate(element.value, 1):
            for keyword in nested:
                if keyword in macro_item:
                    inner = f"{where}{macro} item {number}: "
                    walked = _converted(macro_item, Tag(keyword), path, inner)
                    _check_items(walked, path, inner)
                    for nested_number, nested_item in enumerate(walked.value, 1):
                        _convert_all(nested_item, path, f"{inner}{keyword} item {nested_number}: ")


def _convert_all(item: Dataset, path: Path, where: str) -> None:
    """Every element of ``item`` and of the items nested in it converted; ``where`` says where in messages."""
    for tag in list(item.keys()):
        element = _converted(item, tag, path, where)
        if dictionary_has_tag(tag) and dictionary_VR(tag) == "SQ":
            _check_items(element, path, where)
            for number, nested in enumerate(element.value, 1):
                _convert_all(nested, path, f"{where}{element.keyword} item {number}: ")


def _converted(dataset: Dataset, tag: int, path: Path, where: str) -> DataElement:
    """The element, converted by pydicom; refused by name where it cannot be, or is a sequence where a value belongs."""
    try:
        element = dataset[tag]
    except READ_ERRORS as error:
        raise SegFileError(f"{path}: {where}{_name(tag)} cannot be read ({cause(error)}).") from error
    if element.VR == "SQ" and dictionary_has_tag(tag) and dictionary_VR(tag) != "SQ":
        raise SegFileError(f"{path}: {where}{_name(tag)} is a sequence; its VR is {dictionary_VR(tag)}.")
    return element


def _check_items(element: DataElement, path: Path, where: str) -> None:
    """A sequence attribute must be a sequence of items (a mutated VR, for one, makes it text)."""
    if element.VR != "SQ" or not isinstance(element.value, Sequence) \
            or not all(isinstance(item, Dataset) for item in element.value):
        raise SegFileError(
            f"{path}: {where}{_name(element.tag)} is {element.VR} {quoted(element.value)}, not a sequence of items."
        )


def _check_single_whole_numbers(dataset: Dataset, path: Path) -> None:
    """Each attribute the readers use as one whole number holds one, where it is present and not empty."""
    for keyword in SINGLE_WHOLE_NUMBERS:
        element = dataset.get(keyword)
        if element is None or element in ("", b""):
            continue
        if isinstance(element, (MultiValue, list, tuple)):
            raise SegFileError(f"{path}: {_name(Tag(keyword))} holds {len(element)} values {quoted(element)}; it has one.")
        try:
            number = int(element)
        except (TypeError, ValueError, OverflowError) as error:
            raise SegFileError(f"{path}: {_name(Tag(keyword))} is {quoted(element)}, not a whole number.") from error
        if number != element:
            raise SegFileError(f"{path}: {_name(Tag(keyword))} is {quoted(element)}, not a whole number.")
        if not -LARGEST_WHOLE_NUMBER <= number <= LARGEST_WHOLE_NUMBER:
            raise SegFileError(f"{path}: {_name(Tag(keyword))} is {quoted(element)}, out of range.")


def _check_segment_numbers(dataset: Dataset, path: Path) -> None:
    """Each item of SegmentSequence has a segment number of its own: the numbers say which voxels are which segment."""
    items_of_number: dict[int, int] = {}
    for number, item in enumerate(dataset.SegmentSequence, 1):
        value = item.get("SegmentNumber")
        if not isinstance(value, int) or not 0 <= value <= LARGEST_SEGMENT_NUMBER:
            raise SegFileError(f"{path}: SegmentSequence item {number}: SegmentNumber (0062,0004) is {quoted(value)}, "
                               "not a segment number.")
        if value in items_of_number:
            raise SegFileError(f"{path}: SegmentSequence items {items_of_number[value]} and {number} both have "
                               f"SegmentNumber (0062,0004) {value}; each segment has its own.")
        items_of_number[value] = number


def _check_frames_fit_the_file(dataset: Dataset, path: Path) -> None:
    """NumberOfFrames x Rows x Columns x BitsAllocated must fit in the file, before anything that size is allocated.

    Native frames take their bytes in the file (or in what a deflated
    dataset can inflate to); each encapsulated one an item at least.
    """
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    size = path.stat().st_size
    frames = dataset.NumberOfFrames
    if syntax == DEFLATED_IMAGE_FRAME_COMPRESSION or (syntax.is_transfer_syntax and syntax.is_encapsulated):
        most, needed = size // ITEM_HEADER_BYTES, frames
        unit = "frames"
    elif not syntax.is_transfer_syntax:
        return  # refused for want of a decoder
    else:
        needed = -(-frames * dataset.Rows * dataset.Columns * dataset.BitsAllocated // 8)
        pixel_bytes = len(dataset.PixelData or b"") if "PixelData" in dataset else None
        if pixel_bytes is not None and pixel_bytes < needed:
            raise SegFileError(
                f"{path}: Pixel Data (7FE0,0010) holds {pixel_bytes} bytes; NumberOfFrames {frames} of "
                f"{dataset.Rows}x{dataset.Columns} pixels of {dataset.BitsAllocated} bits need {needed}."
            )
        most = size * MAX_DEFLATE_RATIO if syntax.is_deflated else size
        unit = "bytes of frames"
    if needed > most:
        raise SegFileError(
            f"{path}: NumberOfFrames (0028,0008) {frames} of {dataset.Rows}x{dataset.Columns} pixels of "
            f"{dataset.BitsAllocated} bits need {needed} {unit}; a file of {size} bytes holds {most} at most."
        )


def _drop_malformed_frame_of_reference(dataset: Dataset, path: Path) -> None:
    """A FrameOfReferenceUID that is not a UID is left out with a warning: the frames' positions still place them.

    Not a UID: not text, empty, or holding control characters or spaces, which no series' UID can match.
    """
    value = dataset.get("FrameOfReferenceUID")
    if value is not None and not (isinstance(value, str) and value and value.isprintable() and " " not in value):
        logger.warning("%s: FrameOfReferenceUID (0020,0052) is %s, not a UID; it is left out", path, quoted(value))
        del dataset.FrameOfReferenceUID


def _complete_transfer_syntax(dataset: Dataset, path: Path) -> None:
    """A file meta without TransferSyntaxUID: native Pixel Data is read in the encoding pydicom found, with a warning."""
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if syntax and not isinstance(syntax, str):
        raise SegFileError(f"{path}: TransferSyntaxUID (0002,0010) is {quoted(syntax)}, not a UID.")
    if syntax:
        return
    if "PixelData" in dataset and dataset["PixelData"].is_undefined_length:
        raise SegFileError(
            f"{path}: the file meta has no TransferSyntaxUID (0002,0010), and the Pixel Data is compressed: "
            "its codec cannot be known."
        )
    implicit, little_endian = getattr(dataset, "original_encoding", (False, True))
    if not little_endian:
        raise SegFileError(f"{path}: the file meta has no TransferSyntaxUID (0002,0010), and the dataset is big endian.")
    syntax = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    logger.warning("%s: the file meta has no TransferSyntaxUID (0002,0010); the dataset is read as %s", path, syntax.name)
    dataset.file_meta.TransferSyntaxUID = syntax


def _complete_pixel_description(dataset: Dataset, path: Path) -> None:
    """Fill in Image Pixel attributes a SEG leaves no choice about, with a warning, so the decoders have them.

    A SEG has one sample per pixel, MONOCHROME2, unsigned values and
    BitsStored equal to BitsAllocated (PS3.3 C.8.20.2); a file that leaves
    one out still says everything about its voxels. One with a different
    value is refused.
    """
    bits = int(dataset.BitsAllocated)
    required = {
        "SamplesPerPixel": 1,
        "PhotometricInterpretation": "MONOCHROME2",
        "BitsStored": bits,
        "HighBit": bits - 1,
        "PixelRepresentation": 0,
    }
    for keyword, value in required.items():
        if dataset.get(keyword) in (None, ""):
            logger.warning("%s: %s is missing; a SEG's is %r, which is used", path, keyword, value)
            _replace(dataset, keyword, value)
    if dataset.SamplesPerPixel != 1:
        raise SegFileError(f"{path}: SamplesPerPixel (0028,0002) is {quoted(dataset.SamplesPerPixel)}; a SEG has 1.")
    photometric = dataset.PhotometricInterpretation
    if not isinstance(photometric, str) or photometric not in PHOTOMETRIC_INTERPRETATIONS:
        logger.warning("%s: PhotometricInterpretation (0028,0004) is %s; MONOCHROME2 is used", path, quoted(photometric))
        _replace(dataset, "PhotometricInterpretation", "MONOCHROME2")
    value = dataset.get("NumberOfFrames", 1)
    try:
        _replace(dataset, "NumberOfFrames", int(value))
    except (TypeError, ValueError) as error:
        raise SegFileError(f"{path}: NumberOfFrames (0028,0008) is {quoted(value)}, not a whole number.") from error
    if dataset.NumberOfFrames < 1:
        raise SegFileError(f"{path}: NumberOfFrames (0028,0008) is {dataset.NumberOfFrames}; a SEG has a frame at least.")


def _check_total_pixel_matrix(dataset: Dataset, path: Path) -> None:
    """A tiled image's total pixel matrix, which the reader allocates whole, must be one its frames can tile.

    TILED_FULL frames tile it all; others, placed one by one (TILED_SPARSE,
    or a writer that does not say), may leave out empty tiles, up to all but
    one in :data:`SPARSE_TILES_PER_FRAME`.
    """
    rows, columns = dataset.get("TotalPixelMatrixRows"), dataset.get("TotalPixelMatrixColumns")
    if not rows or not columns:
        raise SegFileError(f"{path}: a tiled image without TotalPixelMatrixRows and TotalPixelMatrixColumns.")
    tiles = -(-int(rows) // dataset.Rows) * -(-int(columns) // dataset.Columns)
    sparse = str(dataset.get("DimensionOrganizationType", "")) != "TILED_FULL"
    most = dataset.NumberOfFrames * (SPARSE_TILES_PER_FRAME if sparse else 1)
    if tiles > most:
        raise SegFileError(
            f"{path}: a total pixel matrix of {rows}x{columns} takes {tiles} tiles of {dataset.Rows}x{dataset.Columns}; "
            f"{dataset.NumberOfFrames} frames {'placed one by one ' if sparse else ''}cover {most} at most."
        )


def _replace(dataset: Dataset, keyword: str, value: object) -> None:
    """Set an attribute to a value in its standard VR, whatever VR the file gave it."""
    dataset[keyword] = DataElement(Tag(keyword), dictionary_VR(keyword), value)


def check_segmentation_type(dataset: Dataset, path: Path) -> str:
    """The SegmentationType, after checking that it fits the SOP Class and that the basic attributes are there."""
    sop_class = str(dataset.get("SOPClassUID", ""))
    segmentation_type = str(dataset.get("SegmentationType", ""))
    if sop_class not in SEGMENTATION_TYPES:
        raise SegFileError(f"{path}: SOPClassUID {shown(sop_class) if sop_class else '(missing)'} is not a "
                           "Segmentation Storage class.")
    if segmentation_type not in SEGMENTATION_TYPES[sop_class]:
        raise SegFileError(
            f"{path}: SegmentationType {shown(segmentation_type) if segmentation_type else '(missing)'} does not "
            "belong to SOP Class "
            f"{sop_class} (which allows {', '.join(SEGMENTATION_TYPES[sop_class])})."
        )
    for keyword in ("SegmentSequence", "Rows", "Columns", "BitsAllocated"):
        if keyword not in dataset or dataset[keyword].value in (None, ""):
            raise SegFileError(f"{path}: the required attribute {keyword} is missing or empty.")
    if dataset["SegmentSequence"].VR != "SQ" or not all(isinstance(item, Dataset) for item in dataset.SegmentSequence):
        raise SegFileError(f"{path}: SegmentSequence (0062,0002) is not a sequence of items.")
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if not isinstance(dataset[keyword].value, int) or dataset[keyword].value <= 0:
            raise SegFileError(f"{path}: {keyword} is {quoted(dataset[keyword].value)}, not a positive whole number.")
    bits = dataset.BitsAllocated
    if bits not in BITS_ALLOCATED[segmentation_type]:
        allowed = " or ".join(str(value) for value in BITS_ALLOCATED[segmentation_type])
        raise SegFileError(f"{path}: BitsAllocated (0028,0100) is {bits}; a {segmentation_type} SEG has {allowed}.")
    return segmentation_type


def check_decodable(dataset: Dataset, path: Path) -> None:
    """An installed decoder handles the SEG's transfer syntax: else :class:`CodecUnavailableError`, before any decoding."""
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    if not decoder_available(syntax):
        name = syntax.name if syntax == DEFLATED_IMAGE_FRAME_COMPRESSION or syntax.is_transfer_syntax else shown(syntax)
        raise CodecUnavailableError(f"{path}: no installed decoder handles {name}.")


def is_tiled(dataset: Dataset) -> bool:
    """Whether the SEG is a tiled slide-microscopy image rather than a stack of planes."""
    return "TotalPixelMatrixRows" in dataset or str(dataset.get("DimensionOrganizationType", "")).startswith("TILED")


def slide_planes_problem(dataset: Dataset, path: Path) -> str | None:
    """Why a tiled SEG is more than one plane (frames on several focal planes or optical paths); None when it is one.

    Focal planes are the frames' distinct Z offsets (Plane Position (Slide))
    or TotalPixelMatrixFocalPlanes; optical paths the frames' distinct Optical
    Path Identifiers, from each frame's functional groups or the shared ones,
    or NumberOfOpticalPaths (a TILED_FULL slide names them only there).
    """
    groups = FunctionalGroups(dataset, path)
    z_offsets: set[str] = set()
    optical_paths: set[str] = set()
    for index in range(groups.number_of_frames):
        position = groups.item(index, "PlanePositionSlideSequence")
        if position is not None and position.get("ZOffsetInSlideCoordinateSystem") is not None:
            z_offsets.add(_number_text(position["ZOffsetInSlideCoordinateSystem"].value))
        optical = groups.item(index, "OpticalPathIdentificationSequence")
        if optical is not None and optical.get("OpticalPathIdentifier"):
            optical_paths.add(str(optical.OpticalPathIdentifier))
    focal_planes = max(len(z_offsets), int(dataset.get("TotalPixelMatrixFocalPlanes") or 1))
    optical_path_count = max(len(optical_paths), int(dataset.get("NumberOfOpticalPaths") or 1))
    parts = []
    if focal_planes > 1:
        offsets = ", ".join(shown(offset) for offset in sorted(z_offsets))
        parts.append(f"{focal_planes} focal planes" + (f" (Z offsets {offsets} mm)" if z_offsets else ""))
    if optical_path_count > 1:
        names = ", ".join(shown(name) for name in sorted(optical_paths))
        parts.append(f"{optical_path_count} optical paths" + (f" ({names})" if optical_paths else ""))
    if not parts:
        return None
    return (
        f"{path}: the tiled slide SEG has frames on {' and '.join(parts)}; only one plane of one optical path "
        "loads (as a 2D image)."
    )


def _number_text(value: object) -> str:
    """A Decimal String's number as its shortest text, so that 1.0 and 1.00 are one focal plane."""
    try:
        return repr(float(value))
    except (TypeError, ValueError):
        return str(value)
