"""Reading a SEG's header and checking it: what every reader, and the DICOM browser's offer, rely on.

A header whose attributes leave the voxels and their meaning clear is read,
with what a writer left out filled in and a warning saying so; one that does
not is refused by name. :func:`header_problem` says, without decoding a
pixel, why the readers would refuse a file. No highdicom is imported here:
the DICOM browser examines many files.
"""

from __future__ import annotations

import logging
import struct
from pathlib import Path

from pydicom import Dataset
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.uid import UID, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from ...errors import DicomLabelMapSegError, SegFileError
from ..codecs.compression import DEFLATED_IMAGE_FRAME_COMPRESSION, decoder_available
from ..segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UID, SegmentationType
from .deflated_dataset import read_dicom_file
from .functional_groups import FunctionalGroups

logger = logging.getLogger(__name__)

SEGMENTATION_TYPES = {
    LABELMAP_SEG_SOP_CLASS_UID: (SegmentationType.LABELMAP,),
    SEGMENTATION_SOP_CLASS_UID: (SegmentationType.BINARY, SegmentationType.FRACTIONAL),
}
"""The SegmentationType values each Segmentation SOP Class allows."""

BITS_ALLOCATED = {SegmentationType.LABELMAP: (8, 16), SegmentationType.BINARY: (1,), SegmentationType.FRACTIONAL: (8,)}
PHOTOMETRIC_INTERPRETATIONS = ("MONOCHROME2", "MONOCHROME1", "PALETTE COLOR")
"""What a SEG's Photometric Interpretation may say (PALETTE COLOR: a LABELMAP with its own palette)."""
"""The BitsAllocated each SegmentationType has (PS3.3 C.8.20.2)."""


def read_seg_dataset(path: Path, stop_before_pixels: bool = False) -> Dataset:
    """Read a SEG file and check that it is a Segmentation of a type we know."""
    path = Path(path)
    try:
        dataset = read_dicom_file(path, stop_before_pixels=stop_before_pixels)
    except FileNotFoundError:
        raise SegFileError(f"{path}: no such file.") from None
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, AttributeError,
            struct.error, NotImplementedError, OverflowError, BytesLengthException) as error:
        raise SegFileError(f"{path}: not a readable DICOM file ({error}).") from error
    return check_seg_dataset(dataset, path)


def check_seg_dataset(dataset: Dataset, path: Path) -> Dataset:
    """Check a dataset read from the SEG file ``path`` as :func:`read_seg_dataset` checks it, completing it in place."""
    check_segmentation_type(dataset, path)
    _complete_transfer_syntax(dataset, path)
    _complete_pixel_description(dataset, path)
    _drop_malformed_frame_of_reference(dataset, path)
    _drop_surplus_frame_groups(dataset, path)
    return dataset


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


def _drop_malformed_frame_of_reference(dataset: Dataset, path: Path) -> None:
    """A FrameOfReferenceUID that is not a UID is left out with a warning: the frames' positions still place them."""
    value = dataset.get("FrameOfReferenceUID")
    if value is not None and not (isinstance(value, str) and value):
        logger.warning("%s: FrameOfReferenceUID (0020,0052) is %r, not a UID; it is left out", path, value)
        del dataset.FrameOfReferenceUID


def _complete_transfer_syntax(dataset: Dataset, path: Path) -> None:
    """A file meta without TransferSyntaxUID: native Pixel Data is read in the encoding pydicom found, with a warning."""
    syntax = dataset.file_meta.get("TransferSyntaxUID")
    if syntax and not isinstance(syntax, str):
        raise SegFileError(f"{path}: TransferSyntaxUID (0002,0010) is {syntax!r}, not a UID.")
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
            setattr(dataset, keyword, value)
    if dataset.SamplesPerPixel != 1:
        raise SegFileError(f"{path}: SamplesPerPixel (0028,0002) is {dataset.SamplesPerPixel!r}; a SEG has 1.")
    photometric = dataset.PhotometricInterpretation
    if not isinstance(photometric, str) or photometric not in PHOTOMETRIC_INTERPRETATIONS:
        logger.warning("%s: PhotometricInterpretation (0028,0004) is %r; MONOCHROME2 is used", path, photometric)
        dataset.PhotometricInterpretation = "MONOCHROME2"
    value = dataset.get("NumberOfFrames", 1)
    try:
        dataset.NumberOfFrames = int(value)
    except (TypeError, ValueError) as error:
        raise SegFileError(f"{path}: NumberOfFrames (0028,0008) is {value!r}, not a whole number.") from error
    if dataset.NumberOfFrames < 1:
        raise SegFileError(f"{path}: NumberOfFrames (0028,0008) is {dataset.NumberOfFrames}; a SEG has a frame at least.")


def check_segmentation_type(dataset: Dataset, path: Path) -> str:
    """The SegmentationType, after checking that it fits the SOP Class and that the basic attributes are there."""
    sop_class = str(dataset.get("SOPClassUID", ""))
    segmentation_type = str(dataset.get("SegmentationType", ""))
    if sop_class not in SEGMENTATION_TYPES:
        raise SegFileError(f"{path}: SOPClassUID {sop_class or '(missing)'} is not a Segmentation Storage class.")
    if segmentation_type not in SEGMENTATION_TYPES[sop_class]:
        raise SegFileError(
            f"{path}: SegmentationType {segmentation_type or '(missing)'} does not belong to SOP Class "
            f"{sop_class} (which allows {', '.join(SEGMENTATION_TYPES[sop_class])})."
        )
    for keyword in ("SegmentSequence", "Rows", "Columns", "BitsAllocated"):
        if keyword not in dataset or dataset[keyword].value in (None, ""):
            raise SegFileError(f"{path}: the required attribute {keyword} is missing or empty.")
    if dataset["SegmentSequence"].VR != "SQ" or not all(isinstance(item, Dataset) for item in dataset.SegmentSequence):
        raise SegFileError(f"{path}: SegmentSequence (0062,0002) is not a sequence of items.")
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if not isinstance(dataset[keyword].value, int) or dataset[keyword].value <= 0:
            raise SegFileError(f"{path}: {keyword} is {dataset[keyword].value!r}, not a positive whole number.")
    bits = dataset.BitsAllocated
    if bits not in BITS_ALLOCATED[segmentation_type]:
        allowed = " or ".join(str(value) for value in BITS_ALLOCATED[segmentation_type])
        raise SegFileError(f"{path}: BitsAllocated (0028,0100) is {bits}; a {segmentation_type} SEG has {allowed}.")
    return segmentation_type


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
        parts.append(f"{focal_planes} focal planes" + (f" (Z offsets {', '.join(sorted(z_offsets))} mm)" if z_offsets else ""))
    if optical_path_count > 1:
        parts.append(f"{optical_path_count} optical paths" + (f" ({', '.join(sorted(optical_paths))})" if optical_paths else ""))
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


def header_problem(path: Path, header: Dataset | None = None) -> str | None:
    """Why the readers would refuse the SEG at ``path``, judged from its header alone; None when they would load it.

    Checks what the readers check before decoding: the type and pixel
    description, a decoder for the transfer syntax, a tiled slide image of
    one plane, and frames placed in space. ``header`` is the file's header
    when the caller has read it already (it is completed in place, as
    :func:`check_seg_dataset` completes it); else it is read here.
    """
    try:
        dataset = check_seg_dataset(header, Path(path)) if header is not None else read_seg_dataset(
            Path(path), stop_before_pixels=True
        )
        groups = FunctionalGroups(dataset, Path(path))
    except DicomLabelMapSegError as error:
        return str(error)
    syntax = UID(dataset.file_meta.TransferSyntaxUID)
    if syntax != DEFLATED_IMAGE_FRAME_COMPRESSION and not syntax.is_transfer_syntax:
        return f"{path}: {syntax} is not a transfer syntax pydicom knows."
    if not decoder_available(syntax):
        return f"{path}: no installed decoder handles {syntax.name}."
    if is_tiled(dataset):
        return slide_planes_problem(dataset, Path(path))
    if groups.item(0, "PlanePositionSequence") is None:
        return f"{path}: its frames have no position in space (PlanePositionSequence), as a SEG of projection images."
    return None
