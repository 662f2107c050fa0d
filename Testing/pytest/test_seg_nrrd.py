"""``.seg.nrrd`` files written and read without Slicer agree with Slicer's own reading and writing.

Writing: each SEG is turned into a ``.seg.nrrd`` twice, by :func:`write_seg_nrrd`
and by building the segmentation node and saving it with Slicer's own storage
node; Slicer (slicer-core) reads both, and the segments must agree: voxels,
grid, IDs, names, numbers, colours, terminology and DICOM tags. Reading:
:func:`read_seg_nrrd` must give what slicer-core and the MRML bridge give, on
files Slicer wrote and files we wrote.
"""

from __future__ import annotations

import gzip
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from conftest import blob_labels, demo_segments, make_grid, on_grid, shared_data, write_series
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from DicomManager import (
    Code,
    ExportOptions,
    LayeredSegmentation,
    read_seg,
    read_seg_nrrd,
    read_source_series_folder,
    write_seg_nrrd,
    write_segmentation,
)
from DicomManager.cli.main import main
from DicomManager.core.geometry.grids import match_to_grid
from DicomManager.core.label_files.label_volume_files import read_label_volume
from DicomManager.core.label_files.label_volume_segmentation import segmentation_from_label_volumes
from DicomManager.core.segments.segment_metadata import AlgorithmIdentification
from DicomManager.errors import InvalidSegmentationError, LabelFileError, OutputExistsError
from DicomManager.mrml.image_arrays import matrix_to_numpy
from DicomManager.mrml.segmentation_nodes import (
    BINARY_LABELMAP,
    create_layered_segmentation_node,
    layered_segmentation_of_node,
    layers_from_segmentation_node,
    segment_metadata_from_node,
)
from DicomManager.mrml.storage import (
    read_segmentation_file,
    write_segmentation_file,
)

SEGS = [
    "dcmqi/liver.dcm",  # one segment, one layer
    "dcmqi/partial_overlaps.dcm",  # five segments in three layers
    "dcmqi/sparse-labelmap-ppv5.dcm",  # LABELMAP whose uncovered voxels hold padding value 5
    "highdicom/seg_image_ct_binary_overlap.dcm",  # no recommended colours, two layers
    "highdicom/seg_image_ct_binary_fractional.dcm",
]


def _segments_as_slicer_reads(scene, path: Path, grid: hd.VolumeGeometry):
    node = read_segmentation_file(scene, path)
    layers = layers_from_segmentation_node(node, grid)
    masks = {segment_id: layers.layers[layers.layer_of_segment[number]] == number
             for segment_id, number in layers.numbers.items()}
    metadata = {segment_id: segment_metadata_from_node(node, segment_id, number)
                for segment_id, number in layers.numbers.items()}
    segmentation = node.GetSegmentation()
    image_to_world = {}
    for segment_id in segmentation.GetSegmentIDs():
        image = segmentation.GetSegment(segment_id).GetRepresentation(BINARY_LABELMAP)
        matrix = vtkMatrix4x4()
        image.GetImageToWorldMatrix(matrix)
        image_to_world[segment_id] = (matrix_to_numpy(matrix), image.GetExtent())
    return list(segmentation.GetSegmentIDs()), masks, metadata, image_to_world


@pytest.mark.parametrize("relative", SEGS)
def test_slicer_reads_our_file_as_it_reads_its_own(relative, tmp_path, scene):
    result = read_seg(shared_data(relative))
    ours, slicers = tmp_path / "ours.seg.nrrd", tmp_path / "slicer.seg.nrrd"
    write_seg_nrrd(ours, result)
    node = create_layered_segmentation_node(scene, result, "SEG")
    write_segmentation_file(node, slicers)

    grid = result.layers[0].get_geometry()
    ids, masks, metadata, geometry = _segments_as_slicer_reads(scene, ours, grid)
    expected_ids, expected_masks, expected_metadata, expected_geometry = _segments_as_slicer_reads(scene, slicers, grid)
    assert ids == expected_ids == [f"Segment_{s.number}" for s in result.segments]
    for segment_id in ids:
        np.testing.assert_array_equal(masks[segment_id], expected_masks[segment_id], err_msg=segment_id)
        assert masks[segment_id].any() or relative.endswith("fractional.dcm")
    given_colours = {f"Segment_{s.number}": s.color for s in result.segments}
    for segment_id, segment in metadata.items():
        if given_colours[segment_id] is None:
            # No recommended colour: ours keeps Slicer's "no colour" grey for Slicer to choose one on loading,
            # where the node Slicer saved got a generated colour.
            assert segment.color == (128, 128, 128)
            segment = replace(segment, color=expected_metadata[segment_id].color)
        assert segment == expected_metadata[segment_id]
    for segment_id in ids:
        # Slicer writes its grid back through RAS<->LPS matrix products; ours is the SEG's own numbers.
        np.testing.assert_allclose(geometry[segment_id][0], expected_geometry[segment_id][0], rtol=0, atol=1e-9)


def test_layers_of_sixteen_bit_numbers_and_the_cropped_box(tmp_path, scene):
    grid = make_grid((12, 20, 24))
    labels = np.zeros(grid.spatial_shape, dtype=np.uint16)
    labels[3:7, 5:9, 4:10] = 300
    labels[8, 10:12, 2:3] = 7
    second = np.zeros_like(labels)
    second[4:6, 6:8, 5:8] = 65535  # overlaps segment 300: another layer
    segments = demo_segments([7, 300, 65535])
    segments[2] = replace(segments[2], algorithm_type="AUTOMATIC", algorithm_name="TotalSegmentator",
                          tracking_id="lesion 1", tracking_uid=hd.UID(), algorithm_identification=AlgorithmIdentification(
                              family=Code("123110", "DCM", "Artificial Intelligence"), name="TotalSegmentator",
                              version="2.4.0", parameters='{"task": "total"}'))
    volumes = [hd.Volume(array, grid.affine, "PATIENT", grid.frame_of_reference_uid) for array in (labels, second)]
    path = tmp_path / "sixteen.seg.nrrd"
    write_seg_nrrd(path, LayeredSegmentation(volumes, segments, {7: 0, 300: 0, 65535: 1}))

    header = path.read_bytes().split(b"\n\n", 1)[0].decode()
    assert "type: unsigned short" in header and "endian: little" in header
    assert "sizes: 2 8 7 6" in header  # two layers; columns 2..9, rows 5..11, slices 3..8
    assert "Segmentation_ReferenceImageExtentOffset:=2 5 3" in header
    node = read_segmentation_file(scene, path)
    layers = layers_from_segmentation_node(node, grid)
    assert layers.numbers == {"Segment_7": 7, "Segment_300": 300, "Segment_65535": 65535}
    np.testing.assert_array_equal(layers.layers[layers.layer_of_segment[300]], labels)
    np.testing.assert_array_equal(layers.layers[layers.layer_of_segment[65535]], second)
    assert [segment_metadata_from_node(node, f"Segment_{s.number}", s.number) for s in segments] == segments


def test_values_that_name_no_segment_are_not_written(tmp_path):
    grid = make_grid((4, 6, 6))
    labels = blob_labels(grid.spatial_shape, [1, 2])
    labels[0, 0, 0] = 9  # padding, say: no segment 9
    path = tmp_path / "padded.seg.nrrd"
    write_seg_nrrd(path, LayeredSegmentation([hd.Volume(labels, grid.affine, "PATIENT")], demo_segments([1, 2]), {1: 0, 2: 0}))
    voxels = np.frombuffer(gzip.decompress(path.read_bytes().split(b"\n\n", 1)[1]), dtype=np.uint8)
    assert set(np.unique(voxels)) <= {0, 1, 2}


def test_empty_segments_give_the_one_voxel_file_slicer_writes(tmp_path, scene):
    # Slicer writes a segmentation without labelled voxels as one voxel at the grid's origin. (slicer-core 5.13
    # crashes reading such a file back, its own included, so the headers are compared instead.)
    grid = make_grid((4, 6, 6))
    empty = hd.Volume(np.zeros(grid.spatial_shape, dtype=np.uint8), grid.affine, "PATIENT")
    ours, slicers = tmp_path / "ours.seg.nrrd", tmp_path / "slicer.seg.nrrd"
    write_seg_nrrd(ours, LayeredSegmentation([empty], demo_segments([1]), {1: 0}))
    write_segmentation_file(create_layered_segmentation_node(scene, LayeredSegmentation([empty], demo_segments([1]), {1: 0}),
        "SEG"), slicers)
    fields, expected = _header_fields(ours), _header_fields(slicers)
    del expected["Segmentation_ConversionParameters"]
    assert fields.keys() == expected.keys()
    for key, value in fields.items():
        if key.endswith(("origin", "directions", "_Color")):
            np.testing.assert_allclose(_numbers(value), _numbers(expected[key]), atol=1e-6, err_msg=key)
        else:
            assert value == expected[key], key
    assert fields["sizes"] == "1 1 1" and fields["Segment0_Extent"] == "0 0 0 0 0 0"


def _header_fields(path: Path) -> dict[str, str]:
    lines = path.read_bytes().split(b"\n\n", 1)[0].decode().splitlines()[3:]
    return dict(line.split(":=", 1) if ":=" in line else line.split(": ", 1) for line in lines)


def _numbers(text: str) -> list[float]:
    return [float(number) for number in re.findall(r"[-+0-9.e]+", text)]


def test_refusals_leave_nothing_behind(tmp_path):
    grid = make_grid((4, 6, 6))
    volume = hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT")
    path = tmp_path / "out.seg.nrrd"
    with pytest.raises(LabelFileError, match="out.seg.nrrd: there are no segments"):
        write_seg_nrrd(path, LayeredSegmentation([volume], [], {}))
    shifted = grid.affine.copy()
    shifted[:3, 3] += 0.5
    other = hd.Volume(volume.array, shifted, "PATIENT")
    with pytest.raises(InvalidSegmentationError, match="layer 1 is not on layer 0's grid \\(another affine\\)"):
        LayeredSegmentation([volume, other], demo_segments([1]), {1: 0})
    assert list(tmp_path.iterdir()) == []
    path.write_bytes(b"keep")
    with pytest.raises(OutputExistsError, match="exists already"):
        write_seg_nrrd(path, LayeredSegmentation([volume], demo_segments([1]), {1: 0}))
    assert path.read_bytes() == b"keep"


def test_command_line_import_does_not_load_slicer(tmp_path):
    output = tmp_path / "liver.seg.nrrd"
    program = (
        "import sys\n"
        "from DicomManager.cli.main import main\n"
        f"code = main(['import', {str(shared_data('dcmqi/liver.dcm'))!r}, '--output', {str(output)!r}])\n"
        "print(code, 'slicer' in sys.modules, 'vtkmodules' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert completed.stdout.splitlines()[-1] == "0 False False"
    assert output.exists()


def _as_slicer_reads(scene, path: Path, grid: hd.VolumeGeometry):
    """Per segment ID: (mask on ``grid``, metadata), through slicer-core and the MRML bridge."""
    node = read_segmentation_file(scene, path)
    layers = layers_from_segmentation_node(node, grid)
    return {
        segment_id: (layers.layers[layers.layer_of_segment[number]] == number,
                     segment_metadata_from_node(node, segment_id, number))
        for segment_id, number in layers.numbers.items()
    }


def _as_we_read(path: Path, grid: hd.VolumeGeometry):
    read = read_seg_nrrd(path)
    layers = [match_to_grid(layer, grid, "test") for layer in read.layers]
    return {
        f"#{index}": (layers[read.layer_of_segment[segment.number]].array == segment.number, segment)
        for index, segment in enumerate(read.segments)
    }


@pytest.mark.parametrize("relative", SEGS)
@pytest.mark.parametrize("writer", ["slicer", "ours"])
def test_reading_without_slicer_gives_what_slicer_reads(relative, writer, tmp_path, scene):
    # Slicer's writer merges layers again and gives segments of several layers new label values
    # (partial_overlaps: five segments in three layers come back with values 1, 1, 1, ...): both readers
    # must number and place them alike.
    result = read_seg(shared_data(relative))
    path = tmp_path / f"{writer}.seg.nrrd"
    if writer == "slicer":
        node = create_layered_segmentation_node(scene, result, "SEG")
        write_segmentation_file(node, path)
    else:
        write_seg_nrrd(path, result)
    grid = result.layers[0].get_geometry()
    expected, ours = _as_slicer_reads(scene, path, grid), _as_we_read(path, grid)
    assert len(ours) == len(expected)
    for (mask, segment), (expected_mask, expected_segment) in zip(ours.values(), expected.values(), strict=True):
        np.testing.assert_array_equal(mask, expected_mask, err_msg=segment.label)
        assert segment == expected_segment


def test_reading_a_cropped_sixteen_bit_file_with_an_offset_and_tags(tmp_path, scene):
    grid = make_grid((12, 20, 24))
    labels = np.zeros(grid.spatial_shape, dtype=np.uint16)
    labels[3:7, 5:9, 4:10] = 300
    labels[8, 10:12, 2:3] = 7
    segments = demo_segments([7, 300])
    segments[1] = replace(segments[1], description="a \\ b", tracking_id="lesion 1", tracking_uid=hd.UID())
    node = create_layered_segmentation_node(
        scene, LayeredSegmentation([hd.Volume(labels, grid.affine, "PATIENT")], segments, {7: 0, 300: 0}), "SEG")
    path = tmp_path / "slicer.seg.nrrd"
    write_segmentation_file(node, path)
    assert "Segmentation_ReferenceImageExtentOffset:=2 5 3" in path.read_bytes().split(b"\n\n", 1)[0].decode()
    read = read_seg_nrrd(path)
    assert read.segments == segments
    np.testing.assert_array_equal(match_to_grid(read.layers[0], grid, "test").array, labels)


def test_raw_data_and_layouts_only_slicer_reads(tmp_path, scene):
    grid = make_grid((4, 6, 6))
    labels = blob_labels(grid.spatial_shape, [1])
    path = tmp_path / "ours.seg.nrrd"
    write_seg_nrrd(path, LayeredSegmentation([hd.Volume(labels, grid.affine, "PATIENT")], demo_segments([1]), {1: 0}))
    header, data = path.read_bytes().split(b"\n\n", 1)
    raw = tmp_path / "raw.seg.nrrd"
    raw.write_bytes(header.replace(b"encoding: gzip", b"encoding: raw") + b"\n\n" + gzip.decompress(data))
    np.testing.assert_array_equal(match_to_grid(read_seg_nrrd(raw).layers[0], grid, "test").array, labels)

    legacy = tmp_path / "legacy.seg.nrrd"  # before shared layers, Slicer wrote a Segmentation_Extent
    legacy.write_bytes(header + b"\nSegmentation_Extent:=0 5 0 5 0 3\n\n" + data)
    floats = tmp_path / "float.seg.nrrd"  # Slicer casts other voxel types to integers
    as_floats = np.frombuffer(gzip.decompress(data), dtype=np.uint8).astype("<f4")
    floats.write_bytes(header.replace(b"type: unsigned char", b"type: float\nendian: little") + b"\n\n"
                       + gzip.compress(as_floats.tobytes()))
    assert read_seg_nrrd(legacy) is None and read_seg_nrrd(floats) is None

    # The command line hands such a file to slicer-core, and the SEG holds the same labels.
    reference = tmp_path / "ct"
    write_series(grid, reference)
    output = tmp_path / "from-float.dcm"
    assert main(["export", "--reference", str(reference), "--segmentation", str(floats), "--output", str(output)]) == 0
    np.testing.assert_array_equal(on_grid(read_seg(output).labels, grid), labels)

    bzip2 = tmp_path / "bzip2.seg.nrrd"  # Slicer's NrrdIO has no bzip2 (reading one aborts slicer-core)
    bzip2.write_bytes(header.replace(b"encoding: gzip", b"encoding: bzip2") + b"\n\n" + data)
    with pytest.raises(LabelFileError, match="bzip2.seg.nrrd: NRRD encoding 'bzip2' is not read"):
        read_seg_nrrd(bzip2)
    with pytest.raises(LabelFileError, match="bzip2.seg.nrrd: NRRD encoding 'bzip2' is not read"):
        read_segmentation_file(scene, bzip2)


def test_a_damaged_file_is_refused_by_name(tmp_path):
    grid = make_grid((4, 6, 6))
    path = tmp_path / "ours.seg.nrrd"
    labels = hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT")
    write_seg_nrrd(path, LayeredSegmentation.from_labels(labels, demo_segments([1])))
    cut = tmp_path / "cut.seg.nrrd"
    cut.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(LabelFileError, match="cut.seg.nrrd: the NRRD's gzip data"):
        read_seg_nrrd(cut)
    bad_layer = tmp_path / "layer.seg.nrrd"
    bad_layer.write_bytes(path.read_bytes().replace(b"Segment0_Layer:=0", b"Segment0_Layer:=3"))
    with pytest.raises(LabelFileError, match="layer.seg.nrrd: a segment is in layer 3"):
        read_seg_nrrd(bad_layer)


def test_command_line_export_of_a_seg_nrrd_does_not_load_slicer_and_writes_what_the_bridge_writes(tmp_path, scene):
    reference = shared_data("dcmqi/ct-3slice")
    seg_nrrd = tmp_path / "liver_spine.seg.nrrd"
    volumes = [read_label_volume(shared_data("dcmqi/liver_spine_seg.nrrd"))]
    segmentation = segmentation_from_label_volumes(volumes, demo_segments([1, 2]))
    node = create_layered_segmentation_node(scene, segmentation, "liver and spine")
    write_segmentation_file(node, seg_nrrd)  # written by Slicer
    output = tmp_path / "cli.dcm"
    program = (
        "import sys\n"
        "from DicomManager.cli.main import main\n"
        f"code = main(['export', '--reference', {str(reference)!r}, '--segmentation', {str(seg_nrrd)!r}, "
        f"'--output', {str(output)!r}])\n"
        "print(code, 'slicer' in sys.modules, 'vtkmodules' in sys.modules)\n"
    )
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert completed.stdout.splitlines()[-1] == "0 False False"
    source = read_source_series_folder(reference)
    through_slicer = layered_segmentation_of_node(read_segmentation_file(scene, seg_nrrd), source.geometry)
    bridge = write_segmentation(through_slicer, source, tmp_path, ExportOptions(file_name="bridge.dcm"))
    ours, theirs = read_seg(output), read_seg(bridge.paths[0])
    np.testing.assert_array_equal(ours.labels.array, theirs.labels.array)
    assert ours.labels.array.any() and ours.segments == theirs.segments


def test_a_segments_extent_does_not_clip_its_layer_as_in_slicer(tmp_path, scene):
    grid = make_grid((4, 6, 8))
    labels = np.zeros(grid.spatial_shape, dtype=np.uint8)
    labels[:, :, :4] = 1
    labels[:, :, 4:] = 2
    path = tmp_path / "ours.seg.nrrd"
    write_seg_nrrd(path, LayeredSegmentation([hd.Volume(labels, grid.affine, "PATIENT")], demo_segments([1, 2]), {1: 0, 2: 0}))
    clipped = tmp_path / "clipped.seg.nrrd"
    clipped.write_bytes(path.read_bytes().replace(b"Segment0_Extent:=0 7 0 5 0 3", b"Segment0_Extent:=1 5 2 4 0 2"))
    expected, ours = _as_slicer_reads(scene, clipped, grid), _as_we_read(clipped, grid)
    assert expected["Segment_1"][0].sum() == 4 * 6 * 4  # slicer-core 5.13 reads the whole layer
    for (mask, _), (expected_mask, _) in zip(ours.values(), expected.values(), strict=True):
        np.testing.assert_array_equal(mask, expected_mask)
