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

from ..errors import GeometryMismatchError

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
    """
    if tuple(volume.spatial_shape) == tuple(grid.spatial_shape) and np.allclose(
        volume.affine, grid.affine, rtol=0, atol=INDEX_TOLERANCE * min(grid.spacing)
    ):
        return hd.Volume(volume.array, grid.affine, "PATIENT", grid.frame_of_reference_uid)  # already on the grid
    volume_axes = _axes(volume.affine)
    for axis, name in enumerate(("slice", "row", "column")):
        step = _axes(grid.affine)[axis]
        spacing = np.linalg.norm(step)
        partners = [
            other for other in volume_axes
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
    try:
        matched = volume.match_geometry(grid, tol=INDEX_TOLERANCE)
    except RuntimeError as error:
        raise GeometryMismatchError(f"{what}: its voxels do not sit on the reference grid's ({error})") from None
    if matched.spatial_shape != tuple(grid.spatial_shape):
        # highdicom (0.27, 0.28) skips the crop when the volume reaches past
        # only the far end of the grid; its start is already aligned here.
        within = tuple(slice(0, size) for size in grid.spatial_shape)
        matched = hd.Volume(matched.array[within], grid.affine, "PATIENT", grid.frame_of_reference_uid)
    lost = np.count_nonzero(volume.array) - np.count_nonzero(matched.array)
    if lost:
        raise GeometryMismatchError(f"{what}: {lost} segmented voxels lie outside the reference grid.")
    return matched


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


def _corner_positions(grid: hd.VolumeGeometry) -> np.ndarray:
    last = np.array(grid.spatial_shape) - 1
    indices = np.array([[k, j, i] for k in (0, last[0]) for j in (0, last[1]) for i in (0, last[2])])
    return grid.map_indices_to_reference(indices)


def _axes(affine: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(affine, dtype=float)[:3, axis] for axis in range(3)]
