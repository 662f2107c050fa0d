"""Broken SEGs made from real ones: the named corpus (each case one known defect) and random mutations.

Used by ``Testing/pytest/test_broken_segs.py`` (every named case must give the
project's own error or a correct load) and by ``fuzz_reader.py`` (random byte-
and tag-level mutations of the same seeds, for a given count).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from pathlib import Path

import pydicom
from pydicom import Dataset

TESTDATA = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
SEEDS = [
    "dcmqi/sparse-labelmap-ppv5.dcm",  # LABELMAP, dcmqi, omitted frame, PixelPaddingValue
    "dcmqi/liver.dcm",  # BINARY, dcmqi, 512x512
    "dcmqi/partial_overlaps.dcm",  # BINARY with overlapping segments
    "dcmqi/23x38x3/seg/label.seg",  # BINARY whose frames do not start on byte boundaries
    "highdicom/seg_image_ct_binary_fractional.dcm",  # FRACTIONAL
    "highdicom/seg_image_sm_control_labelmap.dcm",  # tiled LABELMAP
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


def random_mutation(seed_bytes: bytes, seed_dataset: Dataset, rng: random.Random) -> bytes | None:
    """One random defect: flipped bytes, a cut, a duplicated chunk, or a tag-level change; None when it cannot be made."""
    choice = rng.randrange(4)
    data = bytearray(seed_bytes)
    if choice == 0:
        for _ in range(rng.randint(1, 16)):
            position = rng.randrange(len(data))
            data[position] = rng.randrange(256)
        return bytes(data)
    if choice == 1:
        return bytes(data[: rng.randrange(len(data))])
    if choice == 2:
        start = rng.randrange(len(data))
        chunk = data[start:start + rng.randint(1, 4096)]
        position = rng.randrange(len(data))
        return bytes(data[:position] + chunk + data[position:])
    return _tag_mutation(seed_dataset, rng)


def _tag_mutation(seed_dataset: Dataset, rng: random.Random) -> bytes | None:
    """An element removed, given a strange value, or emptied; None when pydicom will not set or write that."""
    from io import BytesIO

    dataset = copy.deepcopy(seed_dataset)
    elements = [element for element in dataset.iterall() if element.tag != 0x7FE00010]
    element = rng.choice(elements)
    action = rng.randrange(3)
    try:
        if action == 0:
            _remove(dataset, element.tag)
        elif action == 1:
            element.value = rng.choice(["", "0", "-1", "65536", "1e308", "NaN", "a\\b", "1.2.3"])
        else:
            element.value = type(element.value)() if element.VR == "SQ" else None
    except (TypeError, ValueError, AttributeError):
        return None
    buffer = BytesIO()
    try:
        dataset.save_as(buffer, enforce_file_format=False)
    except Exception:  # noqa: BLE001 - whatever pydicom refuses to write, the mutation is not made
        return None
    return buffer.getvalue()


def _remove(dataset: Dataset, tag) -> None:
    for item in [dataset, *[ds for element in dataset.iterall() if element.VR == "SQ" for ds in element.value]]:
        if tag in item:
            del item[tag]
            return
