"""What the installed ``dicomlabelmapseg`` prints: its own lines only, libraries' log lines with ``--verbose``."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import shared_data

PROGRAM = str(Path(sys.executable).with_name("dicomlabelmapseg"))
SEG = str(shared_data("dcmqi/liver.dcm"))


def run_program(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROGRAM, *arguments], capture_output=True, text=True, check=False, cwd=cwd)


@pytest.fixture
def hanging_up_archive() -> Iterator[str]:
    """A DIMSE destination that accepts the connection, then drops it: pynetdicom logs the abort at ERROR."""
    server = socket.create_server(("127.0.0.1", 0))

    def hang_up() -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            connection.recv(16)
            connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    yield f"dicom://ARCHIVE@127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_pynetdicom_log_lines_only_with_verbose(hanging_up_archive, tmp_path):
    quiet = run_program("send", SEG, "--to", hanging_up_archive, cwd=tmp_path)
    assert quiet.returncode == 1
    assert quiet.stderr.splitlines() == [f"error: no association with {hanging_up_archive}: the association was aborted"]
    verbose = run_program("--verbose", "send", SEG, "--to", hanging_up_archive, cwd=tmp_path)
    assert verbose.returncode == 1
    assert "Association Aborted" in verbose.stderr
    assert verbose.stderr.splitlines()[-1] == quiet.stderr.splitlines()[0]


def test_slicer_core_info_lines_do_not_reach_standard_output(tmp_path):
    """Writing a label volume through slicer-core's storage node, which reports an ``Info: In ...`` line."""
    completed = run_program("import", SEG, "--output", "liver.seg.nrrd", "--labelmap", "liver.nrrd", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["liver.seg.nrrd: 1 segments in 1 layer(s), grid 512x512x3"]
    assert completed.stderr == ""


VTK_MESSAGES = '''
import logging, sys
import slicer
from vtkmodules.vtkCommonDataModel import vtkImageData
from DicomManager.mrml.scene_setup import start_session
logging.basicConfig(level=logging.DEBUG if sys.argv[1] == "debug" else logging.WARNING, stream=sys.stderr,
                    format="%(name)s %(message)s")
scene = start_session().scene
storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
storage.SetFileName(sys.argv[2])  # exists already: slicer-core says it removes the old version
scene.AddNode(storage)
node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode")
image = vtkImageData()
image.SetDimensions(2, 2, 2)
image.AllocateScalars(3, 1)
node.SetAndObserveImageData(image)
assert storage.WriteData(node)
'''


def test_slicer_core_messages_go_to_our_log(tmp_path):
    """slicer-core's own storage node, as any caller of the MRML bridge outside Slicer runs it."""
    existing = tmp_path / "volume.nrrd"
    existing.write_bytes(b"")
    silent = subprocess.run([sys.executable, "-c", VTK_MESSAGES, "warning", str(existing)], capture_output=True, text=True,
                            check=False)
    assert silent.returncode == 0, silent.stderr
    assert (silent.stdout, silent.stderr) == ("", "")
    logged = subprocess.run([sys.executable, "-c", VTK_MESSAGES, "debug", str(existing)], capture_output=True, text=True,
                            check=False)
    assert logged.returncode == 0, logged.stderr
    assert logged.stdout == ""
    assert "DicomManager.mrml.vtk_output VTK: Info: In " in logged.stderr
    assert f"WriteData: removing old version of file {existing}" in logged.stderr


def test_verbosity_options_after_the_command_and_info_on_several_files(tmp_path):
    labelmap = str(shared_data("dcmqi/sparse-labelmap-ppv5.dcm"))
    both = run_program("info", "-v", SEG, labelmap, cwd=tmp_path)
    assert both.returncode == 0, both.stderr
    lines = both.stdout.splitlines()
    assert [line for line in lines if not line.startswith(" ")] == [SEG, labelmap]
    assert "      1  Liver  [SRT T-62000 Liver]  RGB (221, 130, 101)" in lines
    assert "      1  Liver  [SCT 10200004 Liver]  RGB (221, 130, 101)" in lines
    as_json = run_program("info", "--json", "--quiet", SEG, labelmap, cwd=tmp_path)  # JSON asked for, even quiet
    documents = json.loads(as_json.stdout)
    assert [document["info"]["path"] for document in documents] == [SEG, labelmap]
    assert [document["info"]["segmentation_type"] for document in documents] == ["BINARY", "LABELMAP"]
    for conflicting in (["info", "-v", "-q", SEG], ["-v", "info", "-q", SEG]):
        refused = run_program(*conflicting, cwd=tmp_path)
        assert refused.returncode == 2
        assert "not allowed with argument" in refused.stderr.splitlines()[-1]


def test_quiet_prints_errors_only(tmp_path):
    """A SEG whose segment has no category or type code: import warns, and --quiet keeps that to itself."""
    syngo = str(shared_data("public/syngo_va11a.seg.dcm"))
    told = run_program("import", syngo, "--output", "told.seg.nrrd", cwd=tmp_path)
    assert told.returncode == 0, told.stderr
    assert told.stdout and "WARNING: " in told.stderr
    quiet = run_program("import", "-q", syngo, "--output", "quiet.seg.nrrd", cwd=tmp_path)
    assert quiet.returncode == 0, quiet.stderr
    assert (quiet.stdout, quiet.stderr) == ("", "")
    assert (tmp_path / "quiet.seg.nrrd").is_file()
    failed = run_program("--quiet", "import", syngo, "--output", "quiet.seg.nrrd", cwd=tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [
        "error: quiet.seg.nrrd: exists already; nothing was replaced. Give --force to replace it."]


def test_preview_shows_the_series_in_its_own_window(tmp_path):
    """dcmqi's CT series, every voxel set to its WindowCenter: in that window each is mid-grey."""
    from PIL import Image

    series = tmp_path / "ct"
    series.mkdir()
    for image in sorted(Path(shared_data("dcmqi/ct-3slice")).iterdir()):
        dataset = pydicom.dcmread(image)
        stored = (float(dataset.WindowCenter) - float(dataset.RescaleIntercept)) / float(dataset.RescaleSlope)
        dataset.PixelData = np.full_like(dataset.pixel_array, int(stored)).tobytes()
        dataset.save_as(series / image.name)
    completed = run_program("preview", SEG, "--reference", "ct", "--output", "liver.png", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    pixels = np.asarray(Image.open(tmp_path / "liver.png").convert("RGB")).reshape(-1, 3)
    mid_grey = np.all(pixels == 127, axis=1).sum()
    assert mid_grey > 0.2 * len(pixels)  # the image under the segment, in all three panels
