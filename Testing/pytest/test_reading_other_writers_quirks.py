"""What real writers write that the plain reading would refuse or get wrong: frames a little off the images they
name, palette colours, tiled classic slide SEGs, surplus per-frame items.

Every input is a file of another writer (``../shared/testdata``) or one that
highdicom or pydicom writes here from one; the expected labels are highdicom's
reading of the same file.
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import highdicom_identity, shared_data

from DicomManager import read_seg
from DicomManager.core.geometry.source_series import reference_of_folder
from DicomManager.errors import GeometryMismatchError

CT2 = "pydicom/CT2"  # four CT slices 1.25 mm apart, with a gap of 162 slices after the first
CT2_SLICE_SPACING = 1.25


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("dicomlabelmapseg")), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def shifted_along_the_slices(dataset: pydicom.Dataset, offsets_in_slices: list[float]) -> pydicom.Dataset:
    """A copy of ``dataset`` whose frame ``i`` lies ``offsets_in_slices[i]`` slices (of CT2) further along z."""
    shifted = copy.deepcopy(dataset)
    for group, offset in zip(shifted.PerFrameFunctionalGroupsSequence, offsets_in_slices, strict=True):
        item = group.PlanePositionSequence[0]
        x, y, z = (float(value) for value in item.ImagePositionPatient)
        item.ImagePositionPatient = [f"{x:.6f}", f"{y:.6f}", f"{z + offset * CT2_SLICE_SPACING:.6f}"]
    return shifted


def ct2_slice_of_each_image(grid: hd.VolumeGeometry) -> dict[str, int]:
    slices = {}
    for path in sorted(shared_data(CT2).iterdir()):
        image = pydicom.dcmread(path, stop_before_pixels=True)
        index = grid.map_reference_to_indices(np.array([image.ImagePositionPatient], dtype=float), round_output=False)[0, 0]
        assert abs(index - round(index)) < 1e-3
        slices[str(image.SOPInstanceUID)] = int(round(index))
    return slices


def labelmap_over_ct2_by_highdicom() -> tuple[hd.seg.Segmentation, list[str]]:
    """A three-segment LABELMAP that highdicom writes over CT2, one frame per source image."""
    images = [pydicom.dcmread(path) for path in sorted(shared_data(CT2).iterdir())]
    labels = np.zeros((len(images), int(images[0].Rows), int(images[0].Columns)), dtype=np.uint8)
    labels[0, 2:6, 3:9] = 1
    labels[1, 4:12, 4:10] = 2
    labels[2, 6:14, 1:5] = 3
    labels[3, 1:3, 1:15] = 2
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"Lesion {number}",
            segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
            segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number in (1, 2, 3)
    ]
    seg = hd.seg.Segmentation(
        source_images=images,
        pixel_array=labels,
        segmentation_type="LABELMAP",
        segment_descriptions=descriptions,
        omit_empty_frames=False,
        **highdicom_identity(),
    )
    return seg, [str(image.SOPInstanceUID) for image in images]


def test_frames_off_the_images_they_name_go_on_those_images_slices(tmp_path, caplog):
    """highdicom's two-segment BINARY SEG over CT2, every frame moved 2 % of a slice off the image it names."""
    reference = reference_of_folder(shared_data(CT2))
    original = pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary_overlap.dcm"))
    path = tmp_path / "shifted.dcm"
    shifted_along_the_slices(original, [0.02] * int(original.NumberOfFrames)).save_as(path)

    with pytest.raises(GeometryMismatchError, match=r"8 frame\(s\) lie between the slices or voxels of the grid: frame\(s\) 1, "):
        read_seg(path, reference.geometry)  # without the images' positions nothing is shifted
    with caplog.at_level(logging.WARNING):
        result = read_seg(path, reference.geometry, image_positions=reference.image_positions)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "8 frame(s) lie up to 0.025 mm (2.0 % of a slice)" in warnings[0]

    theirs = hd.seg.segread(path)
    slices = ct2_slice_of_each_image(reference.geometry)
    uids = list(slices)
    by_source = theirs.get_pixels_by_source_instance(uids, skip_overlap_checks=True)  # (images, rows, columns, segments)
    for position, number in enumerate(theirs.segment_numbers):
        layer = result.layers[result.layer_of_segment[number]].array
        ours = layer[[slices[uid] for uid in uids]] == number
        np.testing.assert_array_equal(ours, by_source[..., position].astype(bool), err_msg=f"segment {number}")
        assert ours.any()
        others = np.ones(layer.shape[0], dtype=bool)
        others[list(slices.values())] = False
        assert not (layer[others] == number).any()


def test_a_labelmap_whose_frames_drift_from_their_images_loads_with_the_largest_offset(tmp_path, caplog):
    seg, uids = labelmap_over_ct2_by_highdicom()
    path = tmp_path / "drifting.dcm"
    shifted_along_the_slices(seg, [0.005, -0.01, 0.015, 0.02]).save_as(path)
    reference = reference_of_folder(shared_data(CT2))
    with caplog.at_level(logging.WARNING):
        result = read_seg(path, reference.geometry, image_positions=reference.image_positions)
    # 0.5 % of a slice is on the slice already (within the grid's 1 %): three frames are moved.
    assert "3 frame(s) lie up to 0.025 mm (2.0 % of a slice)" in caplog.text
    slices = ct2_slice_of_each_image(reference.geometry)
    theirs = hd.seg.segread(path).get_pixels_by_source_instance(uids, combine_segments=True)
    np.testing.assert_array_equal(result.labels.array[[slices[uid] for uid in uids]], theirs)
    assert np.count_nonzero(result.labels.array) == np.count_nonzero(theirs) > 0


def test_only_the_frames_that_fit_no_slice_are_refused_by_number(tmp_path):
    seg, _ = labelmap_over_ct2_by_highdicom()
    path = tmp_path / "one-too-far.dcm"
    shifted_along_the_slices(seg, [0.02, 0.02, 0.4, 0.02]).save_as(path)  # frame 3: nearer the next slice than its own
    reference = reference_of_folder(shared_data(CT2))
    with pytest.raises(GeometryMismatchError, match=r"1 frame\(s\) .* away from the source images they name: frame\(s\) 3 "):
        read_seg(path, reference.geometry, image_positions=reference.image_positions)


def test_frames_that_name_no_source_image_are_still_placed_exactly(tmp_path):
    seg, _ = labelmap_over_ct2_by_highdicom()
    anonymous = shifted_along_the_slices(seg, [0.02] * 4)
    for group in anonymous.PerFrameFunctionalGroupsSequence:
        del group.DerivationImageSequence
    path = tmp_path / "anonymous.dcm"
    anonymous.save_as(path)
    reference = reference_of_folder(shared_data(CT2))
    with pytest.raises(GeometryMismatchError, match=r"4 frame\(s\) lie between the slices"):
        read_seg(path, reference.geometry, image_positions=reference.image_positions)


def test_import_with_reference_places_such_frames_and_warns_once(tmp_path):
    seg, _ = labelmap_over_ct2_by_highdicom()
    path = tmp_path / "shifted.dcm"
    shifted_along_the_slices(seg, [0.02] * 4).save_as(path)
    output = tmp_path / "out.seg.nrrd"
    completed = run_cli("import", str(path), "--reference", str(shared_data(CT2)), "--output", str(output))
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.count("from the source images they name") == 1 and "0.025 mm" in completed.stderr
    assert output.exists()
