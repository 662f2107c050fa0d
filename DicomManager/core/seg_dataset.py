"""What every SEG reader needs from a SEG dataset read by :mod:`.seg_header`: its segments, identity and frames.

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
from pydicom import Dataset
from pydicom.encaps import generate_frames
from pydicom.errors import BytesLengthException
from pydicom.pixels import get_decoder
from pydicom.uid import UID, RLELossless

from ..errors import CodecUnavailableError, SegFileError
from .compression import DEFLATED_IMAGE_FRAME_COMPRESSION, preferred_decoding_plugin
from .deflated_frames import decode_deflated_frames, pydicom_decodes_it
from .library_output import pydicom_logs_at_debug
from .segment_metadata import SegmentMetadata, segment_metadata_from_dataset
from .sop_classes import SegmentationType


@dataclass(frozen=True)
class SegInfo:
    """Identifiers and series attributes of a SEG, as a browser or report shows them.

    The source images it references one by one are not here: listing them
    parses an item per image
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
    segmentation_type: SegmentationType = SegmentationType.LABELMAP
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


MALFORMED_CONTENT = (ValueError, struct.error, OSError, NotImplementedError, OverflowError, EOFError, zlib.error,
                     BytesLengthException, sqlite3.Error)
"""What pydicom and highdicom raise for a malformed value: pydicom converts values lazily, where they are first used.

TypeError, AttributeError, KeyError and IndexError are not here: they are
what a bug raises, and the readers check explicitly what a file can lack.
"""


@contextmanager
def malformed_content_refused(path: Path) -> Iterator[None]:
    """A malformed value that pydicom or highdicom trips over, as a :class:`SegFileError` naming the file.

    The readers' own checks name most defects; this catches the values that
    only fail when converted, with the cause chained.
    """
    try:
        yield
    except MALFORMED_CONTENT as error:
        raise SegFileError(f"{path}: malformed or unsupported content ({type(error).__name__}: {error}).") from error


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
        segmentation_type=SegmentationType(dataset.SegmentationType),  # checked by seg_header
        clinical_trial_series_id=str(dataset.get("ClinicalTrialSeriesID", "")),
        clinical_trial_time_point_id=str(dataset.get("ClinicalTrialTimePointID", "")),
        clinical_trial_coordinating_center_name=str(dataset.get("ClinicalTrialCoordinatingCenterName", "")),
    )


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
    if "PixelData" not in dataset or not dataset.PixelData:
        raise SegFileError(f"{path}: the file has no Pixel Data (7FE0,0010), or it is empty.")


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
    # Only pydicom's decoders run in these blocks, so even a TypeError or an IndexError is theirs, on this data.
    except (RuntimeError, ValueError, EOFError, TypeError, IndexError, KeyError, AttributeError) as error:
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
