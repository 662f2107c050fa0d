"""Where nodes loaded from DICOM stand in the subject hierarchy: which still need a place under their study."""

from __future__ import annotations

from collections.abc import Iterable

import slicer


def nodes_outside_studies(scene: slicer.vtkMRMLScene, nodes: Iterable[slicer.vtkMRMLNode]) -> list[slicer.vtkMRMLNode]:
    """Those of ``nodes`` that no study item of ``scene``'s subject hierarchy holds, in their order, each once.

    A SEG the DICOM browser loaded is under its patient and study already;
    one loaded because a measurement report references it is not, and gets
    its place there from its DICOM file, as the browser would have given it.
    """
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    study_level = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMLevelStudy()
    outside = {}
    for node in nodes:
        item = hierarchy.GetItemByDataNode(node)
        if not item or not hierarchy.GetItemAncestorAtLevel(item, study_level):
            outside.setdefault(node.GetID(), node)
    return list(outside.values())
