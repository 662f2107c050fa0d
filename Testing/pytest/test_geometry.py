"""Placing label volumes on a reference grid: the same voxels as highdicom's own matching, or a named refusal."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pytest

from DicomManager.core.geometry.grids import match_to_grid
from DicomManager.errors import GeometryMismatchError

# An oblique grid whose axes are not in the usual order, so that permutations and flips are not trivial.
ROTATION = np.array([[0.0, 0.6, 0.8], [1.0, 0.0, 0.0], [0.0, 0.8, -0.6]])
GRID = hd.VolumeGeometry(
    affine=np.vstack([np.hstack([ROTATION * [2.5, 0.7, 0.9], [[-12.0], [30.5], [101.0]]]), [0, 0, 0, 1]]),
    spatial_shape=(9, 14, 11),
    coordinate_system="PATIENT",
    frame_of_reference_uid="1.2.3",
)


def labels_on_grid() -> np.ndarray:
    labels = np.zeros(GRID.spatial_shape, dtype=np.uint8)
    labels[2:7, 3:12, 1:9] = np.random.default_rng(3).integers(0, 4, size=(5, 9, 8))
    return labels


def part(labels: np.ndarray, box: tuple[slice, slice, slice]) -> hd.Volume:
    """``labels[box]`` as a volume of its own, where it lies on ``GRID``."""
    affine = GRID.affine.copy()
    affine[:3, 3] = GRID.affine[:3, :3] @ [s.start for s in box] + GRID.affine[:3, 3]
    return hd.Volume(np.ascontiguousarray(labels[box]), affine, "PATIENT")


@pytest.mark.parametrize("permutation", [(0, 1, 2), (2, 0, 1), (1, 2, 0), (2, 1, 0)])
@pytest.mark.parametrize("flips", [(), (0,), (1, 2), (0, 1, 2)])
def test_permuted_flipped_part_lands_where_highdicom_puts_it(permutation, flips):
    labels = labels_on_grid()
    volume = part(labels, (slice(1, 8), slice(2, 13), slice(0, 10))).permute_spatial_axes(permutation)
    volume = volume.flip_spatial(flips) if flips else volume

    matched = match_to_grid(volume, GRID, "test")

    np.testing.assert_array_equal(matched.array, labels)
    np.testing.assert_array_equal(matched.array, volume.match_geometry(GRID).array)
    assert np.allclose(matched.affine, GRID.affine)
    assert matched.frame_of_reference_uid == GRID.frame_of_reference_uid


def test_empty_margins_beyond_the_grid_are_cut_off():
    labels = labels_on_grid()
    larger = hd.Volume(labels, GRID.affine, "PATIENT").pad(((2, 3), (0, 4), (1, 0)))
    np.testing.assert_array_equal(match_to_grid(larger.flip_spatial((1,)), GRID, "test").array, labels)


def test_labels_outside_the_grid_are_counted_and_refused():
    labels = labels_on_grid()
    shifted = part(labels, (slice(2, 7), slice(3, 12), slice(1, 9)))
    affine = shifted.affine.copy()
    affine[:3, 3] -= 4 * GRID.affine[:3, 0]  # four slices before the grid's first: two labelled slices fall off
    outside = np.count_nonzero(labels[2:4])
    with pytest.raises(GeometryMismatchError, match=f"the labels: {outside} segmented voxels lie outside"):
        match_to_grid(hd.Volume(shifted.array, affine, "PATIENT"), GRID, "the labels")


def test_voxels_between_grid_points_are_refused():
    volume = part(labels_on_grid(), (slice(1, 8), slice(2, 13), slice(0, 10)))
    affine = volume.affine.copy()
    affine[:3, 3] += 0.3 * GRID.affine[:3, 2]
    with pytest.raises(GeometryMismatchError, match=r"do not sit on the reference grid's \(off by up to 0.3 voxels"):
        match_to_grid(hd.Volume(volume.array, affine, "PATIENT"), GRID, "test")
    coarse = volume.affine.copy()
    coarse[:3, 1] *= 2
    with pytest.raises(GeometryMismatchError, match="spacing along the reference's row axis is 1.4 mm"):
        match_to_grid(hd.Volume(volume.array, coarse, "PATIENT"), GRID, "test")
