"""What every SEG reader needs from a SEG dataset: reading it, checking its type, its segments and frames.

Shared by the LABELMAP reader (:mod:`.seg_reader`) and the BINARY/FRACTIONAL
reader (:mod:`.binary_seg_reader`), whose results both take the form of
:class:`LayeredSegmentation`: label arrays on one grid ("layers"), each
segment's voxels in exactly one layer, as Slicer's shared labelmap layers hold
them.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import BytesLengthException, InvalidDicomError
from pydicom.pixels import get_decoder
from pydicom.uid import UID, RLELossless

from ..errors import CodecUnavailableError, SegFileError
from .compression import DEFLATED_IMAGE_FRAME_COMPRESSION, preferred_decoding_plugin
from .deflated_frames import decode_deflated_frames, pydicom_decodes_it
from .library_output import pydicom_logs_at_debug
from .segment_metadata import SegmentMetadata, segment_metadata_from_dataset
from .sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UID

SEGMENTATION_TYPES = {
    LABELMAP_SEG_SOP_CLASS_UID: ("LABELMAP",),
    SEGMENTATION_SOP_CLASS_UID: ("BINARY", "FRACTIONAL"),
}
"""The SegmentationType values each Segmentation SOP Class allows."""

BITS_ALLOCATED = {"LABELMAP": (8, 16), "BINARY": (1,), "FRACTIONAL": (8,)}
"""The BitsAllocated each SegmentationType has (PS3.3 C.8.20.2)."""


@dataclass(frozen=True)
class SegInfo:
    """Identifiers and series attributes of a SEG, as a browser or report shows them.

    The source images it references one by one are not here: listing them
    parses an item per image (15 ms of a 90 ms load for a 300-image series)
    that loading never uses; :func:`.seg_references.read_seg_references`
    lists them.
    """

    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    series_description: str
    series_number: int | None
    content_label: str
    content_description: str
    content_creator_name: str
    transfer_syntax_uid: str
    bits_allocated: int
    number_of_frames: int
    pixel_padding_value: int | None
    photometric_interpretation: str
    frame_of_reference_uid: str | None
    referenced_series_uid: str | None
    segmentation_type: str = "LABELMAP"
    clinical_trial_series_id: str = ""
    clinical_trial_time_point_id: str = ""
    clinical_trial_coordinating_center_name: str = ""


@dataclass
class LayeredSegmentation:
    """A SEG read back as Slicer holds segmentations: label layers on one grid.

    Each layer is a label array whose values are segment numbers; a segment's
    voxels are all in layer ``layer_of_segment[number]``. Segments that do not
    overlap share a layer, so a LABELMAP (or a BINARY SEG without overlaps)
    gives one layer. ``notes`` says what could not be kept exactly (for
    example fractional values thresholded at 0.5).
    """

    layers: list[hd.Volume]
    segments: list[SegmentMetadata]
    layer_of_segment: dict[int, int]
    info: SegInfo
    background: SegmentMetadata | None = None
    notes: list[str] = field(default_factory=list)


def read_seg_dataset(path: Path, stop_before_pixels: bool = False) -> Dataset:
    """Read a SEG file and check that it is a Segmentation of a type we know."""
    path = Path(path)
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except FileNotFoundError:
        raise SegFileError(f"{path}: no such file.") from None
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, AttributeError,
            struct.error, NotImplementedError, OverflowError, BytesLengthException) as error:
        raise SegFileError(f"{path}: not a readable DICOM file ({error}).") from None
    check_segmentation_type(dataset, path)
    return dataset


MALFORMED_CONTENT = (ValueError, TypeError, KeyError, IndexError, AttributeError, struct.error, OSError,
                     NotImplementedError, OverflowError, EOFError, ZeroDivisionError, zlib.error, BytesLengthException,
                     sqlite3.Error)
"""What parsing a malformed file raises from deep inside pydicom or highdicom (values are converted lazily)."""


@contextmanager
def malformed_content_refused(path: Path) -> Iterator[None]:
    """Turn what a malformed SEG makes pydicom or highdicom raise into a :class:`SegFileError` naming the file.

    pydicom reads element values lazily, so a damaged value surfaces wherever
    it is first used; the readers' own checks name most defects, and this
    catches the rest at the reader's boundary.
    """
    try:
        yield
    except MALFORMED_CONTENT as error:
        raise SegFileError(f"{path}: malformed or unsupported content ({type(error).__name__}: {error}).") from None


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
    for keyword in ("Rows", "Columns", "BitsAllocated"):
        if not isinstance(dataset[keyword].value, int) or dataset[keyword].value <= 0:
            raise SegFileError(f"{path}: {keyword} is {dataset[keyword].value!r}, not a positive whole number.")
    bits = dataset.BitsAllocated
    if bits not in BITS_ALLOCATED[segmentation_type]:
        allowed = " or ".join(str(value) for value in BITS_ALLOCATED[segmentation_type])
        raise SegFileError(f"{path}: BitsAllocated (0028,0100) is {bits}; a {segmentation_type} SEG has {allowed}.")
    return segmentation_type


def segments_of(dataset: Dataset, path: Path) -> list[SegmentMetadata]:
    """The segments a SEG describes, background segment 0 left out."""
    items = [segment_metadata_from_dataset(item, source=str(path)) for item in dataset.SegmentSequence]
    return [segment for segment in items if segment.number != 0]


def background_of(dataset: Dataset, path: Path) -> SegmentMetadata | None:
    """The described background segment (number 0, as dcmqi writes in LABELMAPs), if any."""
    items = [item for item in dataset.SegmentSequence if item.get("SegmentNumber") == 0]
    return segment_metadata_from_dataset(items[0], source=str(path)) if items else None


def seg_info(dataset: Dataset, path: Path) -> SegInfo:
    """Identifiers and series attributes of a SEG dataset read from ``path``."""
    referenced_series = dataset.get("ReferencedSeriesSequence") or []
    series_item = referenced_series[0] if referenced_series else None
    padding = dataset.get("PixelPaddingValue")
    series_number = dataset.get("SeriesNumber")
    return SegInfo(
        path=path,
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        series_instance_uid=str(dataset.get("SeriesInstanceUID", "")),
        study_instance_uid=str(dataset.get("StudyInstanceUID", "")),
        series_description=str(dataset.get("SeriesDescription", "")),
        series_number=int(series_number) if series_number not in (None, "") else None,
        content_label=str(dataset.get("ContentLabel", "")),
        content_description=str(dataset.get("ContentDescription", "")),
        content_creator_name=str(dataset.get("ContentCreatorName", "")),
        transfer_syntax_uid=str(dataset.file_meta.get("TransferSyntaxUID", "")),
        bits_allocated=int(dataset.BitsAllocated),
        number_of_frames=int(dataset.get("NumberOfFrames", 1)),
        pixel_padding_value=int(padding) if padding is not None else None,
        photometric_interpretation=str(dataset.get("PhotometricInterpretation", "")),
        frame_of_reference_uid=dataset.get("FrameOfReferenceUID"),
        referenced_series_uid=str(series_item.get("SeriesInstanceUID", "")) or None if series_item else None,
        segmentation_type=str(dataset.get("SegmentationType", "")),
        clinical_trial_series_id=str(dataset.get("ClinicalTrialSeriesID", "")),
        clinical_trial_time_point_id=str(dataset.get("ClinicalTrialTimePointID", "")),
        clinical_trial_coordinating_center_name=str(dataset.get("ClinicalTrialCoordinatingCenterName", "")),
    )


def is_tiled(dataset: Dataset) -> bool:
    """Whether the SEG is a tiled slide-microscopy image rather than a stack of planes."""
    return "TotalPixelMatrixRows" in dataset or str(dataset.get("DimensionOrganizationType", "")).startswith("TILED")


def decode_all_frames(dataset: Dataset, path: Path) -> np.ndarray:
    """All frames as one (frames, rows, columns) array of stored values."""
    _require_pixel_data(dataset, path)
    plugin = preferred_decoding_plugin(dataset.file_meta.TransferSyntaxUID)
    with _decoding_errors(dataset, path):
        dataset.pixel_array_options(decoding_plugin=plugin)
        pixels = dataset.pixel_array
    return pixels[np.newaxis] if pixels.ndim == 2 else pixels


class FrameReader:
    """Decodes the frames of a SEG a few at a time, so memory stays bounded for large SEGs.

    pydicom 3.0 cannot decode a single 1-bit frame that does not start on a
    byte boundary (frames of rows x columns not a multiple of 8, such as
    dcmqi's 23-column test file); such SEGs are decoded whole, once. Deflated
    Image Frame Compression is decoded by :mod:`.deflated_frames` where
    pydicom has no decoder for it.
    """

    def __init__(self, dataset: Dataset, path: Path) -> None:
        _require_pixel_data(dataset, path)
        self._dataset, self._path = dataset, path
        self._transfer_syntax = dataset.file_meta.TransferSyntaxUID
        self._own_deflate = self._transfer_syntax == DEFLATED_IMAGE_FRAME_COMPRESSION and not pydicom_decodes_it()
        if self._transfer_syntax == RLELossless:
            check_rle_segments(dataset, path)
        pixels_per_frame = int(dataset.Rows) * int(dataset.Columns)
        unaligned = int(dataset.BitsAllocated) == 1 and pixels_per_frame % 8 and not is_encapsulated(self._transfer_syntax)
        self._all_frames = decode_all_frames(dataset, path) if unaligned else None

    def frames(self, indices: Sequence[int]) -> Iterator[np.ndarray]:
        """The frames at 0-based ``indices``, in that order."""
        if self._all_frames is not None:
            yield from (self._all_frames[index] for index in indices)
            return
        if self._own_deflate:
            yield from decode_deflated_frames(self._dataset, indices, self._path)
            return
        plugin = preferred_decoding_plugin(self._transfer_syntax)
        with _decoding_errors(self._dataset, self._path):
            decoder = get_decoder(self._transfer_syntax)
            for frame, _ in decoder.iter_array(self._dataset, indices=list(indices), decoding_plugin=plugin):
                yield frame


def is_encapsulated(transfer_syntax_uid: UID) -> bool:
    """Whether Pixel Data in this transfer syntax is encapsulated, Deflated Image Frame Compression included."""
    if transfer_syntax_uid == DEFLATED_IMAGE_FRAME_COMPRESSION:
        return True
    return transfer_syntax_uid.is_transfer_syntax and transfer_syntax_uid.is_encapsulated


def _require_pixel_data(dataset: Dataset, path: Path) -> None:
    if "PixelData" not in dataset:
        raise SegFileError(f"{path}: the file has no Pixel Data.")


@contextmanager
def _decoding_errors(dataset: Dataset, path: Path) -> Iterator[None]:
    """Decoding failures as our errors naming the file and transfer syntax, the cause chained.

    pydicom's own logging of each failed plugin (a traceback at ERROR) goes
    to DEBUG: the user gets one line.
    """
    name = getattr(dataset.file_meta.get("TransferSyntaxUID"), "name", "its transfer syntax")
    try:
        with pydicom_logs_at_debug():
            yield
    except NotImplementedError as error:
        raise CodecUnavailableError(f"{path}: no installed decoder handles {name} ({_one_line(error)}).") from error
    except (RuntimeError, ValueError, EOFError) as error:
        raise SegFileError(f"{path}: the pixel data cannot be decoded as {name} ({_one_line(error)}).") from error


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())


def check_rle_segments(dataset: Dataset, path: Path) -> None:
    """An RLE frame holds one segment per byte of a sample (PS3.5 G.2): BitsAllocated must agree with the first frame's.

    A mismatch otherwise surfaces from the codec as an unrelated complaint
    (about Samples per Pixel, for example).
    """
    bits = int(dataset.BitsAllocated)
    if bits == 1:
        raise SegFileError(f"{path}: BitsAllocated (0028,0100) is 1, which RLE Lossless cannot encode (PS3.5 G.2).")
    try:
        first = next(generate_frames(dataset.PixelData, number_of_frames=int(dataset.get("NumberOfFrames", 1))))
    except (ValueError, StopIteration, EOFError) as error:
        raise SegFileError(f"{path}: the encapsulated Pixel Data (7FE0,0010) holds no readable frame ({error}).") from error
    if len(first) < 64:
        raise SegFileError(f"{path}: RLE frame 1 is {len(first)} bytes, shorter than its 64-byte header.")
    segments = int.from_bytes(first[:4], "little")
    expected = -(-bits // 8) * int(dataset.get("SamplesPerPixel", 1) or 1)
    if segments != expected:
        raise SegFileError(
            f"{path}: BitsAllocated (0028,0100) is {bits}, but RLE frame 1 holds {segments} segment(s), "
            f"which encode {8 * segments}-bit pixels: the header and the pixel encoding disagree."
        )
