"""The Python API as a highdicom user meets it: their types accepted, ours valid when built, anything else named."""

from __future__ import annotations

import ast
import dataclasses
import io
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import PROJECT_ROOT, dciodvfy_errors, demo_segments, make_grid, shared_data, write_series
from pydicom.sr.codedict import codes

import DicomManager
from DicomManager import (
    Code,
    ExportOptions,
    LayeredSegmentation,
    SegmentMetadata,
    build_labelmap_seg,
    build_segmentation,
    read_seg,
    read_source_series_folder,
    write_labelmap_seg,
)
from DicomManager.errors import GeometryMismatchError, InvalidSegmentationError, SourceSeriesError

CT = shared_data("dcmqi/ct-3slice")


def liver_description(number: int = 1) -> hd.seg.SegmentDescription:
    """A segment as a highdicom user describes it: pydicom's codes, highdicom's class."""
    return hd.seg.SegmentDescription(
        segment_number=number,
        segment_label="Liver",
        segmented_property_category=codes.SCT.Organ,
        segmented_property_type=codes.SCT.Liver,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )


@pytest.fixture(scope="module")
def series(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("series")
    write_series(make_grid((5, 12, 10)), folder)
    return folder


def test_the_public_names_are_one_list():
    """``__all__``, the lazily imported names and the type-checking imports agree, module by module."""
    tree = ast.parse((PROJECT_ROOT / "DicomManager" / "__init__.py").read_text())
    assigned = {target.id: node.value for node in tree.body if isinstance(node, ast.Assign) for target in node.targets}
    listed = ast.literal_eval(assigned["__all__"])
    lazy = ast.literal_eval(assigned["_PUBLIC"])
    (checking,) = [node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    typed = {alias.name: node.module for node in checking.body for alias in node.names}
    assert len(listed) == len(set(listed))
    assert set(listed) == {"DicomLabelMapSegError", *lazy}
    assert typed == lazy
    for name in listed:
        assert getattr(DicomManager, name) is not None


def test_the_manager_has_a_name_of_its_own_and_keeps_its_first():
    program = ("from DicomManager import DicomManager, MrmlDicomManager\n"
               "print(MrmlDicomManager.__name__, DicomManager is MrmlDicomManager)")
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert completed.stdout.split() == ["MrmlDicomManager", "True"]


def test_an_array_and_highdicom_segment_descriptions_are_written_as_given(series, tmp_path):
    source = read_source_series_folder(series)
    labels = np.zeros(source.geometry.spatial_shape, dtype=np.uint8)
    labels[1:4, 3:9, 2:7] = 1
    written = write_labelmap_seg(labels, [liver_description()], series, tmp_path, ExportOptions(file_name="a.dcm"))
    assert dciodvfy_errors(written.path) == []
    seg = hd.seg.segread(written.path)
    description = seg.get_segment_description(1)
    assert (description.segmented_property_type, description.segmented_property_category) == (codes.SCT.Liver, codes.SCT.Organ)
    back = seg.get_volume(combine_segments=True).match_geometry(source.geometry)
    np.testing.assert_array_equal(back.array, labels)

    # The same labels given with their affine, on a grid flipped along the slices.
    flipped = hd.Volume(labels, source.geometry.affine, "PATIENT").flip_spatial(axes=[0])
    pair = write_labelmap_seg((flipped.array, flipped.affine), [liver_description()], source, tmp_path,
                              ExportOptions(file_name="b.dcm"))
    np.testing.assert_array_equal(read_seg(pair.path, source).labels.array, labels)


def test_pydicom_and_highdicom_codes_are_our_codes():
    segment = SegmentMetadata(1, "Liver", category=codes.SCT.Organ, type=hd.sr.CodedConcept("10200004", "SCT", "Liver"))
    organ = codes.SCT.Organ
    assert segment.category == Code(organ.value, organ.scheme_designator, organ.meaning)
    assert segment.type == Code("10200004", "SCT", "Liver")


def test_read_seg_takes_the_reference_as_a_folder_or_files():
    grid = read_source_series_folder(CT).geometry
    expected = read_seg(shared_data("dcmqi/liver.dcm"), grid).labels.array
    for reference in (str(CT), CT, sorted(CT.iterdir()), read_source_series_folder(CT)):
        np.testing.assert_array_equal(read_seg(shared_data("dcmqi/liver.dcm"), reference).labels.array, expected)


def test_anything_else_is_refused_by_argument_name(series, tmp_path):
    source = read_source_series_folder(series)
    with pytest.raises(InvalidSegmentationError, match="labels: expected a highdicom Volume.*not str"):
        write_labelmap_seg("labels.nrrd", [liver_description()], source, tmp_path)
    with pytest.raises(GeometryMismatchError, match=r"labels: an array without an affine must have the source grid's shape"):
        write_labelmap_seg(np.zeros((2, 2, 2), np.uint8), [liver_description()], source, tmp_path)
    with pytest.raises(InvalidSegmentationError, match="segments\\[0\\]: expected a SegmentMetadata.*not dict"):
        write_labelmap_seg(np.zeros(source.geometry.spatial_shape, np.uint8), [{"number": 1}], source, tmp_path)
    with pytest.raises(InvalidSegmentationError, match=r"Segment 1 \('Liver'\): type: expected a Code .* not str"):
        SegmentMetadata(1, "Liver", type="Liver")
    with pytest.raises(SourceSeriesError, match="reference: expected a highdicom VolumeGeometry.*not int"):
        read_seg(shared_data("dcmqi/liver.dcm"), 42)
    with pytest.raises(InvalidSegmentationError, match="segmentation: expected a LayeredSegmentation.*not ndarray"):
        build_segmentation(np.zeros(source.geometry.spatial_shape, np.uint8), source)
    assert list(tmp_path.iterdir()) == []


def test_segment_metadata_is_frozen_and_checked_when_made():
    segment = SegmentMetadata(number=np.int64(3), label="Spleen", color=[1, 2, 3], algorithm_type="SEMIAUTOMATIC")
    assert (type(segment.number), segment.color, segment.algorithm_type) == (int, (1, 2, 3), "SEMIAUTOMATIC")
    with pytest.raises(dataclasses.FrozenInstanceError):
        segment.label = "Liver"
    with pytest.raises(InvalidSegmentationError, match=r"Segment 3 \('x'\): colour \(256, 0, 0\) is not 8-bit RGB"):
        SegmentMetadata(3, "x", color=(256, 0, 0))
    with pytest.raises(InvalidSegmentationError, match="algorithm type 'GUESSED' is not one of"):
        SegmentMetadata(3, "x", algorithm_type="GUESSED")
    with pytest.raises(InvalidSegmentationError, match="from 0 to 65535"):
        SegmentMetadata(70000, "x")


def test_a_layered_segmentation_checks_its_layer_map_and_grid():
    grid = make_grid((3, 4, 4))
    volume = grid.with_array(np.zeros(grid.spatial_shape, np.uint8))
    with pytest.raises(InvalidSegmentationError, match=r"it has no layer for segment\(s\) \[2\]"):
        LayeredSegmentation([volume], demo_segments([1, 2]), {1: 0})
    with pytest.raises(InvalidSegmentationError, match=r"\{1: 1\} names layers that do not exist"):
        LayeredSegmentation([volume], demo_segments([1]), {1: 1})
    smaller = make_grid((3, 4, 3)).with_array(np.zeros((3, 4, 3), np.uint8))
    with pytest.raises(InvalidSegmentationError, match=r"layer 1 is not on layer 0's grid \(shape \(3, 4, 3\), not"):
        LayeredSegmentation([volume, smaller], demo_segments([1]), {1: 0})
    with pytest.raises(InvalidSegmentationError, match="used more than once"):
        LayeredSegmentation([volume], demo_segments([1, 1]), {1: 0})
    described = LayeredSegmentation([volume], [liver_description()], {1: 0})
    assert described.segments[0].type == Code("10200004", "SCT", "Liver")


def test_export_options_are_resolved_whole():
    plan = ExportOptions().plan(Path("out"))
    uid = plan.options.series.series_instance_uid
    assert uid and plan.output_path == Path(f"out/Segmentation_{uid}.dcm")
    assert not hasattr(ExportOptions(), "output_path")


def test_the_dataset_in_memory_is_the_file_written(series, tmp_path):
    source = read_source_series_folder(series)
    labels = np.zeros(source.geometry.spatial_shape, dtype=np.uint8)
    labels[0:3, 2:6, 1:5], labels[2:5, 6:11, 4:9] = 1, 2
    segmentation = LayeredSegmentation.from_labels(source.geometry.with_array(labels), demo_segments([1, 2]))
    (seg,) = build_segmentation(segmentation, source, ExportOptions(compression="jpegls"))
    buffer = io.BytesIO()
    seg.save_as(buffer, enforce_file_format=True)
    (tmp_path / "memory.dcm").write_bytes(buffer.getvalue())
    assert dciodvfy_errors(tmp_path / "memory.dcm") == []
    back = hd.seg.segread(tmp_path / "memory.dcm").get_volume(combine_segments=True).match_geometry(source.geometry)
    np.testing.assert_array_equal(back.array, labels)
    assert pydicom.dcmread(tmp_path / "memory.dcm").file_meta.TransferSyntaxUID == pydicom.uid.JPEGLSLossless

    one = build_labelmap_seg(labels, demo_segments([1, 2]), series)
    assert [item.SegmentLabel for item in one.SegmentSequence] == [item.SegmentLabel for item in seg.SegmentSequence]
    assert one.SeriesInstanceUID != seg.SeriesInstanceUID  # each build resolves its own series
