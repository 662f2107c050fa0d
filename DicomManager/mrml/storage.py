"""Segmentation and label volume files through Slicer's own storage nodes.

``.seg.nrrd`` files are read and written by ``vtkMRMLSegmentationStorageNode``,
so they are exactly what Slicer reads and writes; plain label volumes (``.nrrd``,
``.nii.gz``, ...) by ``vtkMRMLVolumeArchetypeStorageNode``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import highdicom as hd
import numpy as np
import slicer
from vtkmodules.vtkCommonDataModel import vtkImageData
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from ..core.geometry.grids import geometry_from_ijk_to_ras
from ..core.segments.layered_segmentation import LayeredSegmentation
from ..core.segments.segment_metadata import SegmentMetadata
from ..core.slicer_files.nrrd_header import check_nrrd_file
from ..core.slicer_files.seg_nrrd import SEGMENTATION_SUFFIX
from ..core.writing.file_output import refuse_unreported_failure, write_atomically
from ..errors import InvalidSegmentationError, LabelFileError
from .image_arrays import array_from_image, fill_image_from_array, ijk_to_ras_of_grid, matrix_to_numpy
from .segmentation_nodes import create_layered_segmentation_node


def read_segmentation_file(scene: slicer.vtkMRMLScene, path: Path) -> slicer.vtkMRMLSegmentationNode:
    """Read a ``.seg.nrrd`` file into a new segmentation node, checked first (see :mod:`...core.slicer_files.nrrd_header`)."""
    path = Path(path)
    _require_file(path)
    check_nrrd_file(path)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", path.name[: -len(SEGMENTATION_SUFFIX)])
    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(path))
    if not storage.ReadData(node):
        scene.RemoveNode(node)
        raise LabelFileError(f"{path}: Slicer cannot read it as a segmentation.")
    return node


def read_label_volume(scene: slicer.vtkMRMLScene, path: Path) -> hd.Volume:
    """Read a label volume file (values are segment numbers) as a highdicom volume."""
    path = Path(path)
    _require_file(path)
    node = slicer.vtkMRMLLabelMapVolumeNode()
    scene.AddNode(node)
    try:
        storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
        storage.SetFileName(str(path))
        storage.SetSingleFile(True)
        if not storage.ReadData(node) or node.GetImageData() is None:
            raise LabelFileError(f"{path}: Slicer cannot read it as a label volume.")
        if node.GetImageData().GetNumberOfScalarComponents() != 1:
            raise InvalidSegmentationError(f"{path}: a label volume has one value per voxel, this file has more.")
        ijk_to_ras = vtkMatrix4x4()
        node.GetIJKToRASMatrix(ijk_to_ras)
        grid = geometry_from_ijk_to_ras(matrix_to_numpy(ijk_to_ras), node.GetImageData().GetDimensions())
        return hd.Volume(array_from_image(node.GetImageData()), grid.affine, "PATIENT")
    finally:
        scene.RemoveNode(node)


def read_volume_node(scene: slicer.vtkMRMLScene, path: Path, name: str | None = None) -> slicer.vtkMRMLScalarVolumeNode:
    """Read an image volume file (.nrrd, .nii.gz, ...) into a new scalar volume node."""
    path = Path(path)
    _require_file(path)
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name or path.name.split(".")[0])
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    storage.SetSingleFile(True)
    if not storage.ReadData(node) or node.GetImageData() is None:
        scene.RemoveNode(node)
        raise LabelFileError(f"{path}: Slicer cannot read it as a volume.")
    return node


def segmentation_node_from_label_volumes(
    scene: slicer.vtkMRMLScene, volumes: Sequence[hd.Volume], segments: Sequence[SegmentMetadata] | None, name: str
) -> slicer.vtkMRMLSegmentationNode:
    """A segmentation node from label volumes, one labelmap layer each (as dcmqi takes one file per group).

    Each value present in a volume is a segment of that layer, described by
    ``segments`` when it lists that number; without ``segments`` every
    present value becomes a segment named by its number. Segments of
    different volumes may overlap; one number in two volumes is an error.
    """
    layer_of_segment: dict[int, int] = {}
    for index, labels in enumerate(volumes):
        for value in np.unique(labels.array):
            value = int(value)
            if value and value in layer_of_segment:
                raise LabelFileError(
                    f"Label value {value} appears in label volumes {layer_of_segment[value] + 1} and {index + 1}; "
                    "each segment number must come from one volume."
                )
            if value:
                layer_of_segment[value] = index
    if segments is None:
        segments = [SegmentMetadata(number=n, label=f"Segment_{n}") for n in sorted(layer_of_segment)]
    undescribed = sorted(set(layer_of_segment) - {segment.number for segment in segments})
    if undescribed:
        raise LabelFileError(f"Label values {undescribed} have no segment metadata.")
    for segment in segments:
        layer_of_segment.setdefault(segment.number, 0)  # described but absent: an empty segment
    return create_layered_segmentation_node(scene, LayeredSegmentation(volumes, segments, layer_of_segment), name)


def write_segmentation_file(
    segmentation_node: slicer.vtkMRMLSegmentationNode, path: Path, overwrite: bool = False
) -> None:
    """Write a segmentation node as a ``.seg.nrrd`` file with its segment metadata."""
    def write(temporary: Path) -> None:
        storage = slicer.vtkMRMLSegmentationStorageNode()
        storage.SetFileName(str(temporary))
        if not storage.WriteData(segmentation_node):
            raise LabelFileError(f"{path}: Slicer could not write the segmentation.")
        refuse_unreported_failure(temporary)

    write_atomically(Path(path), write, overwrite, keep_extension=True)


def write_label_volume(scene: slicer.vtkMRMLScene, labels: hd.Volume, path: Path, overwrite: bool = False) -> None:
    """Write a label array as a plain label volume file (values are segment numbers)."""
    node = slicer.vtkMRMLLabelMapVolumeNode()
    scene.AddNode(node)
    try:
        image = vtkImageData()
        fill_image_from_array(image, labels.array)
        node.SetAndObserveImageData(image)
        node.SetIJKToRASMatrix(ijk_to_ras_of_grid(labels.get_geometry()))

        def write(temporary: Path) -> None:
            storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
            storage.SetFileName(str(temporary))
            storage.SetUseCompression(True)
            if not storage.WriteData(node):
                raise LabelFileError(f"{path}: Slicer could not write the label volume.")
            refuse_unreported_failure(temporary)

        write_atomically(Path(path), write, overwrite, keep_extension=True)
    finally:
        scene.RemoveNode(node)


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file.")
