"""Segmentation node -> SEG -> segmentation node through Slicer's real MRML classes (slicer-core)."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pytest
import vtk
from conftest import blob_labels, dciodvfy_errors, demo_segments, make_grid, on_grid, read_with_dcmqi, write_series

from DicomManager import Compression, ExportOptions
from DicomManager.core.geometry.grids import affine_from_ijk_to_ras
from DicomManager.errors import GeometryMismatchError, InvalidSegmentationError, SourceSeriesError
from DicomManager.mrml.image_arrays import matrix_to_numpy
from DicomManager.mrml.segmentation_nodes import (
    create_segmentation_node,
    labels_from_segmentation_node,
    segment_metadata_from_node,
)
from DicomManager.mrml.volume_nodes import grid_of_volume_node

S = 1 / np.sqrt(2)
ORIENTATIONS = {
    "axial": ((1, 0, 0), (0, 1, 0)),
    "sagittal": ((0, 1, 0), (0, 0, -1)),
    "coronal": ((1, 0, 0), (0, 0, -1)),
    "oblique": ((S, S, 0), (-0.8 * S, 0.8 * S, -0.6)),
}


def reference_volume(manager, tmp_path, orientation="axial", shape=(10, 32, 28)):
    row, column = ORIENTATIONS[orientation]
    write_series(make_grid(shape, row, column), tmp_path / "ct")
    return manager.load_reference_volume(tmp_path / "ct")


def segment_ids_by_number(node):
    segmentation = node.GetSegmentation()
    return {segmentation.GetSegment(i).GetLabelValue(): i for i in segmentation.GetSegmentIDs()}


def assert_round_trip(manager, scene, volume, labels, segments, tmp_path, *, compression=Compression.RLE):
    grid = grid_of_volume_node(volume)
    node = create_segmentation_node(scene, hd.Volume(labels, grid.affine, "PATIENT"), segments, "original")
    uid = manager.export_segmentation_as_dicom_seg(node, volume, "Round trip", tmp_path, compression)
    (path,) = tmp_path.glob(f"*{uid}.dcm")
    assert dciodvfy_errors(path) == []
    # Independent readers first: highdicom, and dcmqi (Slicer's core plugin) for the transfer syntaxes it decodes.
    np.testing.assert_array_equal(on_grid(hd.seg.segread(path).get_volume(combine_segments=True), grid), labels)
    if compression in (Compression.NONE, Compression.RLE, Compression.DEFLATE) and labels.any():
        np.testing.assert_array_equal(on_grid(read_with_dcmqi(path, tmp_path, scene), grid), labels)
    loaded = manager.load_segmentation(path, volume)

    reloaded, numbers = labels_from_segmentation_node(loaded, grid)
    np.testing.assert_array_equal(reloaded, labels)
    assert sorted(numbers.values()) == sorted(s.number for s in segments)
    assert [segment_metadata_from_node(loaded, i, n) for i, n in numbers.items()] == sorted(
        segments, key=lambda s: s.number
    )
    # The loaded labelmap has the reference volume's geometry.
    image = loaded.GetSegmentation().GetSegment(next(iter(numbers))).GetRepresentation("Binary labelmap")
    matrix = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    volume_matrix = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(volume_matrix)
    loaded_affine = affine_from_ijk_to_ras(matrix_to_numpy(matrix))
    volume_affine = affine_from_ijk_to_ras(matrix_to_numpy(volume_matrix))
    np.testing.assert_allclose(loaded_affine[:3, 3], volume_affine[:3, 3], atol=1e-4)
    np.testing.assert_allclose(
        np.linalg.norm(loaded_affine[:3, :3], axis=0), np.linalg.norm(volume_affine[:3, :3], axis=0), atol=1e-4
    )
    directions = loaded_affine[:3, :3] / np.linalg.norm(loaded_affine[:3, :3], axis=0)
    expected = volume_affine[:3, :3] / np.linalg.norm(volume_affine[:3, :3], axis=0)
    np.testing.assert_allclose(directions, expected, atol=1e-6)
    assert loaded.GetAttribute("DICOM.instanceUIDs") == hd.seg.segread(path).SOPInstanceUID
    assert loaded.GetNodeReferenceID(loaded.GetReferenceImageGeometryReferenceRole()) == volume.GetID()
    return loaded


@pytest.mark.parametrize("orientation", list(ORIENTATIONS))
def test_round_trip_in_every_orientation(manager, scene, tmp_path, orientation):
    volume = reference_volume(manager, tmp_path, orientation)
    numbers = [1, 3, 4, 8]
    labels = blob_labels(grid_of_volume_node(volume).spatial_shape, numbers, seed=11)
    assert_round_trip(manager, scene, volume, labels, demo_segments(numbers), tmp_path)


@pytest.mark.parametrize("count", [1, 10, 300])
def test_round_trip_with_many_segments(manager, scene, tmp_path, count):
    volume = reference_volume(manager, tmp_path, shape=(8, 40, 40))
    numbers = list(range(1, count + 1))
    labels = blob_labels(grid_of_volume_node(volume).spatial_shape, numbers, seed=count)
    assert_round_trip(manager, scene, volume, labels, demo_segments(numbers), tmp_path)


def test_empty_segments_survive(manager, scene, tmp_path):
    volume = reference_volume(manager, tmp_path)
    labels = blob_labels(grid_of_volume_node(volume).spatial_shape, [2], seed=1)
    loaded = assert_round_trip(manager, scene, volume, labels, demo_segments([1, 2, 6]), tmp_path)
    assert sorted(segment_ids_by_number(loaded)) == [1, 2, 6]


def test_segmentation_smaller_than_reference(manager, scene, tmp_path):
    volume = reference_volume(manager, tmp_path)
    grid = grid_of_volume_node(volume)
    full = blob_labels(grid.spatial_shape, [1, 2], seed=4)
    full[:2] = full[8:] = 0
    part = full[2:8, 4:28, 3:25]
    affine = grid.affine.copy()
    affine[:3, 3] = affine[:3, :3] @ [2, 4, 3] + affine[:3, 3]
    node = create_segmentation_node(scene, hd.Volume(part, affine, "PATIENT"), demo_segments([1, 2]), "small")
    uid = manager.export_segmentation_as_dicom_seg(node, volume, "Small", tmp_path)
    loaded = manager.load_segmentation(next(tmp_path.glob(f"*{uid}.dcm")), volume)
    np.testing.assert_array_equal(labels_from_segmentation_node(loaded, grid)[0], full)


def test_segments_in_two_layers_export_as_one_labelmap_when_they_do_not_overlap(manager, scene, tmp_path):
    volume = reference_volume(manager, tmp_path)
    grid = grid_of_volume_node(volume)
    labels = blob_labels(grid.spatial_shape, [1, 2], seed=9)
    node = create_segmentation_node(scene, hd.Volume(labels, grid.affine, "PATIENT"), demo_segments([1, 2]), "two")
    node.GetSegmentation().SeparateSegmentLabelmap("Segment_2")
    assert node.GetSegmentation().GetNumberOfLayers() == 2
    written = manager.export_segmentation(node, volume, tmp_path / "out")
    assert written.segmentation_type == "LABELMAP" and len(written.paths) == 1
    np.testing.assert_array_equal(on_grid(hd.seg.segread(written.paths[0]).get_volume(combine_segments=True), grid), labels)
    loaded, _ = labels_from_segmentation_node(manager.load_segmentation(written.paths[0], volume), grid)
    np.testing.assert_array_equal(loaded, labels)


def test_overlapping_segments_are_refused_by_name(manager, scene, tmp_path):
    volume = reference_volume(manager, tmp_path)
    grid = grid_of_volume_node(volume)
    labels = np.zeros(grid.spatial_shape, dtype=np.uint8)
    labels[2:5, 5:10, 5:10] = 1
    first = create_segmentation_node(scene, hd.Volume(labels, grid.affine, "PATIENT"), demo_segments([1]), "a")
    second = create_segmentation_node(scene, hd.Volume(labels, grid.affine, "PATIENT"), demo_segments([1]), "b")
    segment = second.GetSegmentation().GetSegment("Segment_1")
    segment.SetName("Tumour")
    first.GetSegmentation().CopySegmentFromSegmentation(second.GetSegmentation(), "Segment_1")
    with pytest.raises(InvalidSegmentationError, match=r"'Structure 1' \(1\) and 'Tumour' \(2\): 75 voxels"):
        manager.export_segmentation_as_dicom_seg(first, volume, "Overlap", tmp_path, options=ExportOptions(overlap="error"))
    assert list(tmp_path.glob("*.dcm")) == []


def test_misaligned_segmentation_is_refused(manager, scene, tmp_path):
    volume = reference_volume(manager, tmp_path)
    grid = grid_of_volume_node(volume)
    shifted = grid.affine.copy()
    shifted[:3, 3] += 0.3  # a third of a voxel off the reference grid
    labels = blob_labels(grid.spatial_shape, [1])
    node = create_segmentation_node(scene, hd.Volume(labels, shifted, "PATIENT"), demo_segments([1]), "shifted")
    with pytest.raises(GeometryMismatchError, match="do not sit on the reference grid"):
        manager.export_segmentation_as_dicom_seg(node, volume, "Shifted", tmp_path)
    assert list(tmp_path.glob("*.dcm")) == []


def test_volume_without_dicom_source_is_refused(manager, scene, tmp_path):
    volume = reference_volume(manager, tmp_path)
    volume.RemoveAttribute("DICOM.instanceUIDs")
    grid = grid_of_volume_node(volume)
    labels = hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT")
    node = create_segmentation_node(scene, labels, demo_segments([1]), "s")
    with pytest.raises(SourceSeriesError, match="was not loaded from DICOM"):
        manager.export_segmentation_as_dicom_seg(node, volume, "x", tmp_path)


def test_missing_source_files_are_named(manager, scene, tmp_path):
    volume = reference_volume(manager, tmp_path)
    next((tmp_path / "ct").glob("*.dcm")).unlink()
    grid = grid_of_volume_node(volume)
    labels = hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT")
    node = create_segmentation_node(scene, labels, demo_segments([1]), "s")
    with pytest.raises(SourceSeriesError, match="1 of its 10 source images are not found"):
        manager.export_segmentation_as_dicom_seg(node, volume, "x", tmp_path / "out")
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_terminology_entries_are_understood_by_slicer(manager, scene, tmp_path, terminology_logic):
    volume = reference_volume(manager, tmp_path)
    numbers = [1, 2, 3, 4]
    labels = blob_labels(grid_of_volume_node(volume).spatial_shape, numbers)
    loaded = assert_round_trip(manager, scene, volume, labels, demo_segments(numbers), tmp_path)
    segmentation = loaded.GetSegmentation()
    for segment_id in segmentation.GetSegmentIDs():
        entry = slicer_entry = segmentation.GetSegment(segment_id).GetTerminology()
        import slicer

        parsed = slicer.vtkSlicerTerminologyEntry()
        assert terminology_logic.DeserializeTerminologyEntry(slicer_entry, parsed), entry
        assert terminology_logic.SerializeTerminologyEntry(parsed) == entry
        assert parsed.GetCategoryObject().GetCodeValue() == "123037004"
        assert parsed.GetTypeObject().GetCodingSchemeDesignator() == "SCT"


@pytest.mark.parametrize("crop_to_segments", [False, True])
def test_seg_loaded_before_its_volume_ends_as_if_the_volume_came_first(manager, scene, tmp_path, crop_to_segments):
    """The DICOM browser may load a SEG before the CT it references; placing it afterwards must give the same node."""
    from DicomManager import read_source_series, write_labelmap_seg
    from DicomManager.cli.demo import make_demo_case

    case = make_demo_case(tmp_path / "ct")
    seg = write_labelmap_seg(case.labels, case.segments, read_source_series(case.series_files), tmp_path,
        ExportOptions(file_name="seg.dcm", crop_to_segments=crop_to_segments))
    first, contents = manager.load_segmentation_contents(seg.path)
    node_id, segment_ids = first.GetID(), list(first.GetSegmentation().GetSegmentIDs())
    volume = manager.load_reference_volume(tmp_path / "ct")
    manager.move_onto_reference_volume(first, contents, volume)
    after = manager.load_segmentation(seg.path, volume)

    for node in (first, after):
        assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()) is volume
        labels, numbers = labels_from_segmentation_node(node, grid_of_volume_node(volume))
        np.testing.assert_array_equal(labels, case.labels.array)
        assert [segment_metadata_from_node(node, i, n) for i, n in numbers.items()] == case.segments
    assert (first.GetID(), list(first.GetSegmentation().GetSegmentIDs())) == (node_id, segment_ids)
    extents = [
        node.GetSegmentation().GetSegment(segment_ids[0]).GetRepresentation("Binary labelmap").GetExtent()
        for node in (first, after)
    ]
    assert extents[0] == extents[1]
