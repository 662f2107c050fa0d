"""Moving a segmentation loaded before the volume it references onto that volume's grid once the volume arrives.

Slicer's DICOM browser loads the selected loadables one after another, in
plugin order, and runs the event loop between them (its progress callback
calls ``slicer.app.processEvents()``), so a SEG may be loaded before the CT
it was drawn on, and no "the batch is done" moment exists. The subject
hierarchy says when a volume arrives: Slicer's DICOM plugins give the
volume's item the instance UIDs it was loaded from
(``SubjectHierarchyItemUIDAddedEvent``), the signal Slicer's own
``vtkMRMLSegmentationNode::OnSubjectHierarchyUIDAdded`` uses to set a
segmentation's reference geometry. That happens in the middle of the
volume's load (``DICOMScalarVolumePlugin.setVolumeNodeProperties`` then may
reverse the slice order, and sets ``DICOM.instanceUIDs`` last), so the move
waits for the next turn of the event loop, after that load has returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import slicer
from vtkmodules.util.misc import calldata_type
from vtkmodules.util.vtkConstants import VTK_LONG, VTK_OBJECT

from ..errors import DicomLabelMapSegError
from .volume_nodes import find_volume_node_for_instances

logger = logging.getLogger(__name__)

Deferred = Callable[[Callable[[], None]], None]
"""Runs a function on the next turn of the application's event loop (in Slicer: ``qt.QTimer.singleShot(0, f)``)."""


class ReferenceVolumeWatch:
    """Waits for the volume a segmentation node references, then moves the segmentation onto it, once.

    For a SEG loaded while the volume it references is not in the scene yet:
    the result is then the same as loading the volume first.
    ``move`` puts the node's segments on the grid of the volume it is given
    (:meth:`~DicomManager.mrml.manager.MrmlDicomManager.move_onto_reference_volume`
    moves the labels decoded at load). The watch ends when the move was made or failed,
    when the segmentation node leaves the scene or the scene is closed, and
    when its segments are edited (a move would replace the edits). It keeps
    itself alive through its observers until it ends.
    """

    def __init__(
        self,
        segmentation_node: slicer.vtkMRMLSegmentationNode,
        referenced_instance_uids: Iterable[str],
        move: Callable[[slicer.vtkMRMLScalarVolumeNode], None],
        defer: Deferred,
    ) -> None:
        self._node = segmentation_node
        self._scene = segmentation_node.GetScene()
        self._referenced = frozenset(referenced_instance_uids)
        if self._scene is None or not self._referenced:
            raise ValueError("A watch needs a segmentation node in a scene and the instance UIDs it references.")
        self._move = move
        self._defer = defer
        self._hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(self._scene)
        self._observations: list[tuple[object, int]] = []
        self._observe(self._hierarchy, slicer.vtkMRMLSubjectHierarchyNode.SubjectHierarchyItemUIDAddedEvent,
                      self._on_item_uid_added)
        self._observe(self._scene, slicer.vtkMRMLScene.NodeRemovedEvent, self._on_node_removed)
        self._observe(self._scene, slicer.vtkMRMLScene.StartCloseEvent, self._on_scene_closing)
        self._observe(segmentation_node.GetSegmentation(), slicer.vtkSegmentation.SourceRepresentationModified,
                      self._on_segments_edited)

    @property
    def active(self) -> bool:
        """Whether the watch is still waiting for the referenced volume."""
        return bool(self._observations)

    def stop(self) -> None:
        """Stop waiting; nothing is moved afterwards."""
        for observed, tag in self._observations:
            observed.RemoveObserver(tag)
        self._observations.clear()

    def _observe(self, observed, event: int, callback) -> None:
        self._observations.append((observed, observed.AddObserver(event, callback)))

    @calldata_type(VTK_LONG)
    def _on_item_uid_added(self, _hierarchy, _event, item_id) -> None:
        # No item when the event was held back while the hierarchy's events were disabled: look in any case.
        if item_id is None or self._item_is_referenced_volume(item_id):
            self._defer(self._move_if_volume_loaded)

    def _item_is_referenced_volume(self, item_id: int) -> bool:
        """Whether the subject hierarchy item is a scalar volume loaded from every instance the SEG references."""
        data_node = self._hierarchy.GetItemDataNode(item_id)
        if data_node is None or not data_node.IsA("vtkMRMLScalarVolumeNode") or data_node.IsA("vtkMRMLLabelMapVolumeNode"):
            return False
        uids = self._hierarchy.GetItemUID(item_id, slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMInstanceUIDName())
        return self._referenced <= set(uids.split())

    def _move_if_volume_loaded(self) -> None:
        """Move onto the referenced volume if its load is complete (it carries ``DICOM.instanceUIDs``)."""
        if not self.active:
            return
        volume = find_volume_node_for_instances(self._scene, self._referenced)
        if volume is None:
            return  # its load failed or is not finished; a later item may still come
        self.stop()
        try:
            self._move(volume)
        except DicomLabelMapSegError as error:
            logger.warning("%s: left on its own grid: %s", self._node.GetName(), error)

    @calldata_type(VTK_OBJECT)
    def _on_node_removed(self, _scene, _event, node) -> None:
        if node is self._node:
            self.stop()

    def _on_scene_closing(self, _scene, _event) -> None:
        self.stop()

    def _on_segments_edited(self, _segmentation, _event) -> None:
        logger.info("%s: edited before its reference volume arrived; it stays on its own grid", self._node.GetName())
        self.stop()

