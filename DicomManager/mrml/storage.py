"""Segmentation and image volume files through Slicer's own storage nodes.

``.seg.nrrd`` files are read and written by ``vtkMRMLSegmentationStorageNode``,
so they are exactly what Slicer reads and writes; image volumes (``.nrrd``,
``.nii.gz``, ...) are read by ``vtkMRMLVolumeArchetypeStorageNode``. Label
volumes need no Slicer: :mod:`..core.label_files` reads and writes them.
"""

from __future__ import annotations

from pathlib import Path

import slicer

from ..core.slicer_files.nrrd_header import check_nrrd_file
from ..core.slicer_files.seg_nrrd import SEGMENTATION_SUFFIX
from ..core.writing.file_output import refuse_unreported_failure, write_atomically
from ..errors import LabelFileError


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


def _require_file(path: Path) -> None:
    if not path.is_file():
        raise LabelFileError(f"{path}: no such file.")
