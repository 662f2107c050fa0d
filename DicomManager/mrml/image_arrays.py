"""VTK image data <-> numpy arrays and highdicom grids.

VTK keeps voxels with I (column) fastest, so the flat scalar buffer reshaped
to (K, J, I) is exactly the (slice, row, column) array highdicom uses. The
IJK-to-RAS matrix of an image whose extent does not start at 0 is shifted so
that the grid starts at the first stored voxel.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
from vtkmodules.util import numpy_support
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from ..core.geometry.grids import geometry_from_ijk_to_ras, ijk_to_ras_from_affine


def matrix_to_numpy(matrix: vtkMatrix4x4) -> np.ndarray:
    return np.array([[matrix.GetElement(row, column) for column in range(4)] for row in range(4)])


def numpy_to_matrix(array: np.ndarray) -> vtkMatrix4x4:
    matrix = vtkMatrix4x4()
    for row in range(4):
        for column in range(4):
            matrix.SetElement(row, column, float(array[row][column]))
    return matrix


def array_from_image(image: vtkImageData) -> np.ndarray:
    """The voxels of a single-component image as a (K, J, I) array (a copy)."""
    dimensions = image.GetDimensions()
    scalars = numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())
    return scalars.reshape(dimensions[::-1]).copy()


def fill_image_from_array(image: vtkImageData, array: np.ndarray, *, adopt: bool = False) -> None:
    """Give ``image`` the extent and voxels of the (K, J, I) ``array``.

    The voxels are copied once at most: the image keeps the memory of a
    contiguous copy made here, and with ``adopt`` that of ``array`` itself (an
    array the caller gives up and never changes), which saves a copy of the
    whole volume when a SEG is loaded. VTK keeps the numpy memory alive as long
    as the image's scalars live.
    """
    slices, rows, columns = array.shape
    image.SetExtent(0, columns - 1, 0, rows - 1, 0, slices - 1)
    flat = np.ascontiguousarray(array).ravel()
    keep = adopt or not np.may_share_memory(flat, array)
    scalars = numpy_support.numpy_to_vtk(flat, deep=not keep)
    image.GetPointData().SetScalars(scalars)


def grid_of_image(
    ijk_to_ras: np.ndarray, extent: tuple[int, ...], frame_of_reference_uid: str | None = None
) -> hd.VolumeGeometry:
    """The grid of the voxels an image stores, given its IJK-to-RAS matrix and extent."""
    start = np.array([extent[0], extent[2], extent[4], 1.0])
    shifted = np.array(ijk_to_ras, dtype=float)
    shifted[:, 3] = shifted @ start
    dimensions = (extent[1] - extent[0] + 1, extent[3] - extent[2] + 1, extent[5] - extent[4] + 1)
    return geometry_from_ijk_to_ras(shifted, dimensions, frame_of_reference_uid)


def ijk_to_ras_of_grid(grid: hd.VolumeGeometry) -> vtkMatrix4x4:
    """Slicer's IJK-to-RAS matrix of a highdicom grid."""
    return numpy_to_matrix(ijk_to_ras_from_affine(grid.affine))
