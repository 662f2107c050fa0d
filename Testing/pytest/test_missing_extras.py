"""What a user of a plain ``pip install .`` meets: commands that need an extra say which one, in one line.

The program runs in a subprocess where the extras' modules cannot be imported
(a meta path finder installed by ``sitecustomize`` refuses them), as in an
environment where they were never installed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import shared_data

from DicomManager import read_seg, write_seg_nrrd

PROGRAM = str(Path(sys.executable).with_name("dicomlabelmapseg"))
CT = str(shared_data("dcmqi/ct-3slice"))
SLICER_HINT = "needs slicer-core, which is not installed: pip install 'dicomlabelmapseg[slicer]'"

BLOCKER = '''
import sys

class RefuseExtras:
    """Finds nothing for the extras' modules, as where they are not installed."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, RefuseExtras())
'''


@pytest.fixture
def without_extras(tmp_path: Path) -> dict[str, str]:
    """An environment in which slicer-core (slicer, vtk) and the network extra cannot be imported."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    blocked = {"slicer", "vtk", "vtkmodules", "pynetdicom", "dicomweb_client"}
    (blocker / "sitecustomize.py").write_text(BLOCKER.format(blocked=blocked))
    return os.environ | {"PYTHONPATH": str(blocker)}


def run_program(*arguments: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROGRAM, *arguments], capture_output=True, text=True, check=False, env=env, cwd=cwd)


def assert_one_line(completed: subprocess.CompletedProcess, expected: str) -> None:
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr.splitlines() == [f"error: {expected}"]


def test_the_blocker_blocks(without_extras, tmp_path):
    completed = subprocess.run([sys.executable, "-c", "import slicer"], capture_output=True, text=True,
                               check=False, env=without_extras)
    assert "ModuleNotFoundError: No module named 'slicer'" in completed.stderr


def test_demo_and_migrate_name_the_slicer_extra(without_extras, tmp_path):
    assert_one_line(run_program("demo", "--output", "demo", env=without_extras, cwd=tmp_path),
                    f"dicomlabelmapseg demo {SLICER_HINT}")
    (tmp_path / "run").mkdir()
    assert_one_line(run_program("migrate", "run", "--reference", CT, env=without_extras, cwd=tmp_path),
                    f"dicomlabelmapseg migrate {SLICER_HINT}")


def test_a_seg_nrrd_only_slicer_reads_names_the_slicer_extra(without_extras, tmp_path):
    """A .seg.nrrd in the layout before shared labelmap layers (Segmentation_Extent) is read through slicer-core."""
    written = tmp_path / "liver.seg.nrrd"
    write_seg_nrrd(written, read_seg(shared_data("dcmqi/liver.dcm")))
    content = written.read_bytes()
    old_layout = tmp_path / "old.seg.nrrd"
    old_layout.write_bytes(content.replace(b"\n", b"\nSegmentation_Extent:=0 511 0 511 0 2\n", 1))
    completed = run_program("export", "--reference", CT, "--segmentation", str(old_layout), "--output", "out.dcm",
                            env=without_extras, cwd=tmp_path)
    assert_one_line(
        completed,
        f"{old_layout}: this .seg.nrrd (from before Slicer 4.11, or of non-integer voxels) is read through slicer-core: "
        "pip install 'dicomlabelmapseg[slicer]'.",
    )
    assert not (tmp_path / "out.dcm").exists()


def test_send_names_the_network_extra(without_extras, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as listening:  # answers the reachability check, as an archive would
        port = listening.getsockname()[1]
        completed = run_program("send", str(shared_data("dcmqi/liver.dcm")), "--to", f"dicom://ARCHIVE@127.0.0.1:{port}",
                                env=without_extras, cwd=tmp_path)
    assert_one_line(completed, "sending over DIMSE needs pynetdicom: pip install 'dicomlabelmapseg[network]'")


def test_what_needs_no_extra_still_works(without_extras, tmp_path):
    completed = run_program("info", str(shared_data("dcmqi/liver.dcm")), env=without_extras, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    completed = run_program("import", str(shared_data("dcmqi/liver.dcm")), "--output", "liver.seg.nrrd",
                            env=without_extras, cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "liver.seg.nrrd").is_file()


def test_the_python_api_names_the_extra_of_the_manager(without_extras):
    program = "import DicomManager\ntry:\n    DicomManager.DicomManager\nexcept ModuleNotFoundError as e:\n    print(e)"
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True,
                               env=without_extras)
    assert completed.stdout.strip() == f"DicomManager.DicomManager {SLICER_HINT}"

