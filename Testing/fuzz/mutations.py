"""Broken SEGs made from real ones: the named corpus (each case one known defect) and random mutations.

Used by ``Testing/pytest/test_broken_segs.py`` (every named case must give the
project's own error or a correct load) and by ``fuzz_reader.py`` (random
mutations of :func:`seed_files`, the same seeds and copies of them in every
transfer syntax, one of :data:`MUTATION_CLASSES` each, for a given count).
"""

from __future__ import annotations

import copy
import functools
import random
import re
import struct
import tempfile
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
from pydicom import Dataset
from pydicom.multival import MultiValue

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
PIXEL_DATA = 0x7FE00010
DEFLATED_FRAMES = "1.2.840.10008.1.2.8.1"
"""Deflated Image Frame Compression (Supplement 244)."""
SEEDS = [
    "dcmqi/sparse-labelmap-ppv5.dcm",  # LABELMAP, dcmqi, omitted frame, PixelPaddingValue
    "dcmqi/liver.dcm",  # BINARY, dcmqi, 512x512
    "dcmqi/partial_overlaps.dcm",  # BINARY with overlapping segments
    "dcmqi/23x38x3/seg/label.seg",  # BINARY whose frames do not start on byte boundaries
    "highdicom/seg_image_ct_binary_fractional.dcm",  # FRACTIONAL
    "highdicom/seg_image_sm_control_labelmap.dcm",  # tiled LABELMAP
    "highdicom/seg_image_sm_control.dcm",  # tiled BINARY slide SEG, implicit VR
]


def _delete(keyword: str) -> Callable[[Dataset], None]:
    def mutate(dataset: Dataset) -> None:
        delattr(dataset, keyword)
    return mutate


def _set(keyword: str, value) -> Callable[[Dataset], None]:
    def mutate(dataset: Dataset) -> None:
        setattr(dataset, keyword, value)
    return mutate


def _frame_group(keyword: str, item_keyword: str, value) -> Callable[[Dataset], None]:
    def mutate(dataset: Dataset) -> None:
        group = dataset.PerFrameFunctionalGroupsSequence[0]
        setattr(getattr(group, keyword)[0], item_keyword, value)
    return mutate


def _shared_orientation(value) -> Callable[[Dataset], None]:
    def mutate(dataset: Dataset) -> None:
        for groups in (dataset.get("SharedFunctionalGroupsSequence") or [], dataset.PerFrameFunctionalGroupsSequence):
            for group in groups:
                if "PlaneOrientationSequence" in group:
                    group.PlaneOrientationSequence[0].ImageOrientationPatient = value
    return mutate


def _short_pixel_data(dataset: Dataset) -> None:
    dataset.PixelData = dataset.PixelData[: len(dataset.PixelData) // 3 // 2 * 2]


def _undeclared_label(dataset: Dataset) -> None:
    # Segment 1 loses its description: its voxels are labelled with a number no segment has.
    numbers = [item.SegmentNumber for item in dataset.SegmentSequence]
    dataset.SegmentSequence = [item for item in dataset.SegmentSequence if item.SegmentNumber != max(numbers)]


def _segment_number_twice(dataset: Dataset) -> None:
    # The last segment's description repeated: which segment its voxels are is no longer clear.
    dataset.SegmentSequence.append(copy.deepcopy(dataset.SegmentSequence[-1]))


def _frames_without_segment(dataset: Dataset) -> None:
    dataset.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0].ReferencedSegmentNumber = 99


def _transfer_syntax(uid: str, encapsulate: bool = False) -> Callable[[Dataset], None]:
    def mutate(dataset: Dataset) -> None:
        if encapsulate:
            from pydicom.encaps import encapsulate as wrap

            dataset.PixelData = wrap([dataset.PixelData])
        dataset.file_meta.TransferSyntaxUID = uid
    return mutate


Mutation = Callable[[Dataset], None]

LABELMAP_CASES: dict[str, tuple[Mutation, str]] = {
    # name: (the defect, a regular expression the error must match: the reason, not only the file)
    "no SegmentSequence": (_delete("SegmentSequence"), r"SegmentSequence is missing"),
    "no Rows": (_delete("Rows"), r"Rows is missing"),
    "no SegmentationType": (_delete("SegmentationType"), r"SegmentationType \(missing\) does not belong"),
    "BINARY type in the LABELMAP SOP class": (_set("SegmentationType", "BINARY"), r"SegmentationType BINARY does not belong"),
    "no per-frame functional groups": (
        _delete("PerFrameFunctionalGroupsSequence"), r"PerFrameFunctionalGroupsSequence \(5200,9230\) has 0 items for 2"
    ),
    "one frame more than the functional groups": (
        lambda ds: setattr(ds, "NumberOfFrames", int(ds.NumberOfFrames) + 1), r"has 2 items for 3 frames"
    ),
    "pixel data too short": (_short_pixel_data, r"Pixel Data \(7FE0,0010\) holds \d+ bytes; NumberOfFrames \d+ .* need"),
    "labels outside the declared segments": (_undeclared_label, r"pixel values 1 are the number of no segment"),
    "one SegmentNumber twice": (
        _segment_number_twice, r"SegmentSequence items 2 and 3 both have SegmentNumber \(0062,0004\) 1; each segment"
    ),
    "non-orthogonal direction cosines": (
        _shared_orientation([1, 0, 0, 0.5, 0.8660254, 0]), r"ImageOrientationPatient .* not two orthogonal unit vectors"
    ),
    "direction cosines of zero length": (
        _shared_orientation([0, 0, 0, 0, 1, 0]), r"ImageOrientationPatient .* not two orthogonal unit vectors"
    ),
    "position not a finite number": (
        _frame_group("PlanePositionSequence", "ImagePositionPatient", ["nan", "1", "2"]), r"not a finite, positive value"
    ),
    "unknown transfer syntax": (_transfer_syntax("1.2.3.4.5.6"), r"no installed decoder handles 1\.2\.3\.4\.5\.6"),
    "transfer syntax with no decoder (MPEG2)": (
        _transfer_syntax("1.2.840.10008.1.2.4.100", encapsulate=True), r"no installed decoder handles MPEG2"
    ),
}
BINARY_CASES: dict[str, tuple[Mutation, str]] = {
    "LABELMAP type in the classic SOP class": (_set("SegmentationType", "LABELMAP"), r"SegmentationType LABELMAP does not"),
    "frame of a segment SegmentSequence does not describe": (
        _frames_without_segment, r"frame 1 belongs to segment 99, which SegmentSequence does not describe"
    ),
    "one SegmentNumber twice": (
        _segment_number_twice, r"SegmentSequence items 5 and 6 both have SegmentNumber \(0062,0004\) 5; each segment"
    ),
    "one frame fewer than the functional groups": (
        lambda ds: setattr(ds, "NumberOfFrames", int(ds.NumberOfFrames) - 1), r"has 7 items for 6 frames"
    ),
    "pixel data too short": (_short_pixel_data, r"Pixel Data \(7FE0,0010\) holds \d+ bytes; NumberOfFrames \d+ .* need"),
    "FRACTIONAL type over 1-bit frames": (
        _set("SegmentationType", "FRACTIONAL"), r"BitsAllocated .* is 1; a FRACTIONAL SEG has 8"
    ),
}
FRACTIONAL_CASES: dict[str, tuple[Mutation, str]] = {
    "no MaximumFractionalValue": (_delete("MaximumFractionalValue"), r"FRACTIONAL SEG without a positive MaximumFractionalValue"),
}


def write_case(seed: Path, mutate: Mutation, output: Path) -> Path:
    """The seed with one defect, written as it is (pydicom's own value checks switched off to write it)."""
    from pydicom import config

    dataset = pydicom.dcmread(seed)
    mutate(dataset)
    mode = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        dataset.save_as(output, enforce_file_format=False)
    finally:
        config.settings.writing_validation_mode = mode
    return output


def truncated(seed: Path, output: Path, keep: float) -> Path:
    data = seed.read_bytes()
    output.write_bytes(data[: int(len(data) * keep)])
    return output


MUTATION_CLASSES = ("bytes", "tag", "value multiplicity", "value representation", "declared length",
                    "inflate bomb", "frame count", "palette")
"""What :func:`random_mutation` does to a seed, one class per input."""

STRANGE_TEXT = ["", "0", "-1", "65536", "1e308", "1e400", "NaN", "inf", "a\\b", "1.2.3", "xxx", "abc",
                "LABELMAP\nBINARY", "\x00\x01\x1b[31m", "\x89" * 1500]
"""Values a broken file holds where a number, a UID or a code string belongs: control characters and kilobytes too."""
STRANGE_LENGTHS = [0, 1, 2, 3, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFF0, 0xFFFFFFFE, 0xFFFFFFFF]
STRANGE_FRAME_COUNTS = [0, 1, 2, 65536, 2**31 - 1, 2**31, 2**32 - 1, 10**12]
LONG_LENGTH_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"}
BOMB_SEGMENT_BYTES = 64 * 2**20
BOMB_SEGMENTS = 16
"""An inflate bomb inflates to 16 x 64 MiB = 1 GiB of zeros, from about 1 MB."""


def seed_files() -> dict[str, bytes]:
    """Every seed as file bytes: the real files above, and copies of two of them in each other transfer syntax.

    The copies (made here by pydicom and by our Deflated Image Frame
    Compression encoder) cover implicit VR, a deflated dataset, RLE, JPEG-LS,
    deflated frames and a 16-bit LABELMAP.
    """
    from pydicom.uid import (
        DeflatedExplicitVRLittleEndian,
        ImplicitVRLittleEndian,
        JPEGLSLossless,
        RLELossless,
    )

    from DicomManager.core.codecs.deflated_frames import deflate_frames

    files = {name: (TESTDATA / name).read_bytes() for name in [*SEEDS, *MORE_SEEDS]}
    labelmap = pydicom.dcmread(TESTDATA / SEEDS[0])
    binary = pydicom.dcmread(TESTDATA / "dcmqi/liver.dcm")
    for syntax in (ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian):
        for name, dataset in (("labelmap", labelmap), ("binary", binary)):
            copy_of = copy.deepcopy(dataset)
            copy_of.file_meta.TransferSyntaxUID = syntax
            files[f"{name} as {syntax.name}"] = _saved(copy_of)
    for syntax in (RLELossless, JPEGLSLossless):  # openjpeg encodes no frame as small as these seeds'
        copy_of = copy.deepcopy(labelmap)
        copy_of.compress(syntax)
        files[f"labelmap as {syntax.name}"] = _saved(copy_of)
    for name, dataset in (("labelmap", labelmap), ("binary", binary)):
        copy_of = copy.deepcopy(dataset)
        deflate_frames(copy_of)
        files[f"{name} as Deflated Image Frame Compression"] = _saved(copy_of)
    sixteen = copy.deepcopy(labelmap)
    sixteen.BitsAllocated, sixteen.BitsStored, sixteen.HighBit = 16, 16, 15
    sixteen.PixelData = np.frombuffer(labelmap.PixelData, np.uint8).astype("<u2").tobytes()
    sixteen["PixelData"].VR = "OW"
    sixteen.PixelPaddingValue = 5
    files["16-bit labelmap"] = _saved(sixteen)
    palette = pydicom.dcmread(TESTDATA / MORE_SEEDS[0])
    for bits in PALETTE_ENTRY_BITS:
        files[f"palette labelmap with segmented {bits}-bit tables"] = _saved(_with_segmented_palette(palette, bits))
    return files


PALETTE_COLOURS = ("Red", "Green", "Blue")
PALETTE_ENTRY_BITS = (8, 16)


def _with_segmented_palette(dataset: Dataset, bits: int) -> Dataset:
    """A copy of a PALETTE COLOR SEG with 8-bit plain tables, segmented: two discrete segments of ``bits``-bit entries."""
    copy_of = copy.deepcopy(dataset)
    for colour in PALETTE_COLOURS:
        entries = np.frombuffer(copy_of[f"{colour}PaletteColorLookupTableData"].value, np.uint8).astype(np.uint16)
        del copy_of[f"{colour}PaletteColorLookupTableData"]
        if bits == PALETTE_ENTRY_BITS[1]:
            entries = entries * 257  # the same colours at full 16-bit scale
        half = len(entries) // 2
        words = [0, half, *entries[:half], 0, len(entries) - half, *entries[half:]]
        copy_of[f"{colour}PaletteColorLookupTableDescriptor"].value = [len(entries), 0, bits]
        _set_table(copy_of, f"Segmented{colour}PaletteColorLookupTableData", words, bits)
    return copy_of


def _set_table(dataset: Dataset, keyword: str, values, bits: int) -> None:
    """A lookup table's data as OW, of bytes for 8-bit entries or little-endian words for 16-bit ones (padded to even)."""
    data = np.asarray(values, dtype=np.uint8 if bits == PALETTE_ENTRY_BITS[0] else "<u2").tobytes()
    dataset[keyword] = pydicom.DataElement(keyword, "OW", data + b"\0" * (len(data) % 2))


REFERENCE_SERIES = {
    "dcmqi/liver.dcm": "dcmqi/ct-3slice",
    "dcmqi/partial_overlaps.dcm": "dcmqi/ct-3slice",
    "public/liver_deflate.dcm": "dcmqi/ct-3slice",
    "public/liver_nonbyte_aligned.dcm": "dcmqi/ct-3slice",
    "binary": "dcmqi/ct-3slice",  # the copies of dcmqi/liver.dcm in other transfer syntaxes
    "highdicom/seg_image_ct_binary_fractional.dcm": "pydicom/CT2",
}
"""The image series a seed's frames name as their source images, by seed (or by the name its copies start with)."""


def reference_series(seed_name: str) -> Path | None:
    """The folder of the series whose images the seed's frames name (Derivation Image Sequence), if it is here."""
    folder = REFERENCE_SERIES.get(seed_name) or REFERENCE_SERIES.get(seed_name.split(" as ")[0])
    return TESTDATA / folder if folder else None


MORE_SEEDS = [
    "highdicom/seg_image_sm_control_labelmap_palette_color.dcm",  # tiled LABELMAP with its own palette
    "public/liver_deflate.dcm",  # BINARY in a deflated dataset, from another writer
    "public/liver_nonbyte_aligned.dcm",  # BINARY, frames not on byte boundaries
]


def _saved(dataset: Dataset) -> bytes | None:
    """The dataset as file bytes, written as it is (pydicom's value checks off); None when it cannot be written."""
    from io import BytesIO

    from pydicom import config

    from DicomManager.core.codecs.compression import DEFLATED_IMAGE_FRAME_COMPRESSION
    from DicomManager.core.codecs.deflated_file import encode_explicit_little_endian, write_part10

    mode = config.settings.writing_validation_mode
    config.settings.writing_validation_mode = config.IGNORE
    try:
        if dataset.file_meta.get("TransferSyntaxUID") == DEFLATED_IMAGE_FRAME_COMPRESSION:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / "seed.dcm"
                with encode_explicit_little_endian(dataset).getbuffer() as body:
                    write_part10(path, dataset.file_meta, body)
                return path.read_bytes()
        buffer = BytesIO()
        dataset.save_as(buffer, enforce_file_format=False)
        return buffer.getvalue()
    except Exception:  # noqa: BLE001 - whatever pydicom refuses to write, the mutation is not made
        return None
    finally:
        config.settings.writing_validation_mode = mode


def random_mutation(seed_bytes: bytes, seed_dataset: Dataset, rng: random.Random) -> tuple[str, bytes | None]:
    """One random defect of one of :data:`MUTATION_CLASSES`, and the file it makes (None when it cannot be made)."""
    deflated = _is_deflated_dataset(seed_bytes) or seed_dataset.file_meta.get("TransferSyntaxUID") == DEFLATED_FRAMES
    palette = seed_dataset.get("PhotometricInterpretation") == "PALETTE COLOR"
    kinds = [kind for kind in MUTATION_CLASSES if (deflated or kind != "inflate bomb") and (palette or kind != "palette")]
    kind = "palette" if palette and rng.random() < PALETTE_SHARE else rng.choice(kinds)
    if kind == "bytes":
        return kind, _in_dataset_bytes(seed_bytes, rng, _byte_mutation)
    if kind == "declared length":
        return kind, _in_dataset_bytes(seed_bytes, rng, lambda body, rng: _declared_length(body, seed_dataset, rng))
    if kind == "inflate bomb":
        return kind, _inflate_bomb(seed_bytes, seed_dataset, rng)
    dataset = copy.deepcopy(seed_dataset)
    mutate = {"tag": _tag_mutation, "value multiplicity": _value_multiplicity, "value representation": _value_representation,
              "frame count": _frame_count, "palette": _palette_mutation}[kind]
    try:
        mutate(dataset, rng)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return kind, None  # pydicom would not set that value
    return kind, _saved(dataset)


def _byte_mutation(data: bytearray, rng: random.Random) -> bytes:
    """Bytes flipped, the file cut, or a chunk of it repeated elsewhere."""
    choice = rng.randrange(3)
    if choice == 0:
        for _ in range(rng.randint(1, 16)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 1:
        return bytes(data[: rng.randrange(len(data))])
    start = rng.randrange(len(data))
    chunk = data[start:start + rng.randint(1, 4096)]
    position = rng.randrange(len(data))
    return bytes(data[:position] + chunk + data[position:])


def _in_dataset_bytes(seed_bytes: bytes, rng: random.Random, mutate: Callable[[bytearray, random.Random], bytes]) -> bytes:
    """``mutate`` applied to the file's bytes; in a deflated dataset, most often to the inflated dataset, deflated again."""
    body_start = _dataset_start(seed_bytes)
    deflated = _is_deflated_dataset(seed_bytes)
    if not deflated or rng.random() < 0.2:
        return mutate(bytearray(seed_bytes), rng)
    body = zlib.decompress(seed_bytes[body_start:], -zlib.MAX_WBITS)
    return seed_bytes[:body_start] + _deflated(mutate(bytearray(body), rng))


def _dataset_start(data: bytes) -> int:
    """Where the dataset starts, after the preamble, DICM and the file meta group (its group length says how long)."""
    group_length = struct.unpack_from("<I", data, 128 + 4 + 8)[0]
    return 128 + 4 + 12 + group_length


def _is_deflated_dataset(data: bytes) -> bool:
    return b"1.2.840.10008.1.2.1.99" in data[:_dataset_start(data)]


def _deflated(body: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(body) + compressor.flush()


def _declared_length(body: bytearray, dataset: Dataset, rng: random.Random) -> bytes:
    """An element's length field, Pixel Data's most often, made to say something strange (explicit or implicit VR)."""
    elements = [element.tag for element in dataset.iterall()]
    tag = PIXEL_DATA if rng.random() < 0.4 and PIXEL_DATA in elements else rng.choice(elements)
    pattern = struct.pack("<HH", tag >> 16, tag & 0xFFFF)
    places = [match.start() for match in re.finditer(re.escape(pattern), body)]
    if not places:
        return bytes(body)
    place = rng.choice(places)
    vr = bytes(body[place + 4:place + 6])
    length = rng.choice([*STRANGE_LENGTHS, len(body), rng.randrange(2**32)])
    if not vr.isalpha():  # implicit VR: a 4-byte length follows the tag
        struct.pack_into("<I", body, place + 4, length)
    elif vr in LONG_LENGTH_VRS:
        struct.pack_into("<I", body, place + 8, length)
    else:
        struct.pack_into("<H", body, place + 6, length & 0xFFFF)
    return bytes(body)


def _tag_mutation(dataset: Dataset, rng: random.Random) -> None:
    """An element removed, given a strange value, or emptied."""
    element = rng.choice([element for element in dataset.iterall() if element.tag != PIXEL_DATA])
    action = rng.randrange(3)
    if action == 0:
        _remove(dataset, element.tag)
    elif action == 1:
        element.value = rng.choice(STRANGE_TEXT)
    else:
        element.value = type(element.value)() if element.VR == "SQ" else None


def _value_multiplicity(dataset: Dataset, rng: random.Random) -> None:
    """A single-valued element given two or more values (its own, repeated, or strange ones)."""
    element = rng.choice([element for element in dataset.iterall() if element.VR not in ("SQ", "OB", "OW", "UN")])
    value = element.value
    if element.VR in ("US", "SS", "UL", "SL", "FL", "FD", "IS", "DS"):
        element.value = [value, value] if not isinstance(value, (list, MultiValue)) else [*value, *value]
    else:
        element.value = [str(value), rng.choice(STRANGE_TEXT)]


def _value_representation(dataset: Dataset, rng: random.Random) -> None:
    """An element rewritten with another VR: a sequence as text, a number as text or bytes, text as a sequence."""
    element = rng.choice([element for element in dataset.iterall() if element.tag != PIXEL_DATA])
    vr = rng.choice(["LO", "CS", "UI", "US", "SS", "UL", "FD", "OB", "UN", "SQ", "DS", "IS", "XX"])
    if vr in ("LO", "CS", "UI", "DS", "IS"):
        value = rng.choice(STRANGE_TEXT)
    elif vr in ("US", "SS", "UL"):
        value = rng.choice([0, 1, 7, 65535])
    elif vr == "FD":
        value = rng.choice([0.5, float("inf"), float("nan"), -1e300])
    elif vr == "SQ":
        value = pydicom.Sequence([Dataset()])
    else:
        value = rng.choice([b"", b"\x00\x01", b"abc\n", bytes(1500)])
    if vr == "XX":  # a VR no standard knows: written as explicit bytes below
        vr, value = "UN", b"XX"
    parent = _parent_of(dataset, element.tag)
    parent[element.tag] = pydicom.DataElement(element.tag, vr, value)


def _frame_count(dataset: Dataset, rng: random.Random) -> None:
    """NumberOfFrames, or a tiled image's total pixel matrix, made to say far more (or fewer) than the file holds."""
    keyword = rng.choice(["NumberOfFrames", "NumberOfFrames", "TotalPixelMatrixRows", "TotalPixelMatrixColumns"])
    if keyword not in dataset and keyword != "NumberOfFrames":
        keyword = "NumberOfFrames"
    count = rng.choice([*STRANGE_FRAME_COUNTS, int(dataset.get("NumberOfFrames", 1)) + rng.choice([-1, 1])])
    setattr(dataset, keyword, count if keyword == "NumberOfFrames" else min(count, 2**32 - 1))


PALETTE_SHARE = 0.5
"""How often a palette seed gets a palette mutation: few seeds have a palette, and its tables have many ways to be wrong."""
STRANGE_DESCRIPTORS = [[0, 0, 8], [0, 0, 16], [1, 0, 8], [21, 0, 8], [23, 0, 16], [22, 5, 8], [22, 65535, 16],
                       [22, 0, 0], [22, 0, 1], [22, 0, 12], [22, 0, 32], [65535, 0, 16], [22, 0], [22, 0, 8, 8]]
"""Palette descriptors (entries, first mapped value, bits per entry) that disagree with their tables or the standard."""


def _palette_mutation(dataset: Dataset, rng: random.Random) -> None:
    """A PALETTE COLOR SEG's lookup tables made inconsistent: descriptors, lengths, bits, or segmented tables gone wrong."""
    colours = rng.sample([*PALETTE_COLOURS, "Alpha"], rng.randint(1, 3)) if rng.random() < 0.2 else \
        rng.sample(PALETTE_COLOURS, rng.randint(1, 3))
    action = rng.randrange(5)
    bits = int(dataset.RedPaletteColorLookupTableDescriptor[2])  # what pydicom expands every table by
    for colour in colours:
        descriptor = f"{colour}PaletteColorLookupTableDescriptor"
        plain, segmented = f"{colour}PaletteColorLookupTableData", f"Segmented{colour}PaletteColorLookupTableData"
        present = segmented if segmented in dataset else plain
        if action == 0:  # a descriptor that disagrees
            dataset[descriptor] = pydicom.DataElement(descriptor, "US", rng.choice(STRANGE_DESCRIPTORS))
        elif action == 1 and present in dataset:  # a table cut, lengthened, emptied or made odd
            data = dataset[present].value
            dataset[present].value = rng.choice([data[: len(data) // 2], data[:-1], b"", data * rng.choice([2, 300]),
                                                 data + bytes(1), bytes(rng.randrange(256) for _ in range(len(data)))])
        elif action == 2:  # 8-bit entries declared 16-bit, or the other way round
            other = sum(PALETTE_ENTRY_BITS) - bits
            entries = dataset[descriptor].value[0] if descriptor in dataset else 22
            dataset[descriptor] = pydicom.DataElement(descriptor, "US", [entries, 0, other])
        elif action == 3:  # a segmented table of random segments in place of the table (plain or segmented)
            if plain in dataset:
                del dataset[plain]
            _set_table(dataset, segmented, _random_segments(rng, bits), bits)
        elif rng.random() < 0.5 and present in dataset:  # the table gone
            del dataset[present]
        else:  # a plain table where a segmented one was, or both
            _set_table(dataset, plain if present == segmented else segmented, _random_segments(rng, bits), bits)


def _random_segments(rng: random.Random, bits: int) -> list[int]:
    """Segments of a segmented table (PS3.3 C.7.9.2): discrete, linear and indirect ones with random, often strange, values."""
    largest = 2**bits - 1
    words: list[int] = []
    for _ in range(rng.randint(1, 12)):
        kind = rng.choice([0, 0, 1, 1, 2, rng.randrange(largest + 1)])
        length = rng.choice([0, 1, 2, 11, rng.randrange(largest + 1), largest])
        if kind == 0:
            words += [0, length, *(rng.randrange(largest + 1) for _ in range(min(length, rng.choice([length, 3]))))]
        elif kind == 1:
            words += [1, length, rng.randrange(largest + 1)]
        elif kind == 2:  # an offset into the table, itself included, in 2 words or 4 bytes
            offset = rng.choice([0, 3, len(words), rng.randrange(2**16)])
            words += [2, length, *([offset & largest, offset >> bits & largest] if bits == 16 else
                                   [offset & 255, offset >> 8 & 255, 0, 0])]
        else:
            words += [kind, length]
    if rng.random() < 0.2:  # one segment repeated thousands of times: a small file declaring a large table
        words += [1, largest, largest, 1, largest, 0] * rng.choice([100, 10000])
    return words


def _inflate_bomb(seed_bytes: bytes, dataset: Dataset, rng: random.Random) -> bytes | None:
    """Deflated bytes that inflate to far more than they should: a frame of deflated frames, or a deflated dataset.

    A frame (Supplement 244) inflates to 1 GiB, or to its own bytes and more;
    a deflated dataset gets 1 GiB of zeros after its Pixel Data, or a Pixel
    Data length of 0xFFFFFFF0.
    """
    if dataset.file_meta.get("TransferSyntaxUID") == DEFLATED_FRAMES:
        from pydicom.encaps import encapsulate, generate_frames

        frames = list(generate_frames(dataset.PixelData, number_of_frames=int(dataset.get("NumberOfFrames", 1))))
        index = rng.randrange(len(frames))
        frame = zlib.decompress(frames[index], -zlib.MAX_WBITS)
        frames[index] = rng.choice([inflate_bomb_stream(b""), inflate_bomb_stream(frame),
                                    _deflated(frame + bytes(rng.choice([1, 2, 4096]))), _deflated(frame) + b"trailing"])
        bombed = copy.deepcopy(dataset)
        bombed.PixelData = encapsulate(frames)
        return _saved(bombed)
    if _is_deflated_dataset(seed_bytes):
        body_start = _dataset_start(seed_bytes)
        body = zlib.decompress(seed_bytes[body_start:], -zlib.MAX_WBITS)
        if rng.random() < 0.5:
            private_after_pixels = struct.pack("<HH2sHI", 0x7FE1, 0x0010, b"OB", 0, BOMB_SEGMENT_BYTES * BOMB_SEGMENTS)
            return seed_bytes[:body_start] + inflate_bomb_stream(body + private_after_pixels, zeros_first=False)
        place = body.rfind(struct.pack("<HH", 0x7FE0, 0x0010))
        patched = bytearray(body)
        struct.pack_into("<I", patched, place + 8, 0xFFFFFFF0)
        return seed_bytes[:body_start] + _deflated(bytes(patched))
    return None


def inflate_bomb_stream(data: bytes, zeros_first: bool = True) -> bytes:
    """A raw deflate stream of ``data`` and 1 GiB of zeros (before it, or after), made in milliseconds of 1 MB."""
    head, tail = (b"", data) if zeros_first else (data, b"")
    start = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    end = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return (start.compress(head) + start.flush(zlib.Z_FULL_FLUSH) + _zeros_segment() * BOMB_SEGMENTS
            + end.compress(tail) + end.flush())


@functools.cache
def _zeros_segment() -> bytes:
    """64 MiB of zeros as deflate blocks that end on a byte and refer to nothing before them, so copies can be chained."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(bytes(BOMB_SEGMENT_BYTES)) + compressor.flush(zlib.Z_FULL_FLUSH)


def _parent_of(dataset: Dataset, tag) -> Dataset:
    for item in [dataset, *[ds for element in dataset.iterall() if element.VR == "SQ" for ds in element.value]]:
        if tag in item:
            return item
    raise ValueError(f"{tag} is in no item")


def _remove(dataset: Dataset, tag) -> None:
    del _parent_of(dataset, tag)[tag]
