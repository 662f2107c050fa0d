"""Exporting segments that overlap: each policy round-trips every segment's mask exactly.

Inputs are dcmqi's ``partial_overlaps-{1,2,3}.nrrd`` (five segments in three
label files, as dcmqi takes them) and synthetic overlapping blobs; the
BINARY output is also read by dcmqi and highdicom, and validated by dciodvfy.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import dciodvfy_errors, demo_segments, make_grid, on_grid, read_segments_with_dcmqi, shared_data, write_series
from test_classic_seg import segment_masks

from DicomManager import Compression, ExportOptions, LayeredSegmentation, OverlapPolicy, read_seg
from DicomManager.cli.main import main
from DicomManager.core.label_files.label_volume_files import read_label_volume
from DicomManager.core.label_files.label_volume_segmentation import segmentation_from_label_volumes
from DicomManager.core.segments.dcmqi_metadata import read_dcmqi_metadata
from DicomManager.core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UID
from DicomManager.errors import InvalidSegmentationError
from DicomManager.mrml.segmentation_nodes import create_layered_segmentation_node
from DicomManager.mrml.volume_nodes import grid_of_volume_node

PARTIAL_OVERLAPS = [f"dcmqi/partial_overlaps-{i}.nrrd" for i in (1, 2, 3)]
METADATA = "dcmqi/metadata/seg-example_partial_overlaps.json"


def expected_masks(scene, grid) -> dict[int, np.ndarray]:
    """Each segment of dcmqi's partial-overlap inputs: value n in whichever label file holds it."""
    masks = {}
    for name in PARTIAL_OVERLAPS:
        labels = on_grid(read_label_volume(shared_data(name)), grid)
        for value in np.unique(labels)[1:]:
            masks[int(value)] = labels == value
    return masks


@pytest.fixture
def partial_overlaps(manager, scene):
    volume = manager.load_reference_volume(shared_data("dcmqi/ct-3slice"))
    volumes = [read_label_volume(shared_data(name)) for name in PARTIAL_OVERLAPS]
    segments = read_dcmqi_metadata(shared_data(METADATA)).segments
    node = create_layered_segmentation_node(scene, segmentation_from_label_volumes(volumes, segments), "partial overlaps")
    return volume, node, segments


@pytest.mark.parametrize("compression", [Compression.RLE, Compression.NONE, Compression.DEFLATE])
def test_binary_policy_keeps_every_segment_in_one_classic_seg(partial_overlaps, manager, scene, tmp_path, compression):
    volume, node, segments = partial_overlaps
    grid = grid_of_volume_node(volume)
    written = manager.export_segmentation(node, volume, tmp_path, ExportOptions(overlap=OverlapPolicy.BINARY,
        compression=compression))
    (path,) = written.paths
    dataset = pydicom.dcmread(path)
    assert (written.segmentation_type, dataset.SOPClassUID, dataset.SegmentationType) == (
        "BINARY", SEGMENTATION_SOP_CLASS_UID, "BINARY")
    expected = expected_masks(scene, grid)
    ours = read_seg(path, grid)
    assert {s.label for s in ours.segments} == {s.label for s in segments}
    for number, mask in segment_masks(ours).items():
        np.testing.assert_array_equal(mask, expected[number], err_msg=f"segment {number}")
    for number, theirs in read_segments_with_dcmqi(path, tmp_path, scene).items():
        np.testing.assert_array_equal(on_grid(theirs, grid) != 0, expected[number], err_msg=f"dcmqi, segment {number}")
    highdicom_volume = hd.seg.segread(path).get_volume(combine_segments=False)
    for channel, number in enumerate(highdicom_volume.get_channel_values(highdicom_volume.channel_descriptors[0])):
        moved = hd.Volume(highdicom_volume.array[..., channel], highdicom_volume.affine, "PATIENT").match_geometry(grid)
        np.testing.assert_array_equal(moved.array != 0, expected[int(number)], err_msg=f"highdicom, segment {number}")


@pytest.mark.parametrize("compression", [Compression.NONE, Compression.JPEG2000, Compression.DEFLATE])
def test_binary_seg_in_each_of_its_transfer_syntaxes_passes_dciodvfy(partial_overlaps, manager, tmp_path, compression):
    volume, node, _ = partial_overlaps
    (path,) = manager.export_segmentation(node, volume, tmp_path, ExportOptions(overlap=OverlapPolicy.BINARY,
        compression=compression)).paths
    dataset = pydicom.dcmread(path)
    assert dataset.file_meta.TransferSyntaxUID == compression.transfer_syntax_uid
    if compression is Compression.DEFLATE:  # dciodvfy cannot parse deflated files: validate the inflated twin
        dataset.file_meta.TransferSyntaxUID = Compression.NONE.transfer_syntax_uid
        path = tmp_path / "inflated.dcm"
        dataset.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


def test_rle_and_jpegls_become_deflate_for_binary(partial_overlaps, manager, tmp_path):
    volume, node, _ = partial_overlaps
    for compression in (Compression.RLE, Compression.JPEGLS):
        written = manager.export_segmentation(node, volume, tmp_path / compression.value, ExportOptions(compression=compression))
        syntax = pydicom.dcmread(written.paths[0], stop_before_pixels=True).file_meta.TransferSyntaxUID
        assert syntax == Compression.DEFLATE.transfer_syntax_uid


def test_layers_policy_writes_one_labelmap_per_layer_in_one_series(partial_overlaps, manager, scene, tmp_path):
    volume, node, _ = partial_overlaps
    grid = grid_of_volume_node(volume)
    written = manager.export_segmentation(node, volume, tmp_path, ExportOptions(overlap=OverlapPolicy.LAYERS, file_name="po.dcm"))
    assert [p.name for p in written.paths] == ["po_layer1.dcm", "po_layer2.dcm", "po_layer3.dcm"]
    datasets = [pydicom.dcmread(p, stop_before_pixels=True) for p in written.paths]
    assert {d.SOPClassUID for d in datasets} == {LABELMAP_SEG_SOP_CLASS_UID}
    assert {d.SeriesInstanceUID for d in datasets} == {written.series_instance_uid}
    assert [d.InstanceNumber for d in datasets] == [1, 2, 3]
    assert len({d.SOPInstanceUID for d in datasets}) == 3
    assert len({d.ReferencedSeriesSequence[0].SeriesInstanceUID for d in datasets}) == 1
    expected = expected_masks(scene, grid)
    seen = {}
    for path in written.paths:
        assert dciodvfy_errors(path) == []
        seen.update(segment_masks(read_seg(path, grid)))
    assert sorted(seen) == sorted(expected)
    for number in expected:
        np.testing.assert_array_equal(seen[number], expected[number], err_msg=f"segment {number}")


def test_error_policy_names_the_overlaps_and_writes_nothing(partial_overlaps, manager, tmp_path):
    volume, node, _ = partial_overlaps
    with pytest.raises(InvalidSegmentationError, match=r"Segments overlap: .*voxels"):
        manager.export_segmentation(node, volume, tmp_path, ExportOptions(overlap=OverlapPolicy.ERROR))
    assert list(tmp_path.iterdir()) == []


def overlapping_blobs(manager, first_values: tuple[int, int], second_value: int):
    """dcmqi's 23x38x3 image, and two label layers on it: two blobs in the first, one overlapping both in the second."""
    volume = manager.load_reference_volume(shared_data("dcmqi/23x38x3/image"))
    grid = grid_of_volume_node(volume)
    first = np.zeros(grid.spatial_shape, dtype=np.uint8)
    second = np.zeros(grid.spatial_shape, dtype=np.uint8)
    first[:, 5:20, 3:15] = first_values[0]
    first[:, 25:30, 3:15] = first_values[1]
    second[1:, 10:28, 8:20] = second_value
    return volume, grid, first, second, [hd.Volume(layer, grid.affine, "PATIENT") for layer in (first, second)]


def test_synthetic_overlaps_round_trip_through_a_segmentation_node(manager, scene, tmp_path):
    volume, grid, first, second, layers = overlapping_blobs(manager, (1, 3), 2)
    node = create_layered_segmentation_node(scene, LayeredSegmentation(layers, demo_segments([1, 2, 3]), {1: 0, 3: 0, 2: 1}),
        "blobs")
    for policy in (OverlapPolicy.BINARY, OverlapPolicy.LAYERS):
        written = manager.export_segmentation(node, volume, tmp_path / policy.value, ExportOptions(overlap=policy))
        loaded = manager.load_segmentation(written.paths[0], volume)
        got = {}
        for path in written.paths:
            got.update(segment_masks(read_seg(path, grid)))
        np.testing.assert_array_equal(got[1], first == 1)
        np.testing.assert_array_equal(got[2], second == 2)
        np.testing.assert_array_equal(got[3], first == 3)
        assert loaded.GetSegmentation().GetNumberOfSegments() == (3 if policy is OverlapPolicy.BINARY else 2)


def test_binary_seg_numbers_gapped_segments_from_one(manager, scene, tmp_path, caplog):
    """PS3.3 C.8.20.2: a BINARY SEG's segments are numbered 1, 2, 3, ...; label values 2, 5, 9 are renumbered."""
    volume, grid, first, second, layers = overlapping_blobs(manager, (9, 2), 5)
    segments = demo_segments([2, 5, 9])
    node = create_layered_segmentation_node(scene, LayeredSegmentation(layers, segments, {2: 0, 9: 0, 5: 1}), "gapped")

    written = manager.export_segmentation(node, volume, tmp_path, ExportOptions(overlap=OverlapPolicy.BINARY,
        compression=Compression.NONE))
    (path,) = written.paths

    assert "[2, 5, 9] become [1, 2, 3]" in caplog.text
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    assert [(item.SegmentNumber, item.SegmentLabel) for item in dataset.SegmentSequence] == [
        (new, segment.label) for new, segment in enumerate(segments, start=1)]
    masks = segment_masks(read_seg(path, grid))
    np.testing.assert_array_equal(masks[1], first == 2)
    np.testing.assert_array_equal(masks[2], second == 5)
    np.testing.assert_array_equal(masks[3], first == 9)
    assert dciodvfy_errors(path) == []


def test_masks_at_frame_and_byte_edges_read_the_same_packed_and_decoded(manager, scene, tmp_path):
    # Uncompressed 1-bit frames are cut to each segment's rectangle in their packed bytes; JPEG 2000 ones are
    # decoded first. Masks that touch the frame's edges and start or end inside a byte read alike in both.
    grid = make_grid((3, 32, 40))  # JPEG 2000 takes frames of 32 x 32 or more
    write_series(grid, tmp_path / "ct")
    volume = manager.load_reference_volume(tmp_path / "ct")
    first = np.zeros(grid.spatial_shape, dtype=np.uint8)
    second = np.zeros(grid.spatial_shape, dtype=np.uint8)
    first[0, 0, 0] = first[0, 31, 39] = 1  # the two corners of a frame
    first[1, 2:5, 7:17] = 1  # the bits of two bytes' edges
    second[1, 3:9, 15:40] = 2  # overlaps segment 1, runs to the last column
    second[2, :, :] = 2  # a full frame
    layers = [hd.Volume(first, grid.affine, "PATIENT"), hd.Volume(second, grid.affine, "PATIENT")]
    node = create_layered_segmentation_node(scene, LayeredSegmentation(layers, demo_segments([1, 2]), {1: 0, 2: 1}), "edges")
    for compression in (Compression.NONE, Compression.JPEG2000):
        (path,) = manager.export_segmentation(node, volume, tmp_path / compression.value,
            ExportOptions(overlap=OverlapPolicy.BINARY, compression=compression)).paths
        masks = segment_masks(read_seg(path, grid))
        np.testing.assert_array_equal(masks[1], first == 1, err_msg=compression.value)
        np.testing.assert_array_equal(masks[2], second == 2, err_msg=compression.value)


def test_cli_exports_dcmqi_partial_overlaps_with_each_policy(tmp_path, scene, capsys):
    arguments = ["export", "--reference", str(shared_data("dcmqi/ct-3slice")), "--metadata", str(shared_data(METADATA)),
                 "--segmentation", *[str(shared_data(n)) for n in PARTIAL_OVERLAPS]]
    assert main([*arguments, "--output", str(tmp_path / "binary.dcm")]) == 0
    assert "BINARY SEG" in capsys.readouterr().out
    assert main([*arguments, "--output", str(tmp_path / "layers.dcm"), "--overlap", "layers"]) == 0
    assert sorted(p.name for p in tmp_path.glob("layers_layer*.dcm")) == [f"layers_layer{i}.dcm" for i in (1, 2, 3)]
    assert main([*arguments, "--output", str(tmp_path / "error.dcm"), "--overlap", "error"]) == 1
    assert "'GREEN' (1) and 'ORANGE' (2)" in capsys.readouterr().err
    assert not (tmp_path / "error.dcm").exists()
    assert main(["import", str(tmp_path / "binary.dcm"), "--output", str(tmp_path / "back.seg.nrrd")]) == 0
    assert main(["import", str(tmp_path / "binary.dcm"), "--output", str(tmp_path / "x.seg.nrrd"),
                 "--labelmap", str(tmp_path / "x.nrrd")]) == 1
    assert "cannot be one label volume" in capsys.readouterr().err
    assert not (tmp_path / "x.seg.nrrd").exists()
