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


def locate_subgrid(inner: hd.VolumeGeometry, outer: hd.VolumeGeometry, what: str) -> tuple[int, int, int]:
    """Offset (slice, row, column) of grid ``inner`` inside grid ``outer``.

    ``inner`` must be aligned with ``outer`` (see :func:`grid_offset`) and lie
    inside its extent; otherwise :class:`GeometryMismatchError` says how they
    differ. ``what`` names ``inner`` in the message.
    """
    offset = np.array(grid_offset(inner, outer, what))
    end = offset + np.array(inner.spatial_shape)
    if np.any(offset < 0) or np.any(end > np.array(outer.spatial_shape)):
        raise GeometryMismatchError(
            f"{what}: voxels {offset.tolist()} to {(end - 1).tolist()} "
            f"reach outside the reference grid of shape {list(outer.spatial_shape)}."
        )
    return tuple(int(v) for v in offset)


def grid_offset(inner: hd.VolumeGeometry, outer: hd.VolumeGeometry, what: str) -> tuple[int, int, int]:
    """Index in ``outer`` of the first voxel of ``inner``, which may lie outside ``outer``.

    The grids must have the same axis directions and spacings and ``inner``'s
    voxels must sit on ``outer``'s; otherwise :class:`GeometryMismatchError`.
    """
    inner_axes, outer_axes = _axes(inner.affine), _axes(outer.affine)
    for axis, name in enumerate(("slice", "row", "column")):
        inner_step, outer_step = inner_axes[axis], outer_axes[axis]
        inner_length, outer_length = np.linalg.norm(inner_step), np.linalg.norm(outer_step)
        if np.max(np.abs(inner_step / inner_length - outer_step / outer_length)) > DIRECTION_TOLERANCE:
            raise GeometryMismatchError(
                f"{what}: the {name} direction {np.round(inner_step / inner_length, 6).tolist()} "
                f"differs from the reference's {np.round(outer_step / outer_length, 6).tolist()}."
            )
        if abs(inner_length - outer_length) > SPACING_TOLERANCE * outer_length:
            raise GeometryMismatchError(
                f"{what}: the {name} spacing {inner_length:.6g} mm differs from the "
                f"reference's {outer_length:.6g} mm."
            )
    origin_index = outer.map_reference_to_indices(np.array([inner.position]), round_output=False)[0]
    offset = np.round(origin_index)
    if np.max(np.abs(origin_index - offset)) > INDEX_TOLERANCE:
        raise GeometryMismatchError(
            f"{what}: its first voxel lies between the reference's voxels "
            f"(at index {np.round(origin_index, 3).tolist()})."
        )
    return tuple(int(v) for v in offset)


def _axes(affine: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(affine, dtype=float)[:3, axis] for axis in range(3)]
