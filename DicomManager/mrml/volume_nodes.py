"""Scalar volume nodes <-> source series: grids, voxels and DICOM instance UIDs.

Slicer marks a volume loaded from DICOM with the node attribute
``DICOM.instanceUIDs`` (SOP Instance UIDs separated by spaces); that is how
an export finds the source images to reference.
"""

from __future__ import annotations

from collections.abc import Iterable

import highdicom as hd
import numpy as np
import slicer
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from ..core.geometry.source_series import SourceSeries, read_series_voxels
from ..errors import GeometryMismatchError, SourceSeriesError
from .image_arrays import fill_image_from_array, grid_of_image, ijk_to_ras_of_grid, matrix_to_numpy

INSTANCE_UIDS_ATTRIBUTE = "DICOM.instanceUIDs"


def grid_of_volume_node(volume_node: slicer.vtkMRMLScalarVolumeNode) -> hd.VolumeGeometry:
    """The voxel grid of a volume node, in patient (LPS) coordinates."""
    if volume_node.GetImageData() is None:
        raise GeometryMismatchError(f"Volume {volume_node.GetName()!r} has no image data.")
    if volume_node.GetParentTransformNode() is not None:
        raise GeometryMismatchError(
            f"Volume {volume_node.GetName()!r} is under a transform; harden or remove it first."
        )
    ijk_to_ras = vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(ijk_to_ras)
    return grid_of_image(matrix_to_numpy(ijk_to_ras), volume_node.GetImageData().GetExtent())


def instance_uids_of_volume_node(volume_node: slicer.vtkMRMLScalarVolumeNode) -> list[str]:
    """The SOP Instance UIDs of the images a volume was loaded from."""
    value = volume_node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) or ""
    uids = value.split()
    if not uids:
        raise SourceSeriesError(
            f"Volume {volume_node.GetName()!r} was not loaded from DICOM (it has no "
            f"{INSTANCE_UIDS_ATTRIBUTE} attribute); make a DICOM series for it first."
        )
    return uids


def create_volume_node_from_series(
    scene: slicer.vtkMRMLScene, source: SourceSeries, name: str | None = None
) -> slicer.vtkMRMLScalarVolumeNode:
    """Load a source series' voxels into a new scalar volume node, as Slicer's DICOM loader would.

    Modality rescaling is applied; voxels are stored as 16-bit integers when
    they are whole numbers in that range (CT, MR), else as 32-bit floats.
    """
    voxels = _series_voxels(source)
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name or _series_name(source))
    image = vtkImageData()
    fill_image_from_array(image, voxels)
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(ijk_to_ras_of_grid(source.geometry))
    node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, " ".join(source.sop_instance_uids))
    node.CreateDefaultDisplayNodes()
    return node


def _series_voxels(source: SourceSeries) -> np.ndarray:
    voxels = read_series_voxels(source).array
    int16 = np.iinfo(np.int16)
    if np.array_equal(voxels, np.round(voxels)) and voxels.min() >= int16.min and voxels.max() <= int16.max:
        return voxels.astype(np.int16)
    return voxels.astype(np.float32)


def _series_name(source: SourceSeries) -> str:
    first = source.datasets[0]
    return str(first.get("SeriesDescription") or f"Series {first.get('SeriesNumber', '')}".strip())


def find_volume_node_for_instances(
    scene: slicer.vtkMRMLScene, instance_uids: Iterable[str]
) -> slicer.vtkMRMLScalarVolumeNode | None:
    """The scalar volume in ``scene`` loaded from all of ``instance_uids`` (the images a SEG references).

    When several volumes qualify, the one loaded from the fewest other images
    is taken, so a volume of exactly the referenced series wins over a larger
    one that happens to include it. None when no volume qualifies.
    """
    wanted = set(instance_uids)
    if not wanted:
        return None
    candidates = []
    for index in range(scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode")):
        node = scene.GetNthNodeByClass(index, "vtkMRMLScalarVolumeNode")
        if node.IsA("vtkMRMLLabelMapVolumeNode"):
            continue
        own = set((node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) or "").split())
        if wanted <= own:
            candidates.append((len(own - wanted), node.GetID(), node))
    return min(candidates)[2] if candidates else None
