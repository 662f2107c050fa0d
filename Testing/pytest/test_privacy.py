"""Nothing leaks: synthetic series carry only what the user gave; a SEG copies patient and study, nothing else."""

from __future__ import annotations

import datetime
import getpass
import os
import socket
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from conftest import blob_labels, demo_segments, make_grid, write_series

from DicomManager import ExportOptions, read_source_series, write_labelmap_seg
from DicomManager.core.label_files.label_volume_files import write_label_volume
from DicomManager.core.writing.synthetic_series import SyntheticSeriesInfo
from DicomManager.mrml.storage import read_volume_node

PATIENT_AND_STUDY = [
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientAge", "OtherPatientIDsSequence",
    "StudyInstanceUID", "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName",
]
"""Attributes of the source's Patient and General Study modules set in the test series (all must be copied)."""

SOURCE_ONLY = {
    "InstitutionName": "Secret Hospital",
    "InstitutionAddress": "1 Hidden Road",
    "StationName": "SECRETSCANNER",
    "OperatorsName": "Operator^Olga",
    "PerformingPhysicianName": "Doctor^Dana",
    "DeviceSerialNumber": "SN-998877",
    "ProtocolName": "Secret protocol",
    "SeriesDescription": "Secret series",
}
"""Attributes of the source's equipment, series and images that a SEG has no reason to carry."""


def all_text(dataset: pydicom.Dataset) -> str:
    """Every value in a dataset, sequences and file meta included, as one string to search."""
    values = []

    def visit(ds: pydicom.Dataset) -> None:
        for element in ds:
            if element.VR == "SQ":
                for item in element.value:
                    visit(item)
            elif element.VR not in ("OB", "OW", "OF", "OD", "OL", "UN"):
                values.append(str(element.value))

    visit(dataset.file_meta)
    visit(dataset)
    return "\n".join(values)


def test_synthetic_series_carries_only_what_the_user_gave(scene, manager, tmp_path):
    grid = make_grid((4, 12, 10))
    secret_folder = tmp_path / "jane-doe-private-folder"
    secret_folder.mkdir()
    volume_file = secret_folder / "jane_doe_mri.nrrd"
    voxels = (np.indices(grid.spatial_shape).sum(axis=0) * 5).astype(np.int16)
    write_label_volume(hd.Volume(voxels, grid.affine, "PATIENT"), volume_file)
    old = datetime.datetime(2001, 2, 3, 4, 5, 6).timestamp()
    os.utime(volume_file, (old, old))
    volume = read_volume_node(scene, volume_file)

    info = SyntheticSeriesInfo(patient_id="ANON-7", patient_name="Anon^Seven", series_description="T1")
    source = manager.create_synthetic_series(volume, tmp_path / "dicom", info)

    forbidden = {
        "user name": getpass.getuser(),
        "host name": socket.gethostname(),
        "file name": "jane_doe",
        "folder name": "jane-doe-private-folder",
        "temporary folder": str(tmp_path),
        "today's date": datetime.date.today().strftime("%Y%m%d"),
        "the file's date": "20010203",
    }
    for path in source.paths:
        text = all_text(pydicom.dcmread(path))
        for what, value in forbidden.items():
            assert value not in text, f"{path.name} carries the {what} ({value!r})"
    first = pydicom.dcmread(source.paths[0])
    assert (first.PatientID, first.PatientName, first.SeriesDescription) == ("ANON-7", "Anon^Seven", "T1")


def test_exported_seg_copies_patient_and_study_and_nothing_else(tmp_path):
    grid = make_grid((5, 16, 14))
    paths = write_series(grid, tmp_path / "ct")
    for path in paths:  # a source series as a scanner writes it
        dataset = pydicom.dcmread(path)
        dataset.PatientBirthDate, dataset.PatientSex, dataset.PatientAge = "19700101", "F", "055Y"
        other_id = pydicom.Dataset()
        other_id.PatientID, other_id.TypeOfPatientID = "MRN-1", "TEXT"
        dataset.OtherPatientIDsSequence = [other_id]
        dataset.StudyDate, dataset.StudyTime, dataset.StudyID = "20200101", "101010", "S-5"
        dataset.AccessionNumber, dataset.ReferringPhysicianName = "ACC-42", "Referrer^Rita"
        for keyword, value in SOURCE_ONLY.items():
            setattr(dataset, keyword, value)
        dataset.save_as(path)
    source = read_source_series(paths)
    labels = hd.Volume(blob_labels(grid.spatial_shape, [1, 2]), grid.affine, "PATIENT", grid.frame_of_reference_uid)

    seg_path = write_labelmap_seg(labels, demo_segments([1, 2]), source, tmp_path, ExportOptions(file_name="seg.dcm")).path

    seg = pydicom.dcmread(seg_path)
    original = pydicom.dcmread(paths[0])
    for keyword in PATIENT_AND_STUDY:
        assert keyword in seg and seg[keyword].value == original[keyword].value, keyword
    text = all_text(seg)
    for keyword, value in SOURCE_ONLY.items():
        assert value not in text, f"the SEG carries the source's {keyword}"
    assert not any(part in text for part in Path(tmp_path).parts[1:]), "the SEG carries a path of this machine"
