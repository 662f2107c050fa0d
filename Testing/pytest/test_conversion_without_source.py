"""dicomlabelmapseg convert of a classic SEG alone in its folder: its own frames give the grid, its references are kept.

Inputs are dcmqi's BINARY SEGs; what the LABELMAP must hold comes from highdicom reading the input,
and dcmqi's ``bin2labelsegimage`` converts the same file for comparison.
"""

from __future__ import annotations

import shutil
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pydicom.uid
import pytest
from conftest import dciodvfy_errors, shared_data, tool

from DicomManager.core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID

DCMQI_BINARY_SEGS = ["dcmqi/liver.dcm", "dcmqi/23x38x3/seg/label.seg", "dcmqi/24x38x3/seg/label.seg"]
SEGMENT_KEYWORDS = (
    "SegmentNumber", "SegmentLabel", "SegmentAlgorithmType", "SegmentAlgorithmName", "RecommendedDisplayCIELabValue",
    "SegmentedPropertyCategoryCodeSequence", "SegmentedPropertyTypeCodeSequence", "AnatomicRegionSequence",
)


def convert_alone(seg: pydicom.FileDataset | str, tmp_path, *options: str) -> subprocess.CompletedProcess:
    """``dicomlabelmapseg convert`` of a tree holding only ``seg`` (a file of the test data, or a dataset to write)."""
    tree = tmp_path / "archive"
    tree.mkdir(parents=True)
    if isinstance(seg, str):
        shutil.copy(shared_data(seg), tree / "seg.dcm")
    else:
        seg.save_as(tree / "seg.dcm")
    return subprocess.run([tool("dicomlabelmapseg"), "convert", str(tree), str(tmp_path / "converted"), *options],
                          capture_output=True, text=True, check=False)


def checkable(path, tmp_path):
    """``path``, or its uncompressed twin where it is deflated: dciodvfy cannot parse a deflated dataset."""
    dataset = pydicom.dcmread(path)
    if dataset.file_meta.TransferSyntaxUID != pydicom.uid.DeflatedExplicitVRLittleEndian:
        return path
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dataset.save_as(tmp_path / "inflated.dcm", enforce_file_format=True)
    return tmp_path / "inflated.dcm"


def labels_by_position(path) -> dict[tuple[float, ...], np.ndarray]:
    """Segment numbers per frame position, as highdicom reads the SEG (one label plane per position)."""
    volume = hd.seg.segread(path).get_volume(combine_segments=True, relabel=False)
    positions = volume.get_plane_positions()
    return {tuple(np.round(plane[0].ImagePositionPatient, 3)): volume.array[index] for index, plane in enumerate(positions)}


def assert_same_labels(expected: dict, found: dict) -> None:
    """The labels of every position equal; a position only one side has is empty there."""
    for position in expected.keys() | found.keys():
        plane = expected.get(position, found.get(position))
        np.testing.assert_array_equal(found.get(position, np.zeros_like(plane)), expected.get(position, np.zeros_like(plane)),
                                      err_msg=f"at {position}")


def derivation_uids_by_position(dataset: pydicom.Dataset) -> dict[tuple[float, ...], set[str]]:
    """The source image UIDs each frame position's Derivation Image Sequence names."""
    named: dict[tuple[float, ...], set[str]] = {}
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        position = tuple(np.round([float(v) for v in frame.PlanePositionSequence[0].ImagePositionPatient], 3))
        named.setdefault(position, set()).update(
            str(item.ReferencedSOPInstanceUID)
            for derivation in frame.get("DerivationImageSequence") or []
            for item in derivation.SourceImageSequence
        )
    return named


@pytest.mark.parametrize("compression", ["rle", "deflate"])
@pytest.mark.parametrize("name", DCMQI_BINARY_SEGS)
def test_a_binary_seg_alone_converts_to_the_labelmap_dcmqi_writes(name, compression, tmp_path):
    completed = convert_alone(name, tmp_path, "--compression", compression)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    converted = tmp_path / "converted" / "seg.dcm"
    assert "1 converted, 0 skipped, 0 failed" in completed.stdout
    assert dciodvfy_errors(checkable(converted, tmp_path)) == []

    source = pydicom.dcmread(shared_data(name))
    written = pydicom.dcmread(converted)
    assert written.SOPClassUID == LABELMAP_SEG_SOP_CLASS_UID
    expected = labels_by_position(shared_data(name))
    assert_same_labels(expected, labels_by_position(converted))

    # The segments and the references to the source images are the input's.
    described = {int(item.SegmentNumber): item for item in written.SegmentSequence}
    for item in source.SegmentSequence:
        for keyword in SEGMENT_KEYWORDS:
            assert described[int(item.SegmentNumber)].get(keyword) == item.get(keyword), keyword
    assert written.ReferencedSeriesSequence == source.ReferencedSeriesSequence
    assert written.StudyInstanceUID == source.StudyInstanceUID and written.PatientID == source.PatientID
    assert written.FrameOfReferenceUID == source.FrameOfReferenceUID
    named, named_before = derivation_uids_by_position(written), derivation_uids_by_position(source)
    assert named and all(named[position] == named_before[position] for position in named)

    # dcmqi's own conversion of the same file holds the same labels at the same positions.
    dcmqi = tmp_path / "dcmqi.dcm"
    dcmqi_run = subprocess.run(
        [tool("bin2labelsegimage"), "--inputDICOM", str(shared_data(name)), "--outputDICOM", str(dcmqi),
         "--compress", compression], capture_output=True, text=True, check=False,
    )
    assert dcmqi_run.returncode == 0, dcmqi_run.stdout + dcmqi_run.stderr
    assert_same_labels(labels_by_position(dcmqi), labels_by_position(converted))
    assert written.file_meta.TransferSyntaxUID == pydicom.dcmread(dcmqi, stop_before_pixels=True).file_meta.TransferSyntaxUID


def without_middle_frame(name: str) -> pydicom.FileDataset:
    """A three-frame uncompressed BINARY SEG with its middle frame left out, as writers omit empty frames."""
    dataset = pydicom.dcmread(shared_data(name))
    frame_bytes = dataset.Rows * dataset.Columns // 8
    assert dataset.NumberOfFrames == 3 and (dataset.Rows * dataset.Columns) % 8 == 0
    dataset.PixelData = dataset.PixelData[:frame_bytes] + dataset.PixelData[2 * frame_bytes:3 * frame_bytes]
    del dataset.PerFrameFunctionalGroupsSequence[1]
    dataset.NumberOfFrames = 2
    return dataset


def test_sparse_frames_on_a_regular_grid_convert_with_the_gap_empty(tmp_path):
    sparse = without_middle_frame("dcmqi/liver.dcm")
    completed = convert_alone(sparse, tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    converted = tmp_path / "converted" / "seg.dcm"
    assert dciodvfy_errors(converted) == []
    expected = labels_by_position(tmp_path / "archive" / "seg.dcm")  # highdicom fills the gap with an empty slice
    assert len(expected) == 3 and not list(expected.values())[1].any()
    assert_same_labels(expected, labels_by_position(converted))
    assert pydicom.dcmread(converted, stop_before_pixels=True).NumberOfFrames == 2
    assert derivation_uids_by_position(pydicom.dcmread(converted)) == derivation_uids_by_position(sparse)


def test_frames_that_give_no_regular_grid_are_refused_in_one_line(tmp_path):
    unplaced = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    del unplaced.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    completed = convert_alone(unplaced, tmp_path / "unplaced")
    assert completed.returncode == 1
    failures = [line for line in completed.stderr.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1
    assert "seg.dcm: frame 2 has no PlanePositionSequence" in failures[0]
    assert "Without its source series the grid comes from the frames alone" in failures[0]

    uneven = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    position = uneven.PerFrameFunctionalGroupsSequence[2].PlanePositionSequence[0]
    position.ImagePositionPatient = [*position.ImagePositionPatient[:2], float(position.ImagePositionPatient[2]) - 0.3]
    completed = convert_alone(uneven, tmp_path / "uneven")
    assert completed.returncode == 1
    failures = [line for line in completed.stderr.splitlines() if line.startswith("failed:")]
    assert len(failures) == 1 and "share no common spacing" in failures[0], completed.stderr
    assert not (tmp_path / "unplaced" / "converted" / "seg.dcm").exists()
    assert not (tmp_path / "uneven" / "converted" / "seg.dcm").exists()


def test_overlapping_segments_alone_keep_every_segment_and_their_references(tmp_path):
    completed = convert_alone("dcmqi/partial_overlaps.dcm", tmp_path, "--overlap", "layers")
    assert completed.returncode == 0, completed.stdout + completed.stderr
    layers = sorted((tmp_path / "converted").glob("seg_layer*.dcm"))
    assert len(layers) >= 2
    source = hd.seg.segread(shared_data("dcmqi/partial_overlaps.dcm"))
    original = pydicom.dcmread(shared_data("dcmqi/partial_overlaps.dcm"), stop_before_pixels=True)
    found_segments = set()
    for layer in layers:
        assert dciodvfy_errors(layer) == []
        written = hd.seg.segread(layer)
        assert written.ReferencedSeriesSequence == original.ReferencedSeriesSequence
        for number in written.get_segment_numbers():
            found_segments.add(number)
            expected = source.get_volume(segment_numbers=[number], combine_segments=True, relabel=False)
            got = written.get_volume(segment_numbers=[number], combine_segments=True, relabel=False)
            mine = {tuple(np.round(p[0].ImagePositionPatient, 3)): got.array[i] for i, p in enumerate(got.get_plane_positions())}
            theirs = {tuple(np.round(p[0].ImagePositionPatient, 3)): expected.array[i]
                      for i, p in enumerate(expected.get_plane_positions())}
            assert_same_labels(theirs, mine)
    assert found_segments == set(source.get_segment_numbers())


def test_frames_without_a_slice_thickness_get_their_slice_spacing(tmp_path):
    thin = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    del thin.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SliceThickness
    completed = convert_alone(thin, tmp_path)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    written = pydicom.dcmread(tmp_path / "converted" / "seg.dcm", stop_before_pixels=True)
    measures = written.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SliceThickness) == float(thin.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
                                                   .SpacingBetweenSlices) == 1.0
    converted = labels_by_position(tmp_path / "converted" / "seg.dcm")
    assert_same_labels(labels_by_position(shared_data("dcmqi/liver.dcm")), converted)  # highdicom refuses the input
