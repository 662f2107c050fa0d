"""The synthetic CT series made for volumes that did not come from DICOM: valid DICOM, every decimal within 16 characters."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pydicom
from conftest import dciodvfy_errors, make_grid
from test_faults import migration_run

from DicomManager.core.writing.synthetic_series import SyntheticSeriesInfo, write_ct_series

NEAR_A_POWER_OF_TEN = (-99.99999999999994, -9.999999999999996, 999.9999999999999)
"""Positions pydicom's formatting rounds up past a power of ten: one character too long, were they kept so."""


def stored_decimal_strings(path) -> list[str]:
    """Every DS value of the file's top level as stored, before pydicom converts it to a number."""
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    values = []
    for tag in sorted(dataset.keys()):
        raw = dataset.get_item(tag)
        if raw.VR == "DS" and raw.value:
            values += raw.value.decode("ascii").strip(" ").split("\\")
    return values


def test_positions_near_a_power_of_ten_are_written_within_16_characters(tmp_path):
    grid = make_grid((3, 8, 8), origin=NEAR_A_POWER_OF_TEN, spacing=(1 / 3, 0.7, 0.1))
    voxels = np.arange(3 * 8 * 8, dtype=np.int16).reshape(3, 8, 8)
    paths = write_ct_series(voxels, grid, tmp_path, SyntheticSeriesInfo(patient_id="P"))
    for path in paths:
        assert dciodvfy_errors(path) == []
        stored = stored_decimal_strings(path)
        assert len(stored) >= 3 + 6 + 2 + 3 and all(len(value) <= 16 for value in stored), stored
    first = pydicom.dcmread(paths[0])
    assert np.allclose([float(v) for v in first.ImagePositionPatient], NEAR_A_POWER_OF_TEN, atol=1e-9)


def test_migrate_over_a_nrrd_volume_writes_a_valid_series(tmp_path, scene):
    """migrate --reference volume.nrrd: the synthetic series it makes passes dciodvfy, as the SEGs do."""
    run = migration_run(tmp_path / "run", scene, origin=NEAR_A_POWER_OF_TEN)
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "migrate", str(run), "--reference", str(run / "volume.nrrd")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    images = sorted((run / "dicom/volume").iterdir())
    assert len(images) == 6
    for path in [*images, *(run / "dicom/segmentations").iterdir()]:
        assert dciodvfy_errors(path) == [], path
