"""What the command line imports: for its help none of the libraries a command loads, for ``info`` on a SEG what pydicom does."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import shared_data

_IMPORTED_BY_HELP = """
import sys
sys.argv = ["dicomlabelmapseg", *sys.argv[1:]]
from DicomManager.cli.program import run
try:
    run()
except SystemExit:
    pass
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""

COMMANDS = ["export", "import", "info", "migrate", "convert", "preview", "measure", "send", "demo"]
NOT_FOR_HELP = {"pydicom", "numpy", "highdicom", "SimpleITK", "slicer", "vtk"}
"""pydicom imports numpy; both take far longer to import than the help takes to print."""


def _modules_after(*arguments: str) -> tuple[str, set[str]]:
    """The command line run in a fresh interpreter: what it printed, and the top-level packages it had imported."""
    ran = subprocess.run([sys.executable, "-c", _IMPORTED_BY_HELP, *arguments],
                         capture_output=True, text=True, check=True)
    modules = set(ran.stderr.split())
    assert "DicomManager.cli.main" in modules
    return ran.stdout, {module.partition(".")[0] for module in modules}


def test_the_commands_tested_are_those_the_help_lists() -> None:
    printed, _ = _modules_after("--help")
    listed = re.findall(r"^    (\w+) ", printed, flags=re.MULTILINE)
    assert listed == COMMANDS


@pytest.mark.parametrize("command", [[], *([name] for name in COMMANDS)])
def test_help_imports_no_dicom_library(command: list[str]) -> None:
    printed, packages = _modules_after(*command, "--help")
    assert "usage: dicomlabelmapseg" in printed
    assert not packages & NOT_FOR_HELP


_IMPORTED_BY_PYDICOM_READ = """
import sys
import pydicom
pydicom.dcmread(sys.argv[1], stop_before_pixels=True)
print(" ".join(sorted(sys.modules)), file=sys.stderr)
"""


def _third_party(packages: set[str]) -> set[str]:
    return {p for p in packages if p not in sys.stdlib_module_names and not p.startswith("_") and p != "DicomManager"}


@pytest.mark.parametrize("seg", ["dcmqi/sparse-labelmap-ppv5.dcm", "dcmqi/liver.dcm"])  # a LABELMAP, a BINARY
def test_info_on_a_seg_imports_what_pydicom_reading_its_header_imports(seg: str) -> None:
    path = str(shared_data(seg))
    printed, packages = _modules_after("info", path)
    assert path in printed and "references series" in printed
    ran = subprocess.run([sys.executable, "-c", _IMPORTED_BY_PYDICOM_READ, path],
                         capture_output=True, text=True, check=True)
    by_pydicom = {module.partition(".")[0] for module in ran.stderr.split()}
    assert "pydicom" in packages
    assert not packages & {"highdicom", "SimpleITK", "slicer", "vtk", "nrrd"}
    assert _third_party(packages) <= _third_party(by_pydicom)
