"""What the command line imports to print its help: none of the libraries a command loads when it runs."""

from __future__ import annotations

import re
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
