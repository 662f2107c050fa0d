"""Classic BINARY and FRACTIONAL SEGs (SOP Class ...66.4) from dcmqi and highdicom: loaded, compared voxel for voxel.

dcmqi's ``segimage2itkimage`` (without ``--mergeSegments``) writes one
volume per segment, which is what overlapping segments need; highdicom's
``get_volume`` is the second independent reader where it builds a volume.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import on_grid, read_segments_with_dcmqi, shared_data

from DicomManager import read_seg, read_source_series_folder
from DicomManager.core.label_files.label_volume_files import read_label_volume
from DicomManager.errors import GeometryMismatchError
from DicomManager.mrml.segmentation_nodes import BINARY_LABELMAP

CLASSIC_SEGS = [
    "dcmqi/liver.dcm",
    "dcmqi/partial_overlaps.dcm",
    "dcmqi/23x38x3/seg/label.seg",
    "dcmqi/24x38x3/seg/label.seg",
    "highdicom/seg_image_ct_binary.dcm",
    "highdicom/seg_image_ct_binary_fractional.dcm",
    "highdicom/seg_image_ct_binary_overlap.dcm",
    "highdicom/seg_image_ct_binary_single_frame.dcm",
    "highdicom/seg_image_ct_true_fractional.dcm",
]


def segment_masks(result) -> dict[int, np.ndarray]:
    """Each segment's voxels, from the layer it was put in."""
    return {n: result.layers[layer].array == n for n, layer in result.layer_of_segment.items()}


@pytest.mark.parametrize("name", CLASSIC_SEGS)
def test_classic_seg_matches_dcmqi_segment_by_segment(name, tmp_path, scene):
    path = shared_data(name)
    result = read_seg(path)
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    fractional = dataset.SegmentationType == "FRACTIONAL"
    threshold = (int(dataset.get("MaximumFractionalValue", 1)) + 1) // 2 if fractional else 1
    grid = result.layers[0].get_geometry()
    masks = segment_masks(result)
    theirs = read_segments_with_dcmqi(path, tmp_path, scene)
    assert sorted(masks) == sorted(theirs) == [s.number for s in result.segments]
    for number, volume in theirs.items():
        np.testing.assert_array_equal(masks[number], on_grid(volume, grid) >= threshold, err_msg=f"segment {number}")
    assert bool(result.notes) == fractional


@pytest.mark.parametrize("name", [n for n in CLASSIC_SEGS if "overlap.dcm" not in n])
def test_classic_seg_matches_highdicom(name):
    path = shared_data(name)
    result = read_seg(path)
    seg = hd.seg.segread(path)
    volume = seg.get_volume(combine_segments=False, rescale_fractional=False)
    grid = result.layers[0].get_geometry()
    masks = segment_masks(result)
    threshold = (int(seg.get("MaximumFractionalValue", 1)) + 1) // 2 if seg.SegmentationType == "FRACTIONAL" else 1
    for channel, number in enumerate(volume.get_channel_values(volume.channel_descriptors[0])):
        theirs = hd.Volume(volume.array[..., channel], volume.affine, "PATIENT").match_geometry(grid).array
        np.testing.assert_array_equal(masks[int(number)], theirs >= threshold, err_msg=f"segment {number}")


def test_overlapping_segments_go_to_separate_layers_and_keep_every_voxel():
    result = read_seg(shared_data("dcmqi/partial_overlaps.dcm"))
    assert len(result.layers) > 1
    assert len(set(result.layer_of_segment.values())) == len(result.layers)
    masks = segment_masks(result)
    for layer_index in range(len(result.layers)):
        in_layer = [n for n, i in result.layer_of_segment.items() if i == layer_index]
        together = sum(masks[n].astype(int) for n in in_layer)
        assert together.max() <= 1, f"segments {in_layer} overlap inside layer {layer_index}"
    # The segments do overlap: one layer could not hold them.
    stacked = sum(mask.astype(int) for mask in masks.values())
    assert stacked.max() > 1


def test_frames_across_a_gap_land_on_their_own_slices():
    """highdicom's overlap SEG over pydicom's CT2 (z -99.48, then 103.02..105.52): a 1.25 mm grid of 165 slices."""
    result = read_seg(shared_data("highdicom/seg_image_ct_binary_overlap.dcm"))
    grid = result.layers[0].get_geometry()
    assert grid.spatial_shape[0] == 165
    np.testing.assert_allclose(np.linalg.norm(grid.affine[:3, 0]), 1.25, atol=1e-6)
    dataset = pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary_overlap.dcm"), stop_before_pixels=True)
    positions = [
        [float(v) for v in group.PlanePositionSequence[0].ImagePositionPatient]
        for group in dataset.PerFrameFunctionalGroupsSequence
    ]
    indices = grid.map_reference_to_indices(np.array(positions), round_output=False)
    np.testing.assert_allclose(indices, np.round(indices), atol=1e-3)
    frame_slices = sorted({int(round(k)) for k in indices[:, 0]})
    assert np.diff(frame_slices).tolist() in ([162, 1, 1], [1, 1, 162])
    occupied = {int(k) for mask in segment_masks(result).values() for k in np.nonzero(mask.any(axis=(1, 2)))[0]}
    assert occupied <= set(frame_slices)


def test_binary_seg_on_its_reference_series_grid():
    reference = read_source_series_folder(shared_data("dcmqi/ct-3slice")).geometry
    on_reference = read_seg(shared_data("dcmqi/partial_overlaps.dcm"), reference)
    own = read_seg(shared_data("dcmqi/partial_overlaps.dcm"))
    assert on_reference.layers[0].spatial_shape == reference.spatial_shape
    for number, mask in segment_masks(own).items():
        moved = on_grid(hd.Volume(mask.astype(np.uint8), own.layers[0].affine, "PATIENT"), reference)
        np.testing.assert_array_equal(segment_masks(on_reference)[number], moved.astype(bool))


def test_frames_with_no_common_spacing_are_reported(tmp_path):
    dataset = pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary.dcm"))
    third = dataset.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence[0]
    third.ImagePositionPatient = [*third.ImagePositionPatient[:2], float(third.ImagePositionPatient[2]) + 0.6]
    del dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness
    path = tmp_path / "uneven.dcm"
    dataset.save_as(path)
    with pytest.raises(GeometryMismatchError, match="share no common spacing"):
        read_seg(path)


def test_classic_seg_loads_into_a_layered_segmentation_node(manager, scene):
    reference = manager.load_reference_volume(shared_data("dcmqi/ct-3slice"))
    node = manager.load_segmentation(shared_data("dcmqi/partial_overlaps.dcm"), reference)
    segmentation = node.GetSegmentation()
    assert segmentation.GetNumberOfSegments() == 5
    assert segmentation.GetNumberOfLayers() == len(read_seg(shared_data("dcmqi/partial_overlaps.dcm")).layers)
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        assert segment.GetRepresentation(BINARY_LABELMAP) is not None
        assert segment.GetLabelValue() == index + 1


def test_multiframe_source_both_ways(manager, scene, tmp_path):
    """Export over dcmqi's enhanced multiframe CT, find it again from the SEG, and load classic SEGs on its grid."""
    from DicomManager.core.label_files.label_volume_segmentation import segmentation_from_label_volumes
    from DicomManager.core.reading.seg_references import read_seg_references
    from DicomManager.core.segments.dcmqi_metadata import read_dcmqi_metadata
    from DicomManager.mrml.segmentation_nodes import create_layered_segmentation_node, labels_from_segmentation_node
    from DicomManager.mrml.volume_nodes import grid_of_volume_node

    volume = manager.load_reference_volume(shared_data("dcmqi/24x38x3/multiframe"))
    grid = grid_of_volume_node(volume)
    labels = read_label_volume(shared_data("dcmqi/24x38x3/nrrd/label.nrrd"))
    segments = read_dcmqi_metadata(shared_data("dcmqi/metadata/seg-example.json")).segments
    node = create_layered_segmentation_node(scene, segmentation_from_label_volumes([labels], segments), "on multiframe")
    (path,) = manager.export_segmentation(node, volume, tmp_path).paths
    multiframe_uid = pydicom.dcmread(next(shared_data("dcmqi/24x38x3/multiframe").glob("*.dcm"))).SOPInstanceUID
    assert read_seg_references(path).referenced_instance_uids == (multiframe_uid,)
    assert manager.find_reference_volume(path) is volume
    loaded = manager.load_segmentation(path, volume)
    np.testing.assert_array_equal(labels_from_segmentation_node(loaded, grid)[0], on_grid(labels, grid))
    # dcmqi's own BINARY SEG references the single-frame series of the same scan; it lands on the same voxels.
    binary = read_seg(shared_data("dcmqi/24x38x3/seg/label.seg"), grid)
    np.testing.assert_array_equal(segment_masks(binary)[1], on_grid(labels, grid) != 0)


def test_source_series_with_a_gap_is_reported_not_shifted():
    """pydicom's CT2 (z -99.48, then 103.02..105.52) is no regular volume: exporting over it is refused by name."""
    from DicomManager.errors import SourceSeriesError

    with pytest.raises(SourceSeriesError, match="not a regularly spaced stack"):
        read_source_series_folder(shared_data("pydicom/CT2"))
