"""The installed ``dicomlabelmapseg``, given paths that are wrong: one line naming the path, status 1, nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_data

PROGRAM = str(Path(sys.executable).with_name("dicomlabelmapseg"))
CT = str(shared_data("dcmqi/ct-3slice"))
SEG = str(shared_data("dcmqi/liver.dcm"))
SEG_NRRD = str(shared_data("dcmqi/liver_spine_seg.nrrd"))


def run_program(*arguments: str, cwd: Path, without_privileges: bool = False) -> subprocess.CompletedProcess:
    """The program in a subprocess; ``without_privileges``: as a user whom file permissions hold (not root)."""
    # In a new user namespace root keeps its own files' owner permissions but loses the override of them.
    prefix = ["unshare", "--user"] if without_privileges and os.geteuid() == 0 else []
    return subprocess.run([*prefix, PROGRAM, *arguments], capture_output=True, text=True, check=False, cwd=cwd)


def assert_one_line_failure(completed: subprocess.CompletedProcess, expected: str) -> None:
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr.splitlines() == [f"error: {expected}"]
    assert completed.stdout == ""


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file").write_text("not DICOM")
    return tmp_path


CASES = {
    "export, missing segmentation": (
        ["export", "--reference", CT, "--segmentation", "nope.seg.nrrd", "--output", "out.dcm"], "nope.seg.nrrd: no such file."),
    "export, segmentation is a folder": (
        ["export", "--reference", CT, "--segmentation", "a_folder", "--output", "out.dcm"],
        "a_folder: is a folder; a file is expected here."),
    "export, missing reference": (
        ["export", "--reference", "CT_DIR", "--segmentation", SEG_NRRD, "--output", "out.dcm"], "CT_DIR: no such folder."),
    "export, reference is a file": (
        ["export", "--reference", "a_file", "--segmentation", SEG_NRRD, "--output", "out.dcm"],
        "a_file: is a file; a folder is expected here."),
    "export, output is a folder": (
        ["export", "--reference", CT, "--segmentation", SEG_NRRD, "--output", "a_folder"],
        "a_folder: is a folder; give the name of the file to write."),
    "export, missing metadata": (
        ["export", "--reference", CT, "--segmentation", SEG_NRRD, "--metadata", "meta.json", "--output", "out.dcm"],
        "meta.json: no such file."),
    "import, missing SEG": (["import", "seg.dcm", "--output", "out.seg.nrrd"], "seg.dcm: no such file."),
    "import, output below a file": (
        ["import", SEG, "--output", "a_file/out.seg.nrrd"], "a_file: is a file; a folder is expected here."),
    "import, missing reference": (
        ["import", SEG, "--output", "out.seg.nrrd", "--reference", "CT_DIR"], "CT_DIR: no such folder."),
    "info, a folder": (["info", "a_folder"], "a_folder: is a folder; a file is expected here."),
    "preview, missing reference": (["preview", SEG, "--reference", "CT_DIR", "--output", "out.png"], "CT_DIR: no such folder."),
    "migrate, missing run folder": (["migrate", "run_A", "--reference", CT], "run_A: no such folder."),
    "migrate, missing reference": (["migrate", "a_folder", "--reference", "MRHead.nrrd"], "MRHead.nrrd: no such file or folder."),
    "convert, missing tree": (["convert", "ARCHIVE", "out"], "ARCHIVE: no such folder."),
    "convert, output tree is a file": (["convert", "a_folder", "a_file"], "a_file: is a file; a folder is expected here."),
    "send, missing file": (["send", "seg.dcm", "--to", "dicom://A@localhost:1"], "seg.dcm: no such file or folder."),
    "demo, output is a file": (["demo", "--output", "a_file"], "a_file: is a file; a folder is expected here."),
}


@pytest.mark.parametrize(("arguments", "expected"), CASES.values(), ids=CASES.keys())
def test_a_wrong_path_is_named_in_one_line(workspace, arguments, expected):
    before = sorted(workspace.rglob("*"))
    assert_one_line_failure(run_program(*arguments, cwd=workspace), expected)
    assert sorted(workspace.rglob("*")) == before


def test_an_unreadable_file_is_named(workspace):
    unreadable = workspace / "locked.dcm"
    unreadable.write_bytes(Path(SEG).read_bytes())
    unreadable.chmod(0)
    assert_one_line_failure(run_program("info", "locked.dcm", cwd=workspace, without_privileges=True),
                            "locked.dcm: cannot be read (permission denied).")


def test_convert_of_an_empty_tree_or_one_without_segmentations_is_an_error(workspace):
    assert_one_line_failure(run_program("convert", "a_folder", "out", "--workers", "1", cwd=workspace),
                            "a_folder: holds no SEG and no .seg.nrrd file to convert.")
    series = workspace / "series_only"
    series.mkdir()
    for image in sorted(Path(CT).iterdir()):
        (series / image.name).write_bytes(image.read_bytes())
    (series / "notes.txt").write_text("no segmentation here")
    assert_one_line_failure(run_program("convert", "series_only", "out", "--workers", "1", cwd=workspace),
                            "series_only: holds no SEG and no .seg.nrrd file to convert.")
    assert not (workspace / "out").exists()
