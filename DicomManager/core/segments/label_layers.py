"""Label layers: label arrays on one grid whose values are segment numbers, overlapping segments in different layers.

This is how Slicer holds a segmentation (shared labelmap layers) and how
:mod:`..reading.seg_reader` returns a classic SEG; merging layers into the one array a
LABELMAP SEG needs is possible only when no voxel is claimed twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ...errors import InvalidSegmentationError
from .segment_metadata import MAX_SEGMENT_NUMBER

logger = logging.getLogger(__name__)

_SLAB_VOXELS = 1 << 22
"""Voxels :func:`label_values` looks at in one step (4 Mi: a few megabytes of temporaries)."""


def label_dtype(max_number: int) -> type[np.unsignedinteger]:
    """The smallest unsigned type that holds segment numbers up to ``max_number``: 8 bits, else 16."""
    return np.uint8 if max_number <= np.iinfo(np.uint8).max else np.uint16


def label_values(array: np.ndarray) -> np.ndarray:
    """The distinct non-zero values in a label array, ascending.

    Only the non-zero voxels are counted: ``np.bincount`` over the whole
    array would first widen every voxel to 64 bits, and most voxels of an
    organ segmentation are background. The array is walked in slabs of
    whole slices, so that the mask and the widened values stay a few
    megabytes, memory the process reuses, rather than temporaries of the
    array's size that a fresh process pays for page by page.
    """
    array = np.atleast_1d(array)
    values: set[int] = set()
    slices_per_slab = max(1, _SLAB_VOXELS // max(1, array[0].size))
    for start in range(0, array.shape[0], slices_per_slab):
        slab = array[start : start + slices_per_slab]
        labelled = slab[slab != 0]
        if labelled.size == 0:
            continue
        if labelled.dtype.kind in "ub":
            values.update(np.flatnonzero(np.bincount(labelled.astype(np.int64, copy=False))).tolist())
        else:
            values.update(np.unique(labelled).tolist())
    return np.array(sorted(values), dtype=np.uint8 if array.dtype.kind == "b" else array.dtype)


def values_not_in(array: np.ndarray, numbers: Iterable[int]) -> list[int]:
    """The non-zero values of ``array`` that are not among ``numbers``, ascending.

    When every value from 1 to the array's largest is a number (segments
    numbered 1..N, the usual case), one pass for the maximum answers it.
    """
    allowed = set(numbers)
    high = int(array.max()) if array.size else 0
    if high == 0 or (high <= MAX_SEGMENT_NUMBER and all(value in allowed for value in range(1, high + 1))):
        return []
    return [int(value) for value in label_values(array) if int(value) not in allowed]


def segment_numbers(label_values: Sequence[int]) -> list[int]:
    """The DICOM segment numbers of Slicer segments with these label values, in the same order.

    The label values themselves when they are unique and fit a segment
    number (1..65535), the usual case; else 1, 2, ... in segment order (a
    segmentation whose layers each use label value 1, for instance).
    """
    values = list(label_values)
    if len(set(values)) == len(values) and min(values) >= 1 and max(values) <= MAX_SEGMENT_NUMBER:
        return values
    logger.info("Label values are not unique across layers; numbering segments 1..%d in order", len(values))
    return list(range(1, len(values) + 1))


def relabelled(layer: np.ndarray, numbers_of_values: Mapping[int, int], dtype: np.dtype) -> np.ndarray:
    """``layer`` with each label value replaced by its segment number, as ``dtype``.

    The layer itself when its values are the numbers already (the usual case):
    Slicer keeps only its segments' values in a layer, and the writer refuses
    any other value it finds. Else one lookup maps every voxel in one pass,
    values of no segment becoming 0.
    """
    if all(value == number for value, number in numbers_of_values.items()) and layer.dtype == dtype:
        return layer
    present = label_values(layer)
    lookup = np.zeros(max(int(present[-1]) if present.size else 0, max(numbers_of_values)) + 1, dtype=dtype)
    for value, number in numbers_of_values.items():
        if 0 <= value < lookup.size:
            lookup[value] = number
    return lookup[layer]


def merge_finding_overlaps(layers: Sequence[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """All layers merged into one label array, and every overlapping pair found on the way.

    The overlaps are (segment number, segment number, shared voxels); where
    there are any, later layers win in the merged array. One layer is
    returned as it is.
    """
    if len(layers) == 1:
        return layers[0], []
    found: dict[tuple[int, int], int] = {}
    merged = layers[0].copy()
    for mapped in layers[1:]:
        both = (merged != 0) & (mapped != 0)
        if both.any():
            pairs, counts = np.unique(np.stack([merged[both], mapped[both]]), axis=1, return_counts=True)
            for (first, second), count in zip(pairs.T, counts, strict=True):
                key = (int(first), int(second))
                found[key] = found.get(key, 0) + int(count)
        np.copyto(merged, mapped, where=mapped != 0)
    return merged, [(first, second, count) for (first, second), count in sorted(found.items())]


def merge_label_layers(layers: Sequence[np.ndarray], names: Mapping[int, str]) -> np.ndarray:
    """All layers as one label array; :class:`InvalidSegmentationError` naming every overlapping pair."""
    merged, overlaps = merge_finding_overlaps(layers)
    if overlaps:
        raise InvalidSegmentationError(describe_overlaps(overlaps, names))
    return merged


def describe_overlaps(overlaps: Sequence[tuple[int, int, int]], names: Mapping[int, str]) -> str:
    """The message for overlapping segments: which, by name and number, and how many voxels."""
    listed = ", ".join(
        f"{names.get(first, first)!r} ({first}) and {names.get(second, second)!r} ({second}): {count} voxels"
        for first, second, count in overlaps
    )
    return (
        f"Segments overlap: {listed}. A LABELMAP SEG holds one segment per voxel; "
        "export with the overlap policy binary or layers to keep them all."
    )


def labelled_box(arrays: Sequence[np.ndarray], in_plane: bool = True) -> tuple[slice, slice, slice] | None:
    """The smallest (slices, rows, columns) window holding every labelled voxel of ``arrays``, which share one grid.

    Rows and columns are whole unless ``in_plane``. None when no voxel is labelled.
    """
    in_plane_labelled = np.logical_or.reduce([array.any(axis=0) for array in arrays])
    if not in_plane_labelled.any():
        return None
    slices = np.logical_or.reduce([array.any(axis=(1, 2)) for array in arrays])
    rows = in_plane_labelled.any(axis=1) if in_plane else np.ones(in_plane_labelled.shape[0], dtype=bool)
    columns = in_plane_labelled.any(axis=0) if in_plane else np.ones(in_plane_labelled.shape[1], dtype=bool)
    return _span(slices), _span(rows), _span(columns)


def _span(present: np.ndarray) -> slice:
    """The indices from the first to the last true value of ``present`` (which has one)."""
    indices = np.flatnonzero(present)
    return slice(int(indices[0]), int(indices[-1]) + 1)
