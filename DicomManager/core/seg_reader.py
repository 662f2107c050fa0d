"""LABELMAP SEG file -> label array on a grid + segment metadata.

Frames are decoded by pydicom with the fastest installed plugin and placed by
their Image Position (Patient) on the target grid: the referenced series' grid
when the caller gives it, else the SEG's own grid as highdicom works it out.
This handles frames omitted for empty slices, frames stored in any order and
segments numbered with gaps.

Voxels that no frame covers get the SEG's PixelPaddingValue, or 0 without
one, which is what dcmqi's reader produces (its expected outputs for
``sparse-labelmap-{ppv5,noppv}.dcm`` are the reference). A value that names no
segment, such as such padding, means "no segment" to Slicer.

Tiled slide-microscopy LABELMAPs are not volumes: they are read by highdicom
as one 2D plane of their total pixel matrix in the slide coordinate system.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom import Dataset
from pydicom.errors import InvalidDicomError

from ..errors import CodecUnavailableError, GeometryMismatchError, SegFileError
from .compression import preferred_decoding_plugin
from .geometry import DIRECTION_TOLERANCE, INDEX_TOLERANCE, SPACING_TOLERANCE
from .segment_metadata import SegmentMetadata, segment_metadata_from_dataset
from .sop_classes import LABELMAP_SEG_SOP_CLASS_UID

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegInfo:
    """Identifiers and series attributes of a SEG, as a browser or report shows them."""

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
    referenced_instance_uids: list[str] = field(default_factory=list)


@dataclass
class LabelMapSegmentation:
    """A SEG read back: labels per voxel on a grid, and what each label is.

    ``segments`` lists the segments with numbers above 0; a described
    background segment (number 0, as dcmqi writes) is kept apart in
    ``background``.
    """

    labels: hd.Volume
    segments: list[SegmentMetadata]
    info: SegInfo
    background: SegmentMetadata | None = None


def read_seg_header(path: Path) -> Dataset:
    """Read a SEG without pixel data and check that it is a LABELMAP SEG."""
    dataset = _read_dataset(Path(path), stop_before_pixels=True)
    _check_labelmap(dataset, Path(path))
    return dataset


def read_labelmap_seg(path: Path, reference: hd.VolumeGeometry | None = None) -> LabelMapSegmentation:
    """Read a LABELMAP SEG; with ``reference``, the labels are placed on that grid.

    Raises :class:`SegFileError` for files that are not LABELMAP SEGs or are
    broken, :class:`GeometryMismatchError` when frames do not sit on the
    reference grid, and :class:`CodecUnavailableError` when no installed
    decoder handles the transfer syntax.
    """
    path = Path(path)
    dataset = _read_dataset(path, stop_before_pixels=False)
    _check_labelmap(dataset, path)
    segments = segments_of(dataset, path)
    info = seg_info(dataset, path)
    if _is_tiled(dataset):
        if reference is not None:
            raise GeometryMismatchError(f"{path}: a tiled slide-microscopy SEG cannot be placed on a volume grid.")
        labels = _read_tiled(dataset, path)
    else:
        labels = _read_volume(dataset, path, reference)
    background = [item for item in dataset.SegmentSequence if item.get("SegmentNumber") == 0]
    return LabelMapSegmentation(
        labels=labels,
        segments=segments,
        info=info,
        background=segment_metadata_from_dataset(background[0], source=str(path)) if background else None,
    )


def _read_dataset(path: Path, stop_before_pixels: bool) -> Dataset:
    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels)
    except FileNotFoundError:
        raise SegFileError(f"{path}: no such file.") from None
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as error:
        raise SegFileError(f"{path}: not a readable DICOM file ({error}).") from None


def _check_labelmap(dataset: Dataset, path: Path) -> None:
    sop_class = dataset.get("SOPClassUID")
    segmentation_type = dataset.get("SegmentationType")
    if sop_class != LABELMAP_SEG_SOP_CLASS_UID or segmentation_type != "LABELMAP":
        raise SegFileError(
            f"{path}: not a Label Map Segmentation (SOPClassUID {sop_class}, SegmentationType "
            f"{segmentation_type}); expected {LABELMAP_SEG_SOP_CLASS_UID} and LABELMAP."
        )
    for keyword in ("SegmentSequence", "Rows", "Columns", "BitsAllocated"):
        if keyword not in dataset:
            raise SegFileError(f"{path}: the required attribute {keyword} is missing.")


def segments_of(dataset: Dataset, path: Path) -> list[SegmentMetadata]:
    """The segments a SEG describes, background segment 0 left out."""
    items = [segment_metadata_from_dataset(item, source=str(path)) for item in dataset.SegmentSequence]
    return [segment for segment in items if segment.number != 0]


def seg_info(dataset: Dataset, path: Path) -> SegInfo:
    """Identifiers and series attributes of a SEG dataset read from ``path``."""
    referenced_series = dataset.get("ReferencedSeriesSequence") or []
    series_item = referenced_series[0] if referenced_series else None
    instance_uids = [
        str(item.ReferencedSOPInstanceUID)
        for series in referenced_series
        for item in series.get("ReferencedInstanceSequence", [])
    ]
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
        referenced_series_uid=str(series_item.SeriesInstanceUID) if series_item else None,
        referenced_instance_uids=instance_uids,
    )


def _is_tiled(dataset: Dataset) -> bool:
    return "TotalPixelMatrixRows" in dataset or str(dataset.get("DimensionOrganizationType", "")).startswith("TILED")


def _read_tiled(dataset: Dataset, path: Path) -> hd.Volume:
    try:
        image = hd.seg.Segmentation.from_dataset(dataset, copy=False)
        return image.get_volume(combine_segments=True, skip_overlap_checks=True)
    except (ValueError, RuntimeError, AttributeError, KeyError) as error:
        raise SegFileError(f"{path}: cannot assemble the tiled frames ({error}).") from None


def _read_volume(dataset: Dataset, path: Path, reference: hd.VolumeGeometry | None) -> hd.Volume:
    frames = _frame_geometry(dataset, path)
    grid = reference if reference is not None else _own_grid(dataset, path)
    _check_frame_of_reference(dataset, grid, path)
    _check_in_plane_geometry(frames, grid, path)
    pixels = _decode_frames(dataset, path)
    padding = dataset.get("PixelPaddingValue")
    fill = int(padding) if padding is not None else 0
    dtype = np.uint16 if int(dataset.BitsAllocated) > 8 else np.uint8
    labels = np.full(grid.spatial_shape, fill, dtype=dtype)
    indices = grid.map_reference_to_indices(frames.positions, round_output=False)
    rounded = np.round(indices).astype(int)
    rows, columns = pixels.shape[1:]
    for frame_number, (index, exact) in enumerate(zip(rounded, indices), start=1):
        slice_index, row, column = index
        if np.max(np.abs(exact - index)) > INDEX_TOLERANCE:
            raise GeometryMismatchError(
                f"{path}: frame {frame_number} at {np.round(frames.positions[frame_number - 1], 3).tolist()} "
                "lies between the slices or voxels of the reference grid."
            )
        if (
            not 0 <= slice_index < grid.spatial_shape[0]
            or row < 0 or row + rows > grid.spatial_shape[1]
            or column < 0 or column + columns > grid.spatial_shape[2]
        ):
            raise GeometryMismatchError(
                f"{path}: frame {frame_number} at {np.round(frames.positions[frame_number - 1], 3).tolist()} "
                f"falls outside the reference grid of shape {list(grid.spatial_shape)}."
            )
        labels[slice_index, row:row + rows, column:column + columns] = pixels[frame_number - 1]
    return hd.Volume(
        array=labels,
        affine=grid.affine,
        coordinate_system="PATIENT",
        frame_of_reference_uid=dataset.get("FrameOfReferenceUID") or grid.frame_of_reference_uid,
    )


@dataclass(frozen=True)
class _FrameGeometry:
    positions: np.ndarray  # (frames, 3) Image Position (Patient) of each frame, LPS mm
    orientation: np.ndarray  # (6,) shared Image Orientation (Patient)
    pixel_spacing: np.ndarray  # (2,) row spacing, column spacing


def _frame_geometry(dataset: Dataset, path: Path) -> _FrameGeometry:
    number_of_frames = int(dataset.get("NumberOfFrames", 1))
    shared = (dataset.get("SharedFunctionalGroupsSequence") or [Dataset()])[0]
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    if len(per_frame) != number_of_frames:
        raise SegFileError(
            f"{path}: PerFrameFunctionalGroupsSequence has {len(per_frame)} items for {number_of_frames} frames."
        )

    def attribute(group: Dataset, sequence: str, keyword: str, frame_number: int) -> list[float]:
        for source in (group, shared):
            items = source.get(sequence)
            if items and keyword in items[0]:
                return [float(v) for v in items[0].get(keyword)]
        raise SegFileError(f"{path}: frame {frame_number} has no {keyword} ({sequence}).")

    positions = np.array(
        [attribute(group, "PlanePositionSequence", "ImagePositionPatient", n) for n, group in enumerate(per_frame, 1)]
    )
    orientations = np.array(
        [attribute(group, "PlaneOrientationSequence", "ImageOrientationPatient", n) for n, group in enumerate(per_frame, 1)]
    )
    spacings = np.array(
        [attribute(group, "PixelMeasuresSequence", "PixelSpacing", n) for n, group in enumerate(per_frame, 1)]
    )
    if positions.shape != (number_of_frames, 3) or orientations.shape[1:] != (6,) or spacings.shape[1:] != (2,):
        raise SegFileError(f"{path}: frame positions, orientations or pixel spacings have the wrong number of values.")
    if np.ptp(orientations, axis=0).max() > DIRECTION_TOLERANCE or np.ptp(spacings, axis=0).max() > SPACING_TOLERANCE:
        raise GeometryMismatchError(f"{path}: frames differ in orientation or pixel spacing; they do not form a volume.")
    return _FrameGeometry(positions=positions, orientation=orientations[0], pixel_spacing=spacings[0])


def _own_grid(dataset: Dataset, path: Path) -> hd.VolumeGeometry:
    try:
        geometry = hd.seg.Segmentation.from_dataset(dataset, copy=False).get_volume_geometry()
    except (ValueError, RuntimeError, AttributeError, KeyError) as error:
        raise SegFileError(f"{path}: cannot work out the frames' grid ({error}).") from None
    if geometry is None:
        raise GeometryMismatchError(
            f"{path}: the frames are not a regularly spaced volume; load it with its reference series."
        )
    return geometry


def _check_frame_of_reference(dataset: Dataset, grid: hd.VolumeGeometry, path: Path) -> None:
    seg_uid, grid_uid = dataset.get("FrameOfReferenceUID"), grid.frame_of_reference_uid
    if seg_uid and grid_uid and seg_uid != grid_uid:
        raise GeometryMismatchError(
            f"{path}: the SEG is in frame of reference {seg_uid}, the reference series in {grid_uid}."
        )


def _check_in_plane_geometry(frames: _FrameGeometry, grid: hd.VolumeGeometry, path: Path) -> None:
    """Frames must be parallel to the grid's planes, rows along rows, with the grid's pixel spacing."""
    affine = np.asarray(grid.affine, dtype=float)
    along_row, along_column = affine[:3, 2], affine[:3, 1]  # column index step, row index step
    expected = np.concatenate([along_row / np.linalg.norm(along_row), along_column / np.linalg.norm(along_column)])
    if np.max(np.abs(frames.orientation - expected)) > DIRECTION_TOLERANCE:
        raise GeometryMismatchError(
            f"{path}: frame orientation {np.round(frames.orientation, 6).tolist()} differs from the reference "
            f"grid's {np.round(expected, 6).tolist()}."
        )
    grid_spacing = np.array([np.linalg.norm(along_column), np.linalg.norm(along_row)])
    if np.max(np.abs(frames.pixel_spacing - grid_spacing) / grid_spacing) > SPACING_TOLERANCE:
        raise GeometryMismatchError(
            f"{path}: pixel spacing {frames.pixel_spacing.tolist()} differs from the reference grid's "
            f"{np.round(grid_spacing, 6).tolist()}."
        )


def _decode_frames(dataset: Dataset, path: Path) -> np.ndarray:
    """All frames as one (frames, rows, columns) array of stored values."""
    if "PixelData" not in dataset:
        raise SegFileError(f"{path}: the file has no Pixel Data.")
    plugin = preferred_decoding_plugin(dataset.file_meta.TransferSyntaxUID)
    try:
        dataset.pixel_array_options(decoding_plugin=plugin)
        pixels = dataset.pixel_array
    except (RuntimeError, NotImplementedError) as error:
        if "plugin" in str(error).lower() or "decoder" in str(error).lower():
            raise CodecUnavailableError(f"{path}: cannot decode {dataset.file_meta.TransferSyntaxUID.name} ({error}).") from None
        raise SegFileError(f"{path}: the pixel data cannot be decoded ({error}).") from None
    except (ValueError, KeyError, AttributeError, EOFError) as error:
        raise SegFileError(f"{path}: the pixel data cannot be decoded ({error}).") from None
    if pixels.ndim == 2:
        pixels = pixels[np.newaxis]
    return pixels
