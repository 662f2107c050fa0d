"""A scene set up as the Slicer application sets it up, for use outside Slicer.

Inside Slicer the application owns the scene and the module logics. Outside
(command line, tests on slicer-core) the Segmentations logic must be given the
scene once: that registers the segmentation converter rules and representation
factories that segmentation nodes rely on. Doing it once per process matters:
every ``SetMRMLScene`` registers the rules again.
"""

from __future__ import annotations

from dataclasses import dataclass

import slicer

from .vtk_output import vtk_output_to_logging


@dataclass(frozen=True)
class SlicerCoreSession:
    """A scene and the module logics that serve it; keep it alive as long as the scene."""

    scene: slicer.vtkMRMLScene
    segmentations_logic: slicer.vtkSlicerSegmentationsModuleLogic


def start_session() -> SlicerCoreSession:
    """Create a scene with Slicer's Segmentations logic attached, VTK's messages going to our logging."""
    vtk_output_to_logging()
    scene = slicer.vtkMRMLScene()
    segmentations_logic = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations_logic.SetMRMLScene(scene)
    return SlicerCoreSession(scene=scene, segmentations_logic=segmentations_logic)
