"""Segmentation nodes <-> label arrays and segment metadata.

Export reads each binary-labelmap layer of the segmentation directly and
pastes it onto the reference grid: no resampling, so voxels stay exact, and a
grid that is not aligned with the reference is an error, not a silent change.
Load builds the node the way Slicer's own shared labelmaps look: one image
holding every segment, each segment's label value its DICOM segment number.

Segment metadata that Slicer has no field for (description, algorithm,
tracking identifiers) is kept in segment tags named ``DICOM.<Keyword>``, so a
loaded SEG exported again keeps it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
import slicer
from vtkmodules.vtkCommonCore import reference as vtk_reference
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from ..core.geometry.grids import match_to_grid
from ..core.reading.seg_info import SegInfo
from ..core.segments.label_layers import label_dtype, merge_label_layers, relabelled, segment_numbers, values_not_in
from ..core.segments.layered_segmentation import LayeredSegmentation
from ..core.segments.segment_metadata import SegmentMetadata
from ..core.segments.segment_tags import SEGMENT_TAG_NAMES, segment_metadata_from_tags, segment_tags
from ..core.slicer_files.seg_nrrd import BINARY_LABELMAP
from ..core.writing.export_options import SeriesAttributes
from ..errors import GeometryMismatchError, InvalidSegmentationError
from .image_arrays import array_from_image, fill_image_from_array, grid_of_image, ijk_to_ras_of_grid, matrix_to_numpy

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class NodeLayers:
    """A segmentation node's labelmap layers on a reference grid, values turned into segment numbers."""

    layers: list[np.ndarray]
    numbers: dict[str, int]  # segment ID -> segment number
    layer_of_segment: dict[int, int]  # segment number -> index in ``layers``
    names: dict[int, str]  # segment number -> segment name, for messages


def layers_from_segmentation_node(
    segmentation_node: slicer.vtkMRMLSegmentationNode, reference: hd.VolumeGeometry
) -> NodeLayers:
    """Each non-empty labelmap layer of the node on ``reference``, holding segment numbers.

    Numbers are the segments' label values when those are unique across the
    segmentation, else 1, 2, ... in segment order.
    """
    if segmentation_node.GetParentTransformNode() is not None:
        raise GeometryMismatchError(
            f"Segmentation {segmentation_node.GetName()!r} is under a transform; harden or remove it first."
        )
    segmentation = segmentation_node.GetSegmentation()
    segment_ids = list(segmentation.GetSegmentIDs())
    if not segment_ids:
        raise InvalidSegmentationError(f"Segmentation {segmentation_node.GetName()!r} has no segments.")
    if not segmentation_node.CreateBinaryLabelmapRepresentation():
        raise InvalidSegmentationError(
            f"Segmentation {segmentation_node.GetName()!r}: cannot make its binary labelmap representation."
        )
    values = [segmentation.GetSegment(segment_id).GetLabelValue() for segment_id in segment_ids]
    numbers = dict(zip(segment_ids, segment_numbers(values), strict=True))
    dtype = label_dtype(max(numbers.values()))
    layers: list[np.ndarray] = []
    layer_of_segment: dict[int, int] = {}
    for layer in range(segmentation.GetNumberOfLayers()):
        layer_ids = list(segmentation.GetSegmentIDsForLayer(layer))
        if not layer_ids:
            continue
        layer_labels = _layer_on_reference(segmentation_node, segmentation.GetSegment(layer_ids[0]), reference)
        numbers_of_values = {segmentation.GetSegment(i).GetLabelValue(): numbers[i] for i in layer_ids}
        for number in numbers_of_values.values():
            layer_of_segment[number] = len(layers)
        layers.append(relabelled(layer_labels, numbers_of_values, dtype))
    names = {number: segmentation.GetSegment(segment_id).GetName() for segment_id, number in numbers.items()}
    return NodeLayers(layers=layers, numbers=numbers, layer_of_segment=layer_of_segment, names=names)


def labels_from_segmentation_node(
    segmentation_node: slicer.vtkMRMLSegmentationNode, reference: hd.VolumeGeometry
) -> tuple[np.ndarray, dict[str, int]]:
    """All segments as one label array on ``reference``, and each segment ID's number.

    Overlapping segments (in different layers) raise
    :class:`InvalidSegmentationError` naming them.
    """
    node_layers = layers_from_segmentation_node(segmentation_node, reference)
    return merge_label_layers(node_layers.layers, node_layers.names), node_layers.numbers


def layered_segmentation_of_node(
    segmentation_node: slicer.vtkMRMLSegmentationNode, reference: hd.VolumeGeometry
) -> LayeredSegmentation:
    """The node's segments on ``reference``, as the core writers take them (see :func:`layers_from_segmentation_node`)."""
    node_layers = layers_from_segmentation_node(segmentation_node, reference)
    numbers = node_layers.numbers.items()
    segments = [segment_metadata_from_node(segmentation_node, segment_id, number) for segment_id, number in numbers]
    layers = [hd.Volume(layer, reference.affine, "PATIENT", reference.frame_of_reference_uid) for layer in node_layers.layers]
    return LayeredSegmentation(layers=layers, segments=segments, layer_of_segment=node_layers.layer_of_segment)


def segment_metadata_from_node(
    segmentation_node: slicer.vtkMRMLSegmentationNode, segment_id: str, number: int
) -> SegmentMetadata:
    """What the segment's name, colour, terminology and ``DICOM.*`` tags say."""
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    tags = {tag: value for tag in SEGMENT_TAG_NAMES if (value := _tag(segment, tag))}
    return segment_metadata_from_tags(number, segment.GetName() or segment_id, segment.GetColor(), tags)


def create_segmentation_node(
    scene: slicer.vtkMRMLScene,
    labels: hd.Volume,
    segments: Sequence[SegmentMetadata],
    name: str,
) -> slicer.vtkMRMLSegmentationNode:
    """A new segmentation node with every segment in one shared labelmap layer.

    Voxels whose value names none of ``segments`` (padding, or the background
    segment) become 0, which Slicer reads as "no segment".
    """
    return create_layered_segmentation_node(scene, LayeredSegmentation.from_labels(labels, segments), name)


def create_layered_segmentation_node(
    scene: slicer.vtkMRMLScene, segmentation: LayeredSegmentation, name: str, *, adopt_arrays: bool = False
) -> slicer.vtkMRMLSegmentationNode:
    """A new segmentation node whose segments sit in the given label layers (overlapping segments apart).

    Segments of one layer share one image, as Slicer's own shared labelmaps
    do; each segment's label value is its number. With ``adopt_arrays`` the
    node takes the layers' arrays as its own memory instead of copying them
    (for arrays made for it, such as a SEG just read).
    """
    # Segments are built before the node is added, so a bad one leaves nothing in the scene.
    built = _segments_on_layers(segmentation, adopt_arrays)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name)
    node.CreateDefaultDisplayNodes()
    _add_segments(node, built)
    return node


def replace_segments(
    segmentation_node: slicer.vtkMRMLSegmentationNode, segmentation: LayeredSegmentation, *, adopt_arrays: bool = False
) -> None:
    """Put these segments in place of the node's own, keeping the node (its ID, name and hierarchy item).

    The new segments are built first, so a bad one leaves the node as it was.
    """
    built = _segments_on_layers(segmentation, adopt_arrays)
    _remove_all_segments(segmentation_node.GetSegmentation())
    _add_segments(segmentation_node, built)


def _segments_on_layers(segmentation: LayeredSegmentation, adopt_arrays: bool) -> list[tuple[slicer.vtkSegment, str]]:
    """Each segment with its ID, sharing one image per layer; voxels of no listed segment become 0."""
    layers, segments, layer_of_segment = segmentation.layers, segmentation.segments, segmentation.layer_of_segment
    images = []
    for index, layer in enumerate(layers):
        numbers = [segment.number for segment in segments if layer_of_segment[segment.number] == index]
        array = layer.array
        owned = adopt_arrays
        if values_not_in(array, numbers):
            array = np.where(np.isin(array, numbers), array, 0).astype(array.dtype)
            owned = True
        image = slicer.vtkOrientedImageData()
        fill_image_from_array(image, array, adopt=owned)
        image.SetImageToWorldMatrix(ijk_to_ras_of_grid(layer.get_geometry()))
        images.append(image)
    return [
        (_segment_from_metadata(metadata, images[layer_of_segment[metadata.number]]), f"Segment_{metadata.number}")
        for metadata in segments
    ]


def _add_segments(segmentation_node: slicer.vtkMRMLSegmentationNode, built: list[tuple[slicer.vtkSegment, str]]) -> None:
    segmentation = segmentation_node.GetSegmentation()
    segmentation.SetSourceRepresentationName(BINARY_LABELMAP)
    for segment, segment_id in built:
        segmentation.AddSegment(segment, segment_id)


def _segment_from_metadata(metadata: SegmentMetadata, image: slicer.vtkOrientedImageData) -> slicer.vtkSegment:
    segment = slicer.vtkSegment()
    segment.SetName(metadata.label)
    segment.SetNameAutoGenerated(metadata.label_generated)
    if metadata.color is not None:
        segment.SetColor(*(component / 255.0 for component in metadata.color))
    segment.SetColorAutoGenerated(metadata.color is None)
    segment.SetLabelValue(metadata.number)
    for tag, value in segment_tags(metadata).items():
        segment.SetTag(tag, value)
    segment.AddRepresentation(BINARY_LABELMAP, image)
    return segment


def _layer_on_reference(
    segmentation_node: slicer.vtkMRMLSegmentationNode, segment: slicer.vtkSegment, reference: hd.VolumeGeometry
) -> np.ndarray:
    """The layer's voxels on the reference grid (the layer must be aligned with it)."""
    image = segment.GetRepresentation(BINARY_LABELMAP)
    extent = image.GetExtent()
    if extent[1] < extent[0] or extent[3] < extent[2] or extent[5] < extent[4]:
        return np.zeros(reference.spatial_shape, dtype=np.uint8)  # an empty layer stores no voxels
    ijk_to_ras = vtkMatrix4x4()
    image.GetImageToWorldMatrix(ijk_to_ras)
    layer = hd.Volume(array_from_image(image), grid_of_image(matrix_to_numpy(ijk_to_ras), extent).affine, "PATIENT")
    return match_to_grid(layer, reference, f"Segmentation {segmentation_node.GetName()!r}").array


def _tag(segment: slicer.vtkSegment, tag: str) -> str | None:
    value = vtk_reference("")
    return str(value) or None if segment.GetTag(tag, value) else None


SERIES_ATTRIBUTES = {
    "content_label": "DICOM.ContentLabel",
    "content_description": "DICOM.ContentDescription",
    "content_creator_name": "DICOM.ContentCreatorName",
    "clinical_trial_series_id": "DICOM.ClinicalTrialSeriesID",
    "clinical_trial_time_point_id": "DICOM.ClinicalTrialTimePointID",
    "clinical_trial_coordinating_center_name": "DICOM.ClinicalTrialCoordinatingCenterName",
}
"""Node attributes that keep a loaded SEG's series-level attributes, so that exporting it again keeps them."""


def set_series_attributes(segmentation_node: slicer.vtkMRMLSegmentationNode, info: SegInfo) -> None:
    """Keep the SEG's content and clinical trial attributes on the node (empty ones are not set)."""
    for field, attribute in SERIES_ATTRIBUTES.items():
        value = getattr(info, field)
        if value:
            segmentation_node.SetAttribute(attribute, str(value))


def series_attributes_of_node(segmentation_node: slicer.vtkMRMLSegmentationNode) -> SeriesAttributes:
    """The content and clinical trial attributes the node keeps from the SEG it was loaded from (others unset)."""
    kept = {field: segmentation_node.GetAttribute(attribute) for field, attribute in SERIES_ATTRIBUTES.items()}
    return SeriesAttributes(**{field: value for field, value in kept.items() if value})


def discard_segmentation_node(segmentation_node: slicer.vtkMRMLSegmentationNode) -> None:
    """Remove a segmentation node that is no longer needed, without Slicer's slow per-segment clean-up.

    Only for nodes about to be thrown away: their voxels are gone.
    """
    segmentation = segmentation_node.GetSegmentation()
    if segmentation is not None:
        _remove_all_segments(segmentation)
    scene = segmentation_node.GetScene()
    if scene is not None:
        scene.RemoveNode(segmentation_node)


def _remove_all_segments(segmentation: slicer.vtkSegmentation) -> None:
    """Remove every segment, emptying the shared layers first.

    Removing a segment makes Slicer erase it from its shared labelmap layer,
    one pass over the layer per segment; emptied layers make that free.
    """
    for layer in range(segmentation.GetNumberOfLayers()):
        segment_ids = list(segmentation.GetSegmentIDsForLayer(layer))
        image = segmentation.GetSegment(segment_ids[0]).GetRepresentation(BINARY_LABELMAP) if segment_ids else None
        if image is not None:
            image.Initialize()
    segmentation.RemoveAllSegments()
