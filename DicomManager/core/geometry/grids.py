"""Voxel grids in patient space: conversions and alignment checks.

Grids are highdicom :class:`~highdicom.VolumeGeometry` objects: a 4x4 affine
that maps array indices (slice, row, column) to DICOM patient coordinates
(LPS, millimetres), and a spatial shape. Slicer describes the same grid with
an IJK-to-RAS matrix whose I is the column and K the slice; the two
conversions here are the only place that difference is handled.
"""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd
import numpy as np

from ...errors import GeometryMismatchError

# Tolerances for deciding that two grids are the same. DICOM stores positions
# as decimal strings of at most 16 characters, so exact equality is not a test.
DIRECTION_TOLERANCE = 1e-4
"""Largest difference between unit direction vectors taken as parallel."""
SPACING_TOLERANCE = 1e-4
"""Largest relative difference between spacings taken as equal."""
INDEX_TOLERANCE = 1e-2
"""Largest distance from a whole voxel index, in voxels, taken as on the grid."""

_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
# Swaps (I, J, K) = (column, row, slice) with (slice, row, column).
_SWAP_IJK = np.array(
    [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float
)


def affine_from_ijk_to_ras(ijk_to_ras: np.ndarray) -> np.ndarray:
    """Slicer's IJK-to-RAS matrix -> affine from (slice, row, column) to LPS."""
    return _LPS_FROM_RAS @ np.asarray(ijk_to_ras, dtype=float) @ _SWAP_IJK


def ijk_to_ras_from_affine(affine: np.ndarray) -> np.ndarray:
    """Affine from (slice, row, column) to LPS -> Slicer's IJK-to-RAS matrix."""
    return _LPS_FROM_RAS @ np.asarray(affine, dtype=float) @ _SWAP_IJK


def geometry_from_ijk_to_ras(
    ijk_to_ras: np.ndarray,
    dimensions_ijk: Sequence[int],
    frame_of_reference_uid: str | None = None,
) -> hd.VolumeGeometry:
    """A highdicom grid from Slicer's IJK-to-RAS matrix and (I, J, K) dimensions."""
    columns, rows, slices = (int(d) for d in dimensions_ijk)
    return hd.VolumeGeometry(
        affine=affine_from_ijk_to_ras(ijk_to_ras),
        spatial_shape=(slices, rows, columns),
        coordinate_system="PATIENT",
        frame_of_reference_uid=frame_of_reference_uid,
    )


def match_to_grid(volume: hd.Volume, grid: hd.VolumeGeometry, what: str) -> hd.Volume:
    """``volume``'s voxels on ``grid``, by permuting, flipping, padding and cropping; never resampled.

    The grids must have parallel axes with equal spacings and ``volume``'s
    voxels must sit on ``grid``'s; non-zero voxels must not fall outside
    ``grid``. Otherwise :class:`GeometryMismatchError` says how they differ;
    ``what`` names ``volume`` in the message.

    The voxels are copied into a zeroed array of ``grid``'s shape, so only the
    part ``volume`` covers is written: a ``.seg.nrrd`` cropped to its segments
    is placed on a 512x512x300 grid in a few milliseconds, where padding it
    (highdicom's ``match_geometry``) fills every voxel.
    """
    if tuple(volume.spatial_shape) == tuple(grid.spatial_shape) and np.allclose(
        volume.affine, grid.affine, rtol=0, atol=INDEX_TOLERANCE * min(grid.spacing)
    ):
        return hd.Volume(volume.array, grid.affine, "PATIENT", grid.frame_of_reference_uid)  # already on the grid
    _check_parallel_axes(volume.affine, grid.affine, what)
    # Row g of the map's linear part is grid axis g in volume steps: after the
    # check above, one entry of each row is +1 or -1 and the others are 0.
    grid_index_of_volume_index = np.linalg.solve(grid.affine, volume.affine)
    corners = grid_index_of_volume_index @ _corner_indices(volume.spatial_shape).T
    off_grid = np.abs(corners[:3] - np.round(corners[:3])).max()
    if off_grid > INDEX_TOLERANCE:
        raise GeometryMismatchError(
            f"{what}: its voxels do not sit on the reference grid's (off by up to {off_grid:.3g} voxels)."
        )
    steps = np.round(grid_index_of_volume_index[:3, :3]).astype(int)
    volume_axis = [int(np.flatnonzero(row)[0]) for row in steps]
    array = volume.array.transpose(volume_axis)
    reversed_axes = tuple(axis for axis in range(3) if steps[axis, volume_axis[axis]] < 0)
    array = np.flip(array, reversed_axes) if reversed_axes else array
    first = np.round(corners[:3].min(axis=1)).astype(int)  # grid index of array[0, 0, 0]
    spans = zip(first, array.shape, grid.spatial_shape, strict=True)
    inside = [(max(start, 0), min(start + size, limit)) for start, size, limit in spans]
    matched = np.zeros(grid.spatial_shape, dtype=array.dtype)
    if all(low < high for low, high in inside):
        matched[tuple(slice(low, high) for low, high in inside)] = array[
            tuple(slice(low - start, high - start) for (low, high), start in zip(inside, first, strict=True))
        ]
    clipped = any(
        low != start or high != start + size for (low, high), start, size in zip(inside, first, array.shape, strict=True)
    )
    if clipped:
        lost = np.count_nonzero(volume.array) - np.count_nonzero(matched)
        if lost:
            raise GeometryMismatchError(f"{what}: {lost} segmented voxels lie outside the reference grid.")
    return hd.Volume(matched, grid.affine, "PATIENT", grid.frame_of_reference_uid)


def _check_parallel_axes(affine: np.ndarray, reference: np.ndarray, what: str) -> None:
    """Raise :class:`GeometryMismatchError` unless each ``reference`` axis has a parallel axis of equal spacing."""
    axes = _axes(affine)
    for axis, name in enumerate(("slice", "row", "column")):
        step = _axes(reference)[axis]
        spacing = np.linalg.norm(step)
        partners = [
            other for other in axes
            if abs(abs(np.dot(other, step)) / (np.linalg.norm(other) * spacing) - 1.0) < DIRECTION_TOLERANCE
        ]
        if not partners:
            raise GeometryMismatchError(
                f"{what}: no axis runs along the reference's {name} direction "
                f"{np.round(step / spacing, 6).tolist()}."
            )
        if abs(np.linalg.norm(partners[0]) - spacing) > SPACING_TOLERANCE * spacing:
            raise GeometryMismatchError(
                f"{what}: the spacing along the reference's {name} axis is "
                f"{np.linalg.norm(partners[0]):.6g} mm, the reference's {spacing:.6g} mm."
            )


def check_same_voxel_grid(grid: hd.VolumeGeometry, reference: hd.VolumeGeometry, what: str) -> None:
    """Raise :class:`GeometryMismatchError` unless both grids hold the same voxel centres.

    The axes may be ordered or directed differently (Slicer and highdicom
    order DICOM slices in opposite directions). Two such grids are the same
    when their shapes match up to order and their eight corner voxels coincide.
    """
    if sorted(grid.spatial_shape) != sorted(reference.spatial_shape):
        raise GeometryMismatchError(
            f"{what} has shape {list(grid.spatial_shape)}, the reference {list(reference.spatial_shape)}."
        )
    corners, reference_corners = _corner_positions(grid), _corner_positions(reference)
    tolerance = INDEX_TOLERANCE * min(np.linalg.norm(axis) for axis in _axes(reference.affine))
    distances = np.linalg.norm(corners[:, None, :] - reference_corners[None, :, :], axis=2)
    if np.max(np.min(distances, axis=1)) > tolerance:
        raise GeometryMismatchError(
            f"{what}: its corner voxels do not coincide with the reference's "
            f"(off by up to {np.max(np.min(distances, axis=1)):.4g} mm)."
        )


def holds_grid(reference: hd.VolumeGeometry, grid: hd.VolumeGeometry) -> bool:
    """Whether every voxel centre of ``grid`` is one of ``reference``'s: parallel axes, equal spacings, inside it.

    A ``.seg.nrrd`` cropped to its segments lies in this way within the grid
    of the images it was drawn on.
    """
    index_of_grid_index = np.linalg.solve(reference.affine, grid.affine)
    steps = index_of_grid_index[:3, :3]
    unit_steps = np.round(steps)
    if np.abs(steps - unit_steps).max() > INDEX_TOLERANCE:
        return False
    magnitudes = np.abs(unit_steps)
    if not (np.isin(magnitudes, (0, 1)).all() and (magnitudes.sum(axis=0) == 1).all() and (magnitudes.sum(axis=1) == 1).all()):
        return False
    corners = (index_of_grid_index @ _corner_indices(grid.spatial_shape).T)[:3]
    if np.abs(corners - np.round(corners)).max() > INDEX_TOLERANCE:
        return False
    last = np.array(reference.spatial_shape[:3])[:, None] - 1
    return bool((np.round(corners) >= 0).all() and (np.round(corners) <= last).all())


def _corner_positions(grid: hd.VolumeGeometry) -> np.ndarray:
    return grid.map_indices_to_reference(_corner_indices(grid.spatial_shape)[:, :3].astype(int))


def _corner_indices(shape: Sequence[int]) -> np.ndarray:
    """The (slice, row, column, 1) indices of the eight corner voxels of a grid of ``shape``."""
    last = np.array(shape[:3]) - 1
    return np.array([[k, j, i, 1] for k in (0, last[0]) for j in (0, last[1]) for i in (0, last[2])], dtype=float)


def _axes(affine: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(affine, dtype=float)[:3, axis] for axis in range(3)]
