"""Migrating a run folder and a gold standard to DICOM, and the preview picture, on real files."""

from __future__ import annotations

import hashlib
import json
import subprocess

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, dciodvfy_errors, demo_segments, make_grid, shared_data, tool
from PIL import Image

from DicomManager import read_seg, read_source_series_folder
from DicomManager.batch.run_layout import read_run_folder
from DicomManager.cli.main import main
from DicomManager.core.geometry.grids import check_same_voxel_grid
from DicomManager.core.label_files.label_volume_files import read_label_volume, write_label_volume
from DicomManager.core.reading.seg_info import segments_of
from DicomManager.errors import MetadataFileError
from DicomManager.mrml.segmentation_nodes import create_segmentation_node
from DicomManager.mrml.storage import write_segmentation_file

RESULTS = {
    "sample_data": "MRHead",
    "run": "run_A",
    "best_trial": 1,
    "trials": [
        {"trial": 0, "algorithm": "watershed", "parameters": {"level": 0.3, "sigma": 1}, "score": 0.81},
        {"trial": 1, "algorithm": "otsu_threshold", "parameters": {"bins": 128}, "score": 0.86},
        {"trial": 3, "algorithm": "level_set", "parameters": {"iterations": 50}},
    ],
}


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


RUN_GRID = make_grid((6, 24, 20))


def run_voxels() -> np.ndarray:
    """The run's volume: a ramp, so that each segment's statistics differ."""
    return (np.indices(RUN_GRID.spatial_shape).sum(axis=0) * 7).astype(np.int16)


def trial_labels(number: int) -> np.ndarray:
    """The labels of trial ``number`` (0, 1, 2), segments 1 and 2."""
    return blob_labels(RUN_GRID.spatial_shape, [1, 2], seed=number)


@pytest.fixture
def run_folder(tmp_path, scene):
    """A run like the optimization results this is for: a NRRD volume, trials 0..3 (3 broken), results.json."""
    grid = RUN_GRID
    volume_file = tmp_path / "MRHead.nrrd"
    write_label_volume(hd.Volume(run_voxels(), grid.affine, "PATIENT"), volume_file)
    run = tmp_path / "optimization_results" / "run_A"
    (run / "segmentations").mkdir(parents=True)
    for number in (0, 1, 2):
        labels = hd.Volume(trial_labels(number), grid.affine, "PATIENT")
        node = create_segmentation_node(scene, labels, demo_segments([1, 2]), f"trial {number}")
        write_segmentation_file(node, run / "segmentations" / f"trial_{number:03d}.seg.nrrd")
    (run / "segmentations" / "trial_003.seg.nrrd").write_bytes(b"NRRD0004\nnot really\n")
    (run / "results.json").write_text(json.dumps(RESULTS))
    return run, volume_file


def test_run_folder_migrates_with_linked_records_and_a_report(run_folder, capsys):
    run, volume_file = run_folder
    inputs = {path.name: digest(path) for path in (run / "segmentations").iterdir()}
    assert main(["migrate", str(run), "--reference", str(volume_file)]) == 1  # trial 3 is broken
    assert "3 migrated, 0 already done, 1 failed" in capsys.readouterr().out
    assert {path.name: digest(path) for path in (run / "segmentations").iterdir()} == inputs  # old files untouched

    volume = read_source_series_folder(run / "dicom" / "volume")
    first = volume.datasets[0]
    assert (first.PatientID, first.StudyDescription, first.PatientName) == ("MRHead", "run_A", "")
    assert dciodvfy_errors(volume.paths[0]) == []

    results = json.loads((run / "results.json").read_text())
    assert results["dicom"] == {
        "patient_id": "MRHead",
        "study_instance_uid": first.StudyInstanceUID,
        "volume_series_uid": volume.series_instance_uid,
        "volume_description": "MRHead",
    }
    assert results["best_trial"] == 1 and results["trials"][0]["score"] == 0.81  # the rest is kept
    assert json.loads((run / "results.json.before-dicom").read_text()) == RESULTS
    by_trial = {record["trial"]: record for record in results["trials"]}
    assert sorted(by_trial) == [0, 1, 2, 3]  # trial 2 had no record and got one
    assert "dicom_seg_path" not in by_trial[3]

    for number, description, family in ((0, "trial_000_watershed", "123104"), (1, "trial_001_otsu_threshold", "123105"),
                                         (2, "trial_002", None)):
        record = by_trial[number]
        path = run / record["dicom_seg_path"]
        seg = pydicom.dcmread(path, stop_before_pixels=True)
        assert seg.SeriesInstanceUID == record["dicom_series_uid"]
        assert seg.SeriesDescription == description
        assert (seg.StudyInstanceUID, seg.FrameOfReferenceUID) == (first.StudyInstanceUID, first.FrameOfReferenceUID)
        assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == volume.series_instance_uid
        segment = segments_of(seg, path)[0]
        assert segment.label == "Structure 1"
        if family:
            assert segment.algorithm_name == RESULTS["trials"][number]["algorithm"]
            assert segment.algorithm_identification.family.value == family
            assert json.loads(segment.algorithm_identification.parameters) == RESULTS["trials"][number]["parameters"]
        else:
            assert segment.algorithm_identification is None
        assert dciodvfy_errors(path) == []

    report = json.loads((run / "dicom" / "migration_report.json").read_text())
    outcomes = {outcome["name"]: outcome for outcome in report["outcomes"]}
    assert [outcomes[f"trial_00{n}"]["round_trip"] for n in (0, 1, 2)] == ["exact"] * 3
    assert outcomes["trial_003"]["status"] == "failed" and "trial_003.seg.nrrd" in outcomes["trial_003"]["error"]
    markdown = (run / "dicom" / "migration_report.md").read_text()
    assert "trial_003.seg.nrrd" in markdown and "failed" in markdown
    for number in (0, 1, 2):
        assert f"![trial_00{number}](previews/trial_00{number}.png)" in markdown
        assert Image.open(run / "dicom" / "previews" / f"trial_00{number}.png").size[0] > 300


def test_rerun_skips_what_is_done_and_retries_what_failed(run_folder, scene, capsys):
    run, volume_file = run_folder
    main(["migrate", str(run), "--reference", str(volume_file)])
    volume_uid = read_source_series_folder(run / "dicom" / "volume").series_instance_uid
    written = {path.name: digest(path) for path in (run / "dicom" / "segmentations").iterdir()}
    grid = read_source_series_folder(run / "dicom" / "volume").geometry
    labels = hd.Volume(blob_labels(grid.spatial_shape, [4], seed=3), grid.affine, "PATIENT")
    write_segmentation_file(create_segmentation_node(scene, labels, demo_segments([4]), "fixed"),
                            run / "segmentations" / "trial_003.seg.nrrd", overwrite=True)
    capsys.readouterr()
    assert main(["migrate", str(run), "--reference", str(volume_file), "--verify"]) == 0
    assert "1 migrated, 3 already done, 0 failed" in capsys.readouterr().out
    assert read_source_series_folder(run / "dicom" / "volume").series_instance_uid == volume_uid  # made once
    assert all(digest(run / "dicom" / "segmentations" / name) == value for name, value in written.items())
    report = json.loads((run / "dicom" / "migration_report.json").read_text())
    assert {outcome["round_trip"] for outcome in report["outcomes"]} == {"exact"}
    results = json.loads((run / "results.json").read_text())
    seg = read_seg(run / [r for r in results["trials"] if r["trial"] == 3][0]["dicom_seg_path"])
    assert [segment.algorithm_name for segment in seg.segments] == ["level_set"]


@pytest.mark.parametrize("crop", [False, True])
def test_gold_standard_over_a_dicom_reference(tmp_path, scene, crop):
    gold = tmp_path / "GoldStandards" / "liver"
    gold.mkdir(parents=True)
    labels = read_label_volume(shared_data("dcmqi/liver_seg.nrrd"))
    node = create_segmentation_node(scene, labels, demo_segments([1]), "liver")
    write_segmentation_file(node, gold / "liver.seg.nrrd")
    (gold / "metadata.json").write_text(json.dumps({"sample_data": "CT", "annotator": "Dr. A", "algorithm": "manual"}))
    flags = ["--crop-to-segments"] if crop else []
    # Exit status 0: the SEG read back equals the .seg.nrrd, voxel for voxel.
    assert main(["migrate", str(gold), "--reference", str(shared_data("dcmqi/ct-3slice")), *flags]) == 0
    metadata = json.loads((gold / "metadata.json").read_text())
    assert metadata["annotator"] == "Dr. A"
    assert metadata["dicom_seg_path"] == "dicom/gold.dcm"
    source = read_source_series_folder(shared_data("dcmqi/ct-3slice"))
    assert metadata["dicom"]["volume_series_uid"] == source.series_instance_uid
    assert metadata["dicom"]["patient_id"] == source.datasets[0].PatientID  # a DICOM reference keeps its patient
    seg = pydicom.dcmread(gold / "dicom" / "gold.dcm", stop_before_pixels=True)
    assert seg.SeriesDescription == "gold_liver"
    assert ((seg.Rows, seg.Columns) != (source.datasets[0].Rows, source.datasets[0].Columns)) == crop
    assert segments_of(seg, "gold")[0].algorithm_identification.family.meaning == "Manual Processing"
    assert not (gold / "dicom" / "volume").exists()


def test_folder_that_is_neither_run_nor_gold_standard_is_refused(tmp_path):
    with pytest.raises(MetadataFileError, match="neither results.json"):
        read_run_folder(tmp_path)


def test_preview_command_draws_segments_in_their_colours(tmp_path, capsys):
    output = tmp_path / "liver.png"
    seg = shared_data("dcmqi/liver.dcm")
    assert main(["preview", str(seg), "--reference", str(shared_data("dcmqi/ct-3slice")), "--output", str(output)]) == 0
    colour = read_seg(seg).segments[0].color
    pixels = np.asarray(Image.open(output).convert("RGB")).reshape(-1, 3)
    assert (pixels == colour).all(axis=1).any()  # the legend swatch
    overlay = np.abs(pixels.astype(int) - colour).sum(axis=1) < 120
    assert overlay.sum() > 1000  # the liver over the CT
    assert main(["preview", str(seg), "--output", str(output)]) == 1  # never replaced unasked


def test_nifti_reference_volume_gets_the_same_synthetic_series(run_folder, scene, tmp_path):
    """A NIfTI volume (RAS on disk) is as good a reference as its NRRD twin: same grid, same voxels."""
    run, volume_file = run_folder
    nifti = tmp_path / "MRHead.nii.gz"
    write_label_volume(read_label_volume(volume_file), nifti)
    assert main(["migrate", str(run), "--reference", str(nifti)]) == 1  # trial 3 is broken, as before
    volume = read_source_series_folder(run / "dicom" / "volume")
    original = read_label_volume(volume_file)
    check_same_voxel_grid(volume.geometry, original.get_geometry(), "the synthetic series")  # axes may be flipped
    results = json.loads((run / "results.json").read_text())
    assert read_seg(run / results["trials"][0]["dicom_seg_path"], volume.geometry).segments[0].label == "Structure 1"


def test_migrate_measurements_writes_one_report_per_trial_beside_its_seg_and_links_it(run_folder):
    """``dicomlabelmapseg migrate --measurements``: reports read back with highdicom, values computed from the run's inputs."""
    run, volume_file = run_folder
    command = [tool("dicomlabelmapseg"), "migrate", str(run), "--reference", str(volume_file), "--measurements"]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert completed.returncode == 1, completed.stderr  # trial 3 is broken
    voxels = run_voxels().astype(float)
    voxel_volume = abs(np.linalg.det(RUN_GRID.affine[:3, :3]))

    by_trial = {record["trial"]: record for record in json.loads((run / "results.json").read_text())["trials"]}
    assert "dicom_measurements_path" not in by_trial[3]
    reports = {}
    for number in (0, 1, 2):
        record = by_trial[number]
        assert record["dicom_measurements_path"] == f"dicom/segmentations/trial_{number:03d}_measurements.dcm"
        report_path = run / record["dicom_measurements_path"]
        seg = pydicom.dcmread(run / record["dicom_seg_path"], stop_before_pixels=True)
        report = hd.sr.srread(report_path)
        assert (report.StudyInstanceUID, report.PatientID) == (seg.StudyInstanceUID, "MRHead")
        labels = trial_labels(number)
        groups = report.content.get_volumetric_roi_measurement_groups()
        assert len(groups) == 2
        for group in groups:
            reference = group.referenced_segment[0].ReferencedSOPSequence[0]
            assert reference.ReferencedSOPInstanceUID == seg.SOPInstanceUID
            segment = int(reference.ReferencedSegmentNumber)
            under = voxels[labels == segment]
            measured = {(m.derivation.meaning if m.derivation else m.name.meaning): m.value for m in group.get_measurements()}
            assert measured == pytest.approx({
                "Number of voxels": under.size, "Volume": under.size * voxel_volume, "Minimum": under.min(),
                "Maximum": under.max(), "Mean": under.mean(), "Median": np.median(under),
                "Standard Deviation": under.std(ddof=1),
            }, rel=1e-9)
        reports[report_path] = digest(report_path)
    errors = dciodvfy_errors(report_path)  # only the validator's: it does not count LABELMAP SEG as a segmentation
    assert len(errors) == 2 and all(error.endswith("for Referenced SOP Class that is not segmentation") for error in errors)
    outcomes = json.loads((run / "dicom" / "migration_report.json").read_text())["outcomes"]
    assert {o["name"]: o["measurements"] for o in outcomes}["trial_000"] == "dicom/segmentations/trial_000_measurements.dcm"

    # Run again: the reports are kept as they are, and still linked.
    assert subprocess.run(command, capture_output=True, text=True, check=False).returncode == 1
    assert {path: digest(path) for path in reports} == reports
    by_trial = {record["trial"]: record for record in json.loads((run / "results.json").read_text())["trials"]}
    assert [by_trial[n]["dicom_measurements_path"] for n in (0, 1, 2)] == [str(p.relative_to(run)) for p in reports]
