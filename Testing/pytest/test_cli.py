"""The ``dicomlabelmapseg`` command line, end to end on real files."""

from __future__ import annotations

import gc
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
from conftest import on_grid, shared_data

from DicomManager import read_seg, read_source_series_folder
from DicomManager.cli.main import main
from DicomManager.core.label_files.label_volume_files import read_label_volume, write_label_volume
from DicomManager.mrml.storage import read_segmentation_file


def test_export_label_volume_with_dcmqi_metadata_then_import(tmp_path, scene, capsys):
    output = tmp_path / "out" / "liver_spine.dcm"
    arguments = [
        "export", "--reference", str(shared_data("dcmqi/ct-3slice")),
        "--segmentation", str(shared_data("dcmqi/liver_spine_gapped_seg.nrrd")),
        "--metadata", str(shared_data("dcmqi/metadata/seg-example_liver_spine_gapped.json")),
        "--output", str(output), "--compression", "jpegls",
    ]
    assert main(arguments) == 0
    dataset = pydicom.dcmread(output, stop_before_pixels=True)
    assert dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert [(s.SegmentNumber, s.SegmentLabel) for s in dataset.SegmentSequence] == [
        (0, "Background"), (1, "Liver"), (5, "Thoracic spine")
    ]
    assert dataset.SegmentSequence[1].SegmentAlgorithmName == "SlicerEditor"
    assert dataset.ContentCreatorName == "Doe^John"

    # An existing output is never replaced without --force.
    before = output.read_bytes()
    assert main(arguments) == 1
    assert "exists already" in capsys.readouterr().err
    assert output.read_bytes() == before
    assert main([*arguments, "--force"]) == 0

    seg_nrrd, label_nrrd = tmp_path / "back.seg.nrrd", tmp_path / "back.nrrd"
    reference = shared_data("dcmqi/ct-3slice")
    assert main(["import", str(output), "--output", str(seg_nrrd), "--labelmap", str(label_nrrd),
                 "--reference", str(reference)]) == 0
    grid = read_source_series_folder(reference).geometry
    original = on_grid(read_label_volume(shared_data("dcmqi/liver_spine_gapped_seg.nrrd")), grid)
    np.testing.assert_array_equal(on_grid(read_label_volume(label_nrrd), grid), original)
    node = read_segmentation_file(scene, seg_nrrd)
    segmentation = node.GetSegmentation()
    names = {segmentation.GetSegment(i).GetLabelValue(): segmentation.GetSegment(i).GetName()
             for i in segmentation.GetSegmentIDs()}
    assert names == {1: "Liver", 5: "Thoracic spine"}


def test_export_from_seg_nrrd_round_trips(tmp_path, scene):
    first, seg_nrrd, second = tmp_path / "a.dcm", tmp_path / "a.seg.nrrd", tmp_path / "b.dcm"
    reference = str(shared_data("dcmqi/ct-3slice"))
    assert main(["export", "--reference", reference, "--segmentation", str(shared_data("dcmqi/liver_spine_seg.nrrd")),
                 "--metadata", str(shared_data("dcmqi/metadata/seg-example_liver_spine.json")),
                 "--output", str(first), "--series-description", "Liver and spine"]) == 0
    assert main(["import", str(first), "--output", str(seg_nrrd)]) == 0
    assert main(["export", "--reference", reference, "--segmentation", str(seg_nrrd), "--output", str(second)]) == 0
    a, b = read_seg(first), read_seg(second)
    np.testing.assert_array_equal(a.labels.array, b.labels.array)
    assert a.segments == b.segments
    assert a.info.series_description == "Liver and spine"


def test_info_json_describes_segments(tmp_path, capsys):
    assert main(["info", str(shared_data("dcmqi/sparse-labelmap-ppv5.dcm")), "--json"]) == 0
    assert gc.isenabled()  # paused for the one-file command only
    document = json.loads(capsys.readouterr().out)
    assert document["info"]["pixel_padding_value"] == 5
    assert len(document["info"]["referenced_instance_uids"]) == 2
    assert [s["label"] for s in document["segments"]] == ["Liver"]


def test_a_process_ending_with_the_command_collects_garbage_only_for_many_files(tmp_path):
    """As the program runs it (collector off from the start): a one-file command leaves it off, convert turns it on."""
    gc.disable()
    try:
        assert main(["info", str(shared_data("dcmqi/sparse-labelmap-ppv5.dcm"))], process_ends=True) == 0
        assert not gc.isenabled()
        main(["convert", str(tmp_path), str(tmp_path / "out"), "--workers", "1"], process_ends=True)
        assert gc.isenabled()
    finally:
        gc.enable()


def test_errors_exit_non_zero_with_the_reason(tmp_path, capsys):
    assert main(["info", str(tmp_path / "missing.dcm")]) == 1
    assert "missing.dcm: no such file" in capsys.readouterr().err


def test_demo_command_runs_as_a_process(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "demo", "--output", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "voxels identical, segment metadata identical" in completed.stdout
    assert (tmp_path / "demo_seg.dcm").is_file()


def test_export_nifti_label_volume(tmp_path, scene):
    """A .nii.gz label volume (NIfTI, RAS on disk) exports onto the reference grid like its NRRD twin."""
    reference = shared_data("dcmqi/ct-3slice")
    original = read_label_volume(shared_data("dcmqi/liver_spine_gapped_seg.nrrd"))
    nifti = tmp_path / "labels.nii.gz"
    write_label_volume(original, nifti)
    from_nifti, from_nrrd = tmp_path / "nifti.dcm", tmp_path / "nrrd.dcm"
    metadata = str(shared_data("dcmqi/metadata/seg-example_liver_spine_gapped.json"))
    for source, output in ((nifti, from_nifti), (shared_data("dcmqi/liver_spine_gapped_seg.nrrd"), from_nrrd)):
        assert main(["export", "--reference", str(reference), "--segmentation", str(source),
                     "--metadata", metadata, "--output", str(output)]) == 0
    grid = read_source_series_folder(reference).geometry
    a, b = read_seg(from_nifti, grid), read_seg(from_nrrd, grid)
    np.testing.assert_array_equal(a.labels.array, b.labels.array)
    np.testing.assert_array_equal(a.labels.array, on_grid(original, grid))
    assert a.segments == b.segments and [s.number for s in a.segments] == [1, 5]


def test_demo_refuses_an_earlier_run_unless_forced_and_says_where_its_files_are(tmp_path):
    def demo(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(Path(sys.executable).with_name("dicomlabelmapseg")), "demo", *arguments],
                              capture_output=True, text=True, check=False, cwd=tmp_path)

    first = demo("--output", "kept")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1] == "The files are kept in kept."
    seg = tmp_path / "kept" / "demo_seg.dcm"
    written = seg.read_bytes()
    again = demo("--output", "kept")
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        "error: kept/demo_seg.dcm: exists already; nothing was replaced. Give --force to replace it."]
    assert seg.read_bytes() == written
    forced = demo("--output", "kept", "--force")
    assert forced.returncode == 0, forced.stderr
    assert pydicom.dcmread(seg).SOPInstanceUID != pydicom.dcmread(io.BytesIO(written)).SOPInstanceUID

    temporary = demo()
    assert temporary.returncode == 0, temporary.stderr
    last = temporary.stdout.splitlines()[-1]
    folder = re.fullmatch(r"The files were in a temporary folder, (.+), deleted now; give --output DIR to keep them\.", last)
    assert folder is not None, last
    assert f"to {folder[1]}/demo_seg.dcm" in temporary.stdout
    assert not Path(folder[1]).exists()
