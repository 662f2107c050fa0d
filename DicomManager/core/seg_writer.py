"""Label array + segment metadata + source headers -> LABELMAP SEG file.

highdicom builds the dataset (Label Map Segmentation Storage, SOP Class
1.2.840.10008.5.1.4.1.1.66.7): this module checks the input first, so that
every problem is reported in the project's terms before anything is built,
then hands highdicom the labels on the source grid (or on the part of it that
holds segments, on request) and saves the result atomically.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset

from .. import __version__
from ..errors import EncodingError, InvalidSegmentationError
from .compression import DEFAULT_COMPRESSION, Compression, ensure_encoder_available, frame_size_problem
from .deflated_file import save_deflated
from .deflated_frames import deflate_frames, save_with_deflated_frames
from .file_output import refuse_existing, write_atomically
from .geometry import match_to_grid
from .label_layers import labelled_box, values_not_in
from .library_output import copied_person_name_warnings_at_debug
from .segment_metadata import (
    MAX_SEGMENT_NUMBER,
    SegmentMetadata,
    segment_description_from_metadata,
    set_segment_algorithm,
)
from .sop_classes import SegmentationType
from .source_series import SourceSeries

logger = logging.getLogger(__name__)

MANUFACTURER = "DICOMLabelMapSeg"
ACQUISITION_EQUIPMENT_CODE_VALUE = "109101"
"""DCM code of the Purpose of Reference "Acquisition Equipment" (PS3.16 CID 7005)."""


@dataclass(frozen=True)
class SeriesAttributes:
    """Series- and content-level attributes of a SEG to be written."""

    series_description: str = "Segmentation"
    series_number: int = 300
    instance_number: int = 1
    content_label: str = "SEGMENTATION"
    content_description: str | None = None
    content_creator_name: str | None = None
    series_instance_uid: str | None = None
    sop_instance_uid: str | None = None
    clinical_trial_series_id: str | None = None
    clinical_trial_time_point_id: str | None = None
    clinical_trial_coordinating_center_name: str | None = None


@dataclass(frozen=True)
class WrittenSeg:
    """What was written: the file and the identifiers a database or report needs."""

    path: Path
    series_instance_uid: str
    sop_instance_uid: str
    bits_allocated: int
    number_of_frames: int
    segmentation_type: SegmentationType = SegmentationType.LABELMAP


def write_labelmap_seg(
    labels: hd.Volume,
    segments: Sequence[SegmentMetadata],
    source: SourceSeries,
    output_path: Path,
    *,
    compression: Compression = DEFAULT_COMPRESSION,
    series: SeriesAttributes = SeriesAttributes(),
    overwrite: bool = False,
    workers: int = 0,
    crop_to_segments: bool = False,
) -> WrittenSeg:
    """Write ``labels`` as a LABELMAP SEG that references ``source``.

    ``labels`` holds segment numbers per voxel (0 is background) on the source
    grid, on a part of it, or on it with axes flipped or swapped. Every non-zero value must be the number of one of
    ``segments``; segments that no voxel has are written as empty segments.
    ``workers`` is passed to highdicom to encode frames in parallel.

    Frames span the source images' rows and columns, as OHIF requires. With
    ``crop_to_segments`` they span only the rectangle that holds labelled
    voxels, as Slicer's ``.seg.nrrd`` does: the smallest files, which
    highdicom, dcmqi and this extension read but OHIF (cornerstone3D) does not.
    """
    output_path = Path(output_path)
    refuse_existing(output_path, overwrite)
    seg = build_labelmap_seg(
        labels, segments, source, compression=compression, series=series, workers=workers, crop_to_segments=crop_to_segments
    )
    return save_seg(seg, output_path, overwrite)


def save_seg(seg: hd.seg.Segmentation, output_path: Path, overwrite: bool = False) -> WrittenSeg:
    """Write a built SEG atomically (never replacing a file unasked) and say what was written."""
    output_path = Path(output_path)

    def write(path: Path) -> None:
        if seg.file_meta.TransferSyntaxUID == Compression.DEFLATE.transfer_syntax_uid:
            save_deflated(seg, path)
        elif seg.file_meta.TransferSyntaxUID == Compression.DEFLATE_FRAMES.transfer_syntax_uid:
            save_with_deflated_frames(seg, path)
        else:
            seg.save_as(path, enforce_file_format=True)

    write_atomically(output_path, write, overwrite)
    logger.info("Wrote %s (%s, %d frames, %s)", output_path, seg.SegmentationType, seg.NumberOfFrames,
                seg.file_meta.TransferSyntaxUID.name)
    if seg.SegmentationType == SegmentationType.LABELMAP and int(seg.BitsAllocated) > 8:
        logger.warning(
            "%s is a 16-bit LABELMAP (segment numbers above 255): OHIF keeps label maps in 8 bits, so those "
            "segments do not survive there.", output_path,
        )
    return WrittenSeg(
        path=output_path,
        series_instance_uid=str(seg.SeriesInstanceUID),
        sop_instance_uid=str(seg.SOPInstanceUID),
        bits_allocated=int(seg.BitsAllocated),
        number_of_frames=int(seg.NumberOfFrames),
        segmentation_type=SegmentationType(seg.SegmentationType),
    )


def build_labelmap_seg(
    labels: hd.Volume,
    segments: Sequence[SegmentMetadata],
    source: SourceSeries,
    *,
    compression: Compression = DEFAULT_COMPRESSION,
    series: SeriesAttributes = SeriesAttributes(),
    workers: int = 0,
    crop_to_segments: bool = False,
) -> hd.seg.Segmentation:
    """Check the input and build the SEG dataset in memory (see :func:`write_labelmap_seg`)."""
    ensure_encoder_available(compression)
    descriptions = _segment_descriptions(segments)
    numbers = [segment.number for segment in segments]
    array = _checked_label_array(labels.array, numbers)
    _check_frame_of_reference(labels, source)
    on_source_grid = match_to_grid(labels.with_array(array), source.geometry, what="The segmentation grid")
    labelled = bool(array.any())
    if crop_to_segments and labelled:
        box = _frame_box([on_source_grid.array], in_plane=True)
        cropped = on_source_grid[box].with_array(np.ascontiguousarray(on_source_grid.array[box]))
        _check_frame_size(compression, *cropped.spatial_shape[1:], cropped=True)
        pixels: np.ndarray | hd.Volume = cropped
    else:
        _check_frame_size(compression, *on_source_grid.spatial_shape[1:], cropped=False)
        pixels = _pixels_for_highdicom(on_source_grid.array, source)
    with _highdicom_refusals():
        seg = hd.seg.Segmentation(
            pixel_array=pixels,
            segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP,
            segment_descriptions=descriptions,
            # A SEG needs at least one frame: keep empty frames when all are empty.
            omit_empty_frames=labelled,
            **_common_arguments(source, series, compression, workers),
        )
    return _finish(seg, segments, compression, series)


def _check_frame_size(compression: Compression, rows: int, columns: int, cropped: bool) -> None:
    """Refuse, before anything is encoded, frames beyond the codec's limits."""
    problem = frame_size_problem(compression, rows, columns)
    if problem:
        hint = " (frames cropped to the segments; without cropping they have the source's size)" if cropped else ""
        raise EncodingError(f"The SEG cannot be written: {problem}{hint}.")


@contextmanager
def _highdicom_refusals() -> Iterator[None]:
    """highdicom's refusal of the data (a ValueError or RuntimeError from it or a codec) as an :class:`EncodingError`."""
    try:
        with copied_person_name_warnings_at_debug():
            yield
    except (ValueError, RuntimeError) as error:
        raise EncodingError(f"highdicom could not build the SEG: {error}") from error


def _pixels_for_highdicom(array: np.ndarray, source: SourceSeries) -> np.ndarray | hd.Volume:
    """The label array on the source grid in the form highdicom pairs with source images fastest.

    Slice k of the grid is image k of a single-frame series (SourceSeries
    orders them so), and highdicom pairs a plain array's planes with the
    images in that order. Given a Volume it would match every plane to an
    image by position instead: the same frames and references, later
    for 300 images. A multi-frame source keeps the Volume: its frames need not
    be in the grid's order.
    """
    if len(source.datasets) > 1:
        return array
    return hd.Volume(array, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)


def build_binary_seg(
    layers: Sequence[hd.Volume],
    layer_of_segment: dict[int, int],
    segments: Sequence[SegmentMetadata],
    source: SourceSeries,
    *,
    compression: Compression = DEFAULT_COMPRESSION,
    series: SeriesAttributes = SeriesAttributes(),
    workers: int = 0,
    crop_to_segments: bool = False,
) -> hd.seg.Segmentation:
    """Build a classic BINARY SEG of segments that may overlap, given as label layers on one grid.

    Segment ``n``'s voxels are where ``layers[layer_of_segment[n]] == n``.
    highdicom takes one mask per segment; they are built only over the
    slices that hold labelled voxels, so memory is segments x those slices.
    Frames keep the source's full rows and columns, as readers such as OHIF
    expect, unless ``crop_to_segments`` (see :func:`write_labelmap_seg`).

    A BINARY SEG numbers its segments 1, 2, 3, ... (PS3.3 C.8.20.2): other
    numbers are given those in ascending order, and the change is logged.
    """
    compression = binary_compression(compression)
    ensure_encoder_available(compression)
    _check_segment_numbers(segments)  # before renumbering, which would hide a number used twice
    numbers = sorted(segment.number for segment in segments)
    binary_number = {number: index for index, number in enumerate(numbers, start=1)}
    if any(number != new for number, new in binary_number.items()):
        logger.warning("A BINARY SEG numbers segments from 1: %s become %s", numbers, list(binary_number.values()))
    binary_segments = [replace(segment, number=binary_number[segment.number]) for segment in segments]
    on_grid = []
    for layer in layers:
        _check_frame_of_reference(layer, source)
        in_layer = [n for n in numbers if layer_of_segment[n] == len(on_grid)]
        array = _checked_label_array(layer.array, in_layer or [1])
        on_grid.append(match_to_grid(layer.with_array(array), source.geometry, what="The segmentation grid").array)
    box = _frame_box(on_grid, in_plane=crop_to_segments)
    masks = np.zeros((*[window.stop - window.start for window in box], len(numbers)), dtype=bool)
    _check_frame_size(compression, *masks.shape[1:3], cropped=crop_to_segments)
    for channel, number in enumerate(numbers):
        masks[..., channel] = on_grid[layer_of_segment[number]][box] == number
    with _highdicom_refusals():
        seg = hd.seg.Segmentation(
            pixel_array=hd.Volume(
                masks, source.geometry[box].affine, "PATIENT", source.geometry.frame_of_reference_uid,
                channels={"SegmentNumber": list(binary_number.values())},
            ),
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=_segment_descriptions(binary_segments),
            omit_empty_frames=bool(masks.any()),
            **_common_arguments(source, series, compression, workers),
        )
    return _finish(seg, binary_segments, compression, series)


def binary_compression(compression: Compression) -> Compression:
    """The transfer syntax a BINARY SEG gets when ``compression`` is asked for.

    BINARY frames are packed 1 bit per pixel; of the pixel codecs, highdicom
    encodes them only with JPEG 2000 (which dcmqi 1.5.7 cannot read). RLE and
    JPEG-LS therefore become deflate: lossless, small, and read by dcmqi,
    highdicom and OHIF.
    """
    if compression in (Compression.RLE, Compression.JPEGLS):
        logger.info("A BINARY SEG cannot use %s; writing it deflated", compression.value)
        return Compression.DEFLATE
    return compression


def _common_arguments(
    source: SourceSeries, series: SeriesAttributes, compression: Compression, workers: int
) -> dict[str, object]:
    """The highdicom Segmentation arguments that LABELMAP and BINARY SEGs share."""
    # highdicom encodes pixels with the transfer syntax; deflate is applied
    # to the whole dataset when it is saved (see .deflated_file).
    pixel_syntax = compression.transfer_syntax_uid if compression.encodes_pixels else Compression.NONE.transfer_syntax_uid
    return dict(
        source_images=source.datasets,
        series_instance_uid=series.series_instance_uid or hd.UID(),
        series_number=series.series_number,
        sop_instance_uid=series.sop_instance_uid or hd.UID(),
        instance_number=series.instance_number,
        manufacturer=MANUFACTURER,
        manufacturer_model_name=MANUFACTURER,
        software_versions=__version__,
        device_serial_number="1",
        transfer_syntax_uid=pixel_syntax,
        series_description=series.series_description,
        content_label=series.content_label,
        content_description=series.content_description,
        content_creator_name=series.content_creator_name,
        workers=workers,
    )


def _finish(
    seg: hd.seg.Segmentation, segments: Sequence[SegmentMetadata], compression: Compression, series: SeriesAttributes
) -> hd.seg.Segmentation:
    """What highdicom does not set: each segment's algorithm, clinical trial attributes, the deflate syntaxes.

    And one thing it adds that a SEG should not carry: highdicom 0.28 copies the
    source scanner (institution, address, station, serial number) into the
    Contributing Equipment Sequence. A SEG copies patient and study from its
    source and nothing else, so that item is removed; the processing-equipment
    item naming the software stays.
    """
    trial = {
        "ClinicalTrialSeriesID": series.clinical_trial_series_id,
        "ClinicalTrialTimePointID": series.clinical_trial_time_point_id,
        "ClinicalTrialCoordinatingCenterName": series.clinical_trial_coordinating_center_name,
    }
    if any(trial.values()):
        # ClinicalTrialCoordinatingCenterName is Type 2 in the Clinical Trial Series module: present, maybe empty.
        seg.ClinicalTrialCoordinatingCenterName = trial.pop("ClinicalTrialCoordinatingCenterName") or ""
        for keyword, value in trial.items():
            if value:
                setattr(seg, keyword, value)
    by_number = {segment.number: segment for segment in segments}
    for item in seg.SegmentSequence:
        if item.SegmentNumber in by_number:
            set_segment_algorithm(item, by_number[item.SegmentNumber])
    if "ContributingEquipmentSequence" in seg:
        seg.ContributingEquipmentSequence = [
            item for item in seg.ContributingEquipmentSequence if not _is_acquisition_equipment(item)
        ]
    if compression is Compression.DEFLATE:
        seg.file_meta.TransferSyntaxUID = compression.transfer_syntax_uid
    elif compression is Compression.DEFLATE_FRAMES:
        deflate_frames(seg)
    return seg


def _is_acquisition_equipment(item: Dataset) -> bool:
    purposes = item.get("PurposeOfReferenceCodeSequence", [])
    return any(code.get("CodeValue") == ACQUISITION_EQUIPMENT_CODE_VALUE and code.get("CodingSchemeDesignator") == "DCM"
               for code in purposes)


def _frame_box(arrays: Sequence[np.ndarray], in_plane: bool) -> tuple[slice, slice, slice]:
    """The window the frames cover: the labelled voxels' (see :func:`.labelled_box`), else the first slice, whole.

    A SEG needs a frame even when nothing is labelled.
    """
    return labelled_box(arrays, in_plane) or (slice(0, 1), slice(0, arrays[0].shape[1]), slice(0, arrays[0].shape[2]))


def _segment_descriptions(segments: Sequence[SegmentMetadata]) -> list[hd.seg.SegmentDescription]:
    _check_segment_numbers(segments)
    ordered = sorted(segments, key=lambda segment: segment.number)
    return [segment_description_from_metadata(segment) for segment in ordered]


def _check_segment_numbers(segments: Sequence[SegmentMetadata]) -> None:
    """Refuse a segmentation without segments, or with a segment number used twice."""
    if not segments:
        raise InvalidSegmentationError("The segmentation has no segments.")
    numbers = [segment.number for segment in segments]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise InvalidSegmentationError(f"Segment numbers {duplicates} are used by more than one segment.")


def _checked_label_array(array: np.ndarray, numbers: Sequence[int]) -> np.ndarray:
    """Return the labels as the smallest unsigned type that holds every segment number.

    Every non-zero value must be the number of a described segment.
    """
    if array.dtype.kind not in "uib":
        if array.dtype.kind != "f" or not np.array_equal(array, np.round(array)):
            raise InvalidSegmentationError(
                f"Labels must be whole numbers; the label array has type {array.dtype} "
                "with fractional values."
            )
    if array.size == 0:
        raise InvalidSegmentationError("The label array is empty.")
    if array.dtype.kind != "u":
        low = array.min()
        if low < 0:
            raise InvalidSegmentationError(f"Label values must not be negative; found {low}.")
    high = array.max()
    if high > MAX_SEGMENT_NUMBER:
        raise InvalidSegmentationError(
            f"Label value {high} is above {MAX_SEGMENT_NUMBER}, the largest segment number DICOM allows."
        )
    undescribed = values_not_in(array, numbers)
    if undescribed:
        shown = ", ".join(str(v) for v in undescribed[:10]) + (" ..." if len(undescribed) > 10 else "")
        raise InvalidSegmentationError(f"Label values {shown} have no segment metadata.")
    return array.astype(np.uint8 if max(numbers) < 256 else np.uint16, copy=False)


def _check_frame_of_reference(labels: hd.Volume, source: SourceSeries) -> None:
    source_uid = source.geometry.frame_of_reference_uid
    if labels.frame_of_reference_uid and source_uid and labels.frame_of_reference_uid != source_uid:
        raise InvalidSegmentationError(
            f"The segmentation is in frame of reference {labels.frame_of_reference_uid}, "
            f"the source series in {source_uid}."
        )
