"""The package as pip installs it: entry points, the files it ships, its metadata and its changelog."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

import DicomManager


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built from this checkout by pip, as ``pip install .`` builds it."""
    folder, checkout = tmp_path_factory.mktemp("wheel"), tmp_path_factory.mktemp("checkout")
    files = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], capture_output=True,
                           text=True, check=True, cwd=PROJECT_ROOT).stdout.splitlines()
    for name in files:  # built from a copy: setuptools leaves its build folders beside the sources
        if (PROJECT_ROOT / name).is_file():
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, checkout / name)
    completed = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(folder), str(checkout)],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    (built,) = folder.glob("dicomlabelmapseg-*.whl")
    return zipfile.ZipFile(built)


def test_python_dash_m_runs_the_command_line():
    completed = subprocess.run([sys.executable, "-m", "DicomManager", "--version"], capture_output=True, text=True,
                               check=True, cwd=PROJECT_ROOT)
    assert completed.stdout.strip() == f"dicomlabelmapseg {DicomManager.__version__}"


def test_the_changelog_names_the_version_the_program_prints():
    program = Path(sys.executable).with_name("dicomlabelmapseg")
    printed = subprocess.run([program, "--version"], capture_output=True, text=True, check=True).stdout.split()[-1]
    versions = re.findall(r"^## (\S+)", (PROJECT_ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.MULTILINE)
    assert versions[0] == printed == DicomManager.__version__


def test_the_wheel_ships_type_hints_and_the_dcmqi_schema(wheel):
    names = set(wheel.namelist())
    assert {"DicomManager/py.typed", "DicomManager/__main__.py",
            "DicomManager/core/segments/dcmqi_schema/seg-schema.json",
            "DicomManager/core/segments/dcmqi_schema/common-schema.json"} <= names


def test_the_wheel_metadata_names_authors_urls_and_classifiers(wheel):
    (metadata_name,) = [name for name in wheel.namelist() if name.endswith(".dist-info/METADATA")]
    metadata = Parser().parsestr(wheel.read(metadata_name).decode())
    assert metadata["Author"] == "DICOMLabelMapSeg contributors"
    urls = dict(value.split(", ", 1) for value in metadata.get_all("Project-URL"))
    assert {"Homepage", "Documentation", "Issues", "Changelog"} <= urls.keys()
    classifiers = metadata.get_all("Classifier")
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert "jsonschema>=4.18" in metadata.get_all("Requires-Dist")
    entry_points = wheel.read(metadata_name.replace("METADATA", "entry_points.txt")).decode()
    assert "dicomlabelmapseg = DicomManager.cli.program:run" in entry_points
