"""Classic BINARY and FRACTIONAL SEG (SOP Class ...66.4) -> label layers, as Slicer's shared labelmaps hold them.

A classic SEG stores one frame per segment and slice, and segments may
overlap. The frames are read segment by segment (each frame decoded once,
never an N-segments x volume one-hot array; uncompressed ones cut to the
segment's rectangle in their packed bits) and placed by position; each
segment goes into the first layer where it overlaps nothing already there,
so segments that do not overlap share one layer and nothing is dropped.

FRACTIONAL values cannot be kept: Slicer's binary labelmap layers hold one
segment per voxel or none. A voxel belongs to a segment when its fraction is
at least 0.5 (stored value >= MaximumFractionalValue / 2); the result's notes
say so, and the loaders log them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset

from ...errors import SegFileError, quoted
from ..geometry.frame_geometry import frames_on_grid
from ..segments.label_layers import label_dtype
from ..segments.segment_metadata import SegmentMetadata
from ..segments.sop_classes import SegmentationType
from .frames import FrameReader, is_encapsulated
from .functional_groups import FunctionalGroups
from .seg_contents import SegContents
from .seg_info import background_of, seg_info, segments_of

logger = logging.getLogger(__name__)

Box = tuple[int, int, int, np.ndarray]
"""Where a segment's voxels in one frame lie: slice, first row, first column, and the mask of its rectangle."""


def read_binary_seg_dataset(
    dataset: Dataset,
    path: Path,
    reference: hd.VolumeGeometry | None,
    image_positions: Mapping[str, Sequence[float]] | None = None,
) -> SegContents:
    """Read a BINARY or FRACTIONAL SEG dataset (pixel data included) as label layers.

    ``image_positions``: the reference's images by SOP Instance UID (see
    :func:`~..geometry.frame_geometry.frames_on_grid`).
    """
    segments = segments_of(dataset, path)
    grid, indices = frames_on_grid(dataset, path, reference, image_positions)
    frames_of_segment = _frames_by_segment(dataset, {segment.number for segment in segments}, path)
    threshold, notes = inclusion_threshold(dataset, path)
    reader = FrameReader(dataset, path)
    packed = _packed_frames(dataset) if threshold == 1 else None

    def boxes_of(number: int) -> Iterator[Box | None]:
        if packed is not None:
            return (_packed_mask_in_box(indices[index], packed[index]) for index in frames_of_segment[number])
        frames = zip(frames_of_segment[number], reader.frames(frames_of_segment[number]), strict=True)
        return (mask_in_box(indices[index], frame if threshold == 1 else frame >= threshold) for index, frame in frames)

    layers, layer_of_segment = layered_segments(
        ((number, boxes_of(number)) for number in sorted(frames_of_segment)), segments, grid.spatial_shape, path
    )
    frame_of_reference_uid = dataset.get("FrameOfReferenceUID") or grid.frame_of_reference_uid
    return SegContents(
        layers=[hd.Volume(layer, grid.affine, "PATIENT", frame_of_reference_uid) for layer in layers],
        segments=segments,
        layer_of_segment=layer_of_segment,
        info=seg_info(dataset, path),
        background=background_of(dataset, path),
        notes=notes,
    )


def layered_segments(
    boxes_of_segments: Iterable[tuple[int, Iterable[Box | None]]],
    segments: Sequence[SegmentMetadata],
    shape: tuple[int, int, int],
    path: Path,
) -> tuple[list[np.ndarray], dict[int, int]]:
    """Label layers of ``shape`` holding each segment's boxes, in the first layer where they overlap nothing.

    ``boxes_of_segments`` gives each segment number with its voxels as boxes
    (None for a frame without any); a segment of ``segments`` that it leaves
    out is empty, in layer 0.
    """
    dtype = label_dtype(max((segment.number for segment in segments), default=0))
    layers: list[np.ndarray] = []
    layer_of_segment: dict[int, int] = {}
    for number, boxes in boxes_of_segments:
        placed = [box for box in boxes if box is not None]
        layer = _first_free_layer(layers, placed)
        if layer == len(layers):
            layers.append(np.zeros(shape, dtype=dtype))
        for slice_index, row, column, mask in placed:
            layers[layer][slice_index, row:row + mask.shape[0], column:column + mask.shape[1]][mask] = number
        layer_of_segment[number] = layer
    if not layers:
        layers.append(np.zeros(shape, dtype=dtype))
    for segment in segments:
        layer_of_segment.setdefault(segment.number, 0)  # a segment without frames is empty
    if len(layers) > 1:
        logger.info("%s: overlapping segments are kept in %d layers", path, len(layers))
    return layers, layer_of_segment


def _frames_by_segment(dataset: Dataset, numbers: set[int], path: Path) -> dict[int, list[int]]:
    """0-based frame indices of each segment, from each frame's Segment Identification, its own or shared."""
    groups = FunctionalGroups(dataset, path)
    by_segment: dict[int, list[int]] = defaultdict(list)
    for index in range(groups.number_of_frames):
        identification = groups.required_item(index, "SegmentIdentificationSequence")
        value = identification.get("ReferencedSegmentNumber")
        try:
            number = int(value)
        except (TypeError, ValueError) as error:
            raise SegFileError(
                f"{path}: frame {index + 1}: ReferencedSegmentNumber (0062,000B) is {quoted(value)}, not a segment number."
            ) from error
        if number not in numbers:
            raise SegFileError(f"{path}: frame {index + 1} belongs to segment {number}, which SegmentSequence does not describe.")
        by_segment[number].append(index)
    return by_segment


def inclusion_threshold(dataset: Dataset, path: Path) -> tuple[int, list[str]]:
    """The smallest stored value that puts a voxel in the segment, and a note when values are thresholded."""
    if dataset.SegmentationType == SegmentationType.BINARY:
        return 1, []
    maximum = int(dataset.get("MaximumFractionalValue") or 0)
    if maximum <= 0:
        raise SegFileError(f"{path}: a FRACTIONAL SEG without a positive MaximumFractionalValue (0062,000E).")
    kind = str(dataset.get("SegmentationFractionalType", "PROBABILITY")).lower()
    note = (
        f"{kind} values (0..{maximum}) were thresholded at 0.5: a voxel belongs to a segment when its stored "
        f"value is at least {(maximum + 1) // 2}"
    )
    return (maximum + 1) // 2, [note]  # the callers log the notes


def mask_in_box(place: tuple[int, int, int], frame: np.ndarray) -> Box | None:
    """(slice, first row, first column, mask) cut to the rectangle around the frame's voxels; None when it has none.

    ``frame`` holds 0 outside the segment (a BINARY frame's 0/1 values, or a
    thresholded FRACTIONAL one). A segment covers a small part of most of its
    frames: the rows in use are found first, the columns only within them, and
    only that rectangle is checked and placed.
    """
    rows_used = np.flatnonzero(frame.any(axis=1))
    if rows_used.size == 0:
        return None
    band = frame[rows_used[0]:rows_used[-1] + 1]
    columns_used = np.flatnonzero(band.any(axis=0))
    slice_index, row, column = place
    mask = band[:, columns_used[0]:columns_used[-1] + 1] != 0
    return slice_index, row + int(rows_used[0]), column + int(columns_used[0]), mask


def _packed_frames(dataset: Dataset) -> np.ndarray | None:
    """The frames of an uncompressed little endian BINARY SEG as (frames, rows, columns / 8) bytes of 8 pixels each.

    A view of the Pixel Data, no copy. Most of a classic SEG's frame is
    empty: finding the rectangle a segment covers in the packed bits reads an
    eighth of the bytes that decoding each frame to one byte per pixel first
    writes and then reads. Only
    when every row starts on a byte (columns a multiple of 8); None otherwise,
    and for encapsulated pixel data, which is decoded frame by frame.
    """
    syntax = dataset.file_meta.TransferSyntaxUID
    rows, columns, frames = int(dataset.Rows), int(dataset.Columns), int(dataset.get("NumberOfFrames", 1))
    if int(dataset.BitsAllocated) != 1 or is_encapsulated(syntax) or not syntax.is_little_endian or columns % 8:
        return None
    pixel_data = dataset.PixelData
    if len(pixel_data) < frames * rows * columns // 8:
        return None  # too short: the decoder names the problem
    return np.frombuffer(pixel_data, dtype=np.uint8, count=frames * rows * columns // 8).reshape(frames, rows, columns // 8)


def _packed_mask_in_box(place: tuple[int, int, int], packed: np.ndarray) -> Box | None:
    """As :func:`mask_in_box`, from a frame's packed bits (DICOM packs the first pixel in the lowest bit)."""
    rows_used = np.flatnonzero(packed.any(axis=1))
    if rows_used.size == 0:
        return None
    band = packed[rows_used[0]:rows_used[-1] + 1]
    bytes_used = np.flatnonzero(band.any(axis=0))
    bits = np.unpackbits(band[:, bytes_used[0]:bytes_used[-1] + 1], axis=1, bitorder="little")
    columns_used = np.flatnonzero(bits.any(axis=0))
    slice_index, row, column = place
    mask = bits[:, columns_used[0]:columns_used[-1] + 1].view(bool)
    return slice_index, row + int(rows_used[0]), column + 8 * int(bytes_used[0]) + int(columns_used[0]), mask


def _first_free_layer(layers: list[np.ndarray], placed: list[Box]) -> int:
    """The first layer in which the segment's voxels are all still free (len(layers) if none is)."""
    for number, layer in enumerate(layers):
        if not any(
            layer[slice_index, row:row + mask.shape[0], column:column + mask.shape[1]][mask].any()
            for slice_index, row, column, mask in placed
        ):
            return number
    return len(layers)
