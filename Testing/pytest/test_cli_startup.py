"""What the command line imports to print its help: none of the heavy libraries a command loads when it runs."""

from __future__ import annotations

import subprocess
import sys

import pytest

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


@pytest.mark.parametrize("command", [[], ["export"], ["import"], ["info"], ["convert"], ["measure"]])
def test_help_imports_no_highdicom_nor_slicer(command: list[str]) -> None:
    ran = subprocess.run([sys.executable, "-c", _IMPORTED_BY_HELP, *command, "--help"],
                         capture_output=True, text=True, check=True)
    assert "usage: dicomlabelmapseg" in ran.stdout
    modules = set(ran.stderr.split())
    assert "DicomManager.cli.main" in modules
    assert not modules & {"highdicom", "SimpleITK", "slicer", "vtk"}
