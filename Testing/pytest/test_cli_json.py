"""``--json`` of the installed ``dicomlabelmapseg``: one JSON object on standard output, read back by a pipeline."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pydicom
from conftest import PROJECT_ROOT, shared_data

PROGRAM = str(Path(sys.executable).with_name("dicomlabelmapseg"))
CT = str(shared_data("dcmqi/ct-3slice"))
LABELS = str(shared_data("dcmqi/liver_spine_gapped_seg.nrrd"))
METADATA = str(shared_data("dcmqi/metadata/seg-example_liver_spine_gapped.json"))
SYNGO = str(shared_data("public/syngo_va11a.seg.dcm"))


def run_json(*arguments: str, cwd: Path) -> tuple[int, dict]:
    completed = subprocess.run([PROGRAM, *arguments, "--json"], capture_output=True, text=True, check=False, cwd=cwd)
    return completed.returncode, json.loads(completed.stdout)  # nothing but the one object on standard output


def test_export_json_names_what_was_written(tmp_path):
    code, document = run_json("export", "--reference", CT, "--segmentation", LABELS, "--metadata", METADATA,
                              "--output", "seg.dcm", "--compression", "jpegls", cwd=tmp_path)
    assert code == 0
    (written,) = document["written"]
    dataset = pydicom.dcmread(tmp_path / "seg.dcm", stop_before_pixels=True)
    assert written == {
        "path": "seg.dcm",
        "bytes": (tmp_path / "seg.dcm").stat().st_size,
        "series_instance_uid": dataset.SeriesInstanceUID,
        "sop_instance_uid": dataset.SOPInstanceUID,
        "bits_allocated": dataset.BitsAllocated,
        "number_of_frames": dataset.NumberOfFrames,
        "segmentation_type": dataset.SegmentationType,
    }
    assert document["transfer_syntax_uid"] == dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.80"
    assert [(s["number"], s["label"]) for s in document["segments"]] == [(1, "Liver"), (5, "Thoracic spine")]
    assert (document["command"], document["warnings"], document["error"]) == ("export", [], None)


def test_a_failure_is_one_object_with_the_error_class_and_message(tmp_path):
    (tmp_path / "seg.dcm").write_bytes(b"already here")
    code, document = run_json("export", "--reference", CT, "--segmentation", LABELS, "--output", "seg.dcm", cwd=tmp_path)
    assert code == 1
    assert document == {"command": "export", "warnings": [], "error": {
        "class": "OutputExistsError",
        "message": "seg.dcm: exists already; nothing was replaced. Give --force to replace it."}}
    code, document = run_json("import", "missing.dcm", "--output", "x.seg.nrrd", cwd=tmp_path)
    assert code == 1
    assert document["error"] == {"class": "InputPathError", "message": "missing.dcm: no such file."}


def test_import_json_has_info_json_keys_and_the_warnings(tmp_path):
    code, document = run_json("import", SYNGO, "--output", "syngo.seg.nrrd", cwd=tmp_path)
    assert code == 0
    assert document["written"] == [{"path": "syngo.seg.nrrd", "bytes": (tmp_path / "syngo.seg.nrrd").stat().st_size}]
    info = json.loads(subprocess.run([PROGRAM, "info", SYNGO, "--json"], capture_output=True, text=True,
                                     check=True).stdout)
    assert document["info"] == {key: value for key, value in info["info"].items() if key != "referenced_instance_uids"}
    assert document["segments"] == info["segments"]
    assert (document["layers"], document["grid"]) == (1, "512x512x3")
    # syngo.via leaves out the segment's category and type codes: said as warnings, naming the file and tag.
    assert document["warnings"] == [
        f"{SYNGO}: segment 1 has no SegmentedPropertyCategoryCodeSequence (0062,0003); it is loaded as Tissue",
        f"{SYNGO}: segment 1 has no SegmentedPropertyTypeCodeSequence (0062,000F); it is loaded as Tissue",
    ]


def test_convert_json_lists_each_outcome(tmp_path):
    archive = tmp_path / "archive"
    shutil.copytree(CT, archive / "ct")
    shutil.copy(shared_data("dcmqi/liver.dcm"), archive / "liver.dcm")
    code, document = run_json("convert", "archive", "converted", "--workers", "1", cwd=tmp_path)
    assert code == 0
    (outcome,) = document["outcomes"]
    assert (outcome["input"], outcome["status"], outcome["segmentation_type"]) == ("liver.dcm", "converted", "LABELMAP")
    assert document["counts"] == {"converted": 1, "skipped": 0, "failed": 0}
    (output,) = outcome["outputs"]
    assert pydicom.dcmread(tmp_path / "converted" / "liver.dcm").SegmentationType == "LABELMAP"
    assert Path(output).name == "liver.dcm"


def test_send_json_lists_what_the_archive_stored(orthanc_as_shipped, tmp_path):
    code, document = run_json("send", str(shared_data("dcmqi/liver.dcm")), CT, "--to", orthanc_as_shipped.dicomweb_url,
                              cwd=tmp_path)
    assert code == 0
    sent = {pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
            for path in [shared_data("dcmqi/liver.dcm"), *Path(CT).iterdir()]}
    assert set(document["sop_instance_uids"]) == sent
    assert document["destination"] == orthanc_as_shipped.dicomweb_url
    for uid in sent:
        assert orthanc_as_shipped.instance_file(uid)


def test_the_documented_example_has_the_keys_export_prints(tmp_path):
    page = (PROJECT_ROOT / "docs" / "command-line.md").read_text(encoding="utf-8")
    example = json.loads(re.search(r"```json\n(.*?)```", page, re.DOTALL)[1])
    code, document = run_json("export", "--reference", CT, "--segmentation", LABELS, "--metadata", METADATA,
                              "--output", "seg.dcm", cwd=tmp_path)
    assert code == 0
    assert example.keys() == document.keys()
    assert example["written"][0].keys() == document["written"][0].keys()
    assert example["segments"][0].keys() == document["segments"][0].keys()
