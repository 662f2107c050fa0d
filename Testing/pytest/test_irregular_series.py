"""A reference series that is not a regular stack: the refusal says where it breaks, naming files and positions."""

from __future__ import annotations

import shutil
import subprocess
import sys

import highdicom as hd
import pydicom
import pytest
from conftest import shared_data

from DicomManager import read_source_series_folder
from DicomManager.errors import SourceSeriesError

SLICES = 5
STEP_MM = 2.5


def write_stack(folder, positions: list[int]) -> None:
    """Slices ``positions`` (indices) of a stack made with pydicom from a dcmqi CT image, STEP_MM apart."""
    image = pydicom.dcmread(next(iter(sorted(shared_data("dcmqi/ct-3slice").iterdir()))))
    series_uid = hd.UID()
    folder.mkdir()
    x, y, z = (float(v) for v in image.ImagePositionPatient)
    for index in positions:
        image.SeriesInstanceUID = series_uid
        image.SOPInstanceUID = image.file_meta.MediaStorageSOPInstanceUID = hd.UID()
        image.InstanceNumber = index + 1
        image.ImagePositionPatient = [x, y, z + STEP_MM * index]
        image.save_as(folder / f"slice{index + 1}.dcm", enforce_file_format=True)


def test_a_missing_middle_slice_is_named_by_its_neighbours(tmp_path):
    write_stack(tmp_path / "series", [0, 1, 3, 4])
    with pytest.raises(SourceSeriesError) as refused:
        read_source_series_folder(tmp_path / "series")
    message = str(refused.value)
    assert "not a regularly spaced stack" in message
    assert f"{2 * STEP_MM:g} mm between slice2.dcm at" in message and "and slice4.dcm at" in message
    assert f"the other slices are {STEP_MM:g} mm apart" in message


def test_a_duplicated_slice_names_both_files_and_the_position(tmp_path):
    write_stack(tmp_path / "series", list(range(SLICES)))
    copy = pydicom.dcmread(tmp_path / "series" / "slice3.dcm")
    copy.SOPInstanceUID = copy.file_meta.MediaStorageSOPInstanceUID = hd.UID()
    copy.save_as(tmp_path / "series" / "slice3_again.dcm", enforce_file_format=True)
    with pytest.raises(SourceSeriesError) as refused:
        read_source_series_folder(tmp_path / "series")
    position = "(" + ", ".join(f"{float(v):g}" for v in copy.ImagePositionPatient) + ")"
    assert f"slice3.dcm and slice3_again.dcm are both at {position}" in str(refused.value)


def test_pydicoms_series_with_a_gap_is_refused_in_one_line_naming_it(tmp_path):
    """pydicom's CT2 test series: four slices with a 202.5 mm gap after the first, refused by the command line."""
    shutil.copytree(shared_data("pydicom/CT2"), tmp_path / "CT2")
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "export", "--reference", tmp_path / "CT2",
         "--segmentation", shared_data("dcmqi/23x38x3/nrrd/label.nrrd"), "--output", tmp_path / "seg.dcm"],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1, completed.stderr
    assert "202.5 mm between 17106 at (-125, -128.1, -99.48) and 17136 at (-125, -128.1, 103.02)" in completed.stderr
    assert not (tmp_path / "seg.dcm").exists()
