"""What a highdicom or pydicom user holds as labels or as a reference grid, made into highdicom's types.

The writers take an ``hd.Volume`` of segment numbers and the readers an
``hd.VolumeGeometry``; a caller may hold a plain array (on the source
images' grid, or with its affine), a source series, or the folder or files of
the referenced series instead. Anything else is refused by argument name,
never with an AttributeError from deep inside.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np

from ...errors import GeometryMismatchError, InvalidSegmentationError, SourceSeriesError
from .source_series import SourceSeries, read_source_series, read_source_series_folder, reference_of_folder

LabelsGiven = hd.Volume | np.ndarray | tuple[np.ndarray, np.ndarray]
"""Labels as a caller may give them: a Volume, an array on the source grid, or an (array, affine) pair."""

ReferenceGiven = hd.VolumeGeometry | hd.Volume | SourceSeries | str | os.PathLike | Iterable[str | os.PathLike]
"""A reference grid as a caller may give it: the grid, a volume or series on it, a folder of the series, its files."""

SPATIAL_DIMENSIONS = 3
AFFINE_SHAPE = (4, 4)


def label_volume(labels: Any, source: SourceSeries, what: str = "labels") -> hd.Volume:
    """``labels`` as a Volume: an array without an affine lies on ``source``'s grid (its frame of reference either way).

    Raises
    ------
    InvalidSegmentationError
        Anything but a Volume, an (array, 4x4 affine) pair, or an array of the source grid's shape.
    """
    grid = source.geometry
    match labels:
        case hd.Volume():
            return labels
        case (array, affine):
            array, affine = np.asarray(array), np.asarray(affine, dtype=float)
            if array.ndim != SPATIAL_DIMENSIONS or affine.shape != AFFINE_SHAPE:
                raise InvalidSegmentationError(
                    f"{what}: an (array, affine) pair needs a 3D array and a 4x4 affine, not {array.shape} and {affine.shape}."
                )
            return hd.Volume(array, affine, "PATIENT", grid.frame_of_reference_uid)
        case np.ndarray():
            if labels.shape != tuple(grid.spatial_shape):
                raise GeometryMismatchError(
                    f"{what}: an array without an affine must have the source grid's shape {tuple(grid.spatial_shape)} "
                    f"(slices, rows, columns), not {labels.shape}; give a highdicom Volume or an (array, affine) pair."
                )
            return grid.with_array(labels)
    raise InvalidSegmentationError(
        f"{what}: expected a highdicom Volume, a numpy array on the source grid, or an (array, affine) pair, "
        f"not {type(labels).__name__}."
    )


def is_read_from_files(reference: Any) -> bool:
    """Whether :func:`reference_grid` reads ``reference`` from files (a folder, a file, a list of files): it holds no grid."""
    return reference is not None and not isinstance(reference, (hd.VolumeGeometry, hd.Volume, SourceSeries))


def reference_grid(reference: Any, what: str = "reference", grid: hd.VolumeGeometry | None = None) -> hd.VolumeGeometry | None:
    """The grid ``reference`` names: itself, a Volume's or series' grid, a folder's series, or a list of its files.

    ``grid``, the SEG's own, chooses among the volumes of a multi-frame image
    read from the folder or files, as :func:`source_series` chooses.

    Raises
    ------
    SourceSeriesError
        Anything else (naming ``what``), files that are not one series, or a
        multi-frame image whose volumes ``grid`` does not choose among.
    """
    if reference is None or isinstance(reference, hd.VolumeGeometry):
        return reference
    if isinstance(reference, hd.Volume):
        return reference.get_geometry()
    if isinstance(reference, SourceSeries):
        return reference.geometry
    if isinstance(reference, (str, os.PathLike)):
        path = Path(reference)
        if path.is_dir():
            return reference_of_folder(path, grid).geometry
        if path.is_file():
            return read_source_series([path], grid).geometry
        raise SourceSeriesError(f"{what}: {path} is neither a folder nor a file.")
    if isinstance(reference, Iterable) and not isinstance(reference, (bytes, np.ndarray)):
        paths = list(reference)
        if all(isinstance(path, (str, os.PathLike)) for path in paths):
            return read_source_series(paths, grid).geometry
    raise SourceSeriesError(
        f"{what}: expected a highdicom VolumeGeometry or Volume, a SourceSeries, the series' folder or its files, "
        f"not {type(reference).__name__}."
    )


def labels_grid(labels: Any) -> hd.VolumeGeometry | None:
    """The grid of labels given with their geometry (a Volume, an (array, affine) pair); None for a bare array or anything else.

    It chooses among the volumes of a multi-frame source read from its folder
    or files (see :func:`source_series`); :func:`label_volume` checks the labels.
    """
    match labels:
        case hd.Volume():
            return labels.get_geometry()
        case (array, affine) if np.ndim(array) == SPATIAL_DIMENSIONS and np.shape(affine) == AFFINE_SHAPE:
            return hd.VolumeGeometry(np.asarray(affine, dtype=float), np.shape(array), "PATIENT")
    return None


def source_series(source: Any, what: str = "source", grid: hd.VolumeGeometry | None = None) -> SourceSeries:
    """``source`` as a :class:`SourceSeries`: itself, or read from the series' folder or its files.

    ``grid``, the segmentation's, chooses among the volumes of a multi-frame
    image read from the folder or files (echoes, image types, stacks), as
    :func:`.source_series.read_source_series` chooses.

    Raises
    ------
    SourceSeriesError
        Anything else (naming ``what``), files that are not one series, or a
        multi-frame image whose volumes ``grid`` does not choose among (the
        message names them).
    """
    if isinstance(source, SourceSeries):
        return source
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        return read_source_series_folder(Path(source), grid)
    if isinstance(source, Iterable) and not isinstance(source, (str, bytes, os.PathLike)):
        paths = list(source)
        if all(isinstance(path, (str, os.PathLike)) for path in paths):
            return read_source_series(paths, grid)
    raise SourceSeriesError(
        f"{what}: expected a SourceSeries, the folder of the series or a list of its files, not {type(source).__name__}."
    )
