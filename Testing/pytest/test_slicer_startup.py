"""The Slicer module files start as Slicer starts them: from a checkout or an install, with 5.10's and 5.12's packages.

Each module file runs in a fresh interpreter through ``import_as_slicer.py``:
``sys.path`` holds only the module's own folder and a site-packages folder,
the Slicer application's own modules are stand-ins, and everything else is
real. Slicer 5.10's and 5.12's bundled DICOM packages are installed from PyPI
into virtual environments of their own (pinned as in Slicer's
``SuperBuild/External_python-dicom-requirements.cmake``, and ``packaging`` as in
``External_python-pythonqt-requirements.cmake``, at v5.10.0 and v5.12.3).

The interpreter is not Slicer's: both releases run Python 3.12.10
(``SuperBuild/External_python.cmake``), and those environments are made with
``python3.12`` where one is on ``PATH``, else with the Python that runs the
tests (3.11 on Debian 12, where CI runs); ``.ci/run`` checks separately that
every file parses as Python 3.12.
"""

from __future__ import annotations

import ast
import functools
import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

from DicomManager.app.package_requirements import BASE_REQUIREMENTS

MODULE_FILES = ["DICOMLabelMapSeg/DICOMLabelMapSeg.py", "DICOMLabelMapSegPlugin/DICOMLabelMapSegPlugin.py"]
DRIVER = Path(__file__).with_name("import_as_slicer.py")

SLICER_PYTHON_PACKAGES = {
    # What each Slicer bundles for DICOM (plus packaging, which Slicer's own pip tooling brings).
    "5.10": ["pydicom==2.4.4", "pillow==11.2.1", "numpy", "packaging==25.0"],
    "5.12": ["highdicom==0.27.0", "pydicom==3.0.2", "pyjpegls==1.5.1", "pillow==12.2.0", "numpy", "packaging==26.2"],
}
SLICER_PYTHON_VERSION = "3.12"


@functools.cache
def emulating_python() -> str:
    """The interpreter of the environments with Slicer's packages: Slicer's version where it runs here, else this one."""
    candidate = shutil.which(f"python{SLICER_PYTHON_VERSION}")  # may be a pyenv shim with no such version behind it
    if candidate and subprocess.run([candidate, "-c", ""], capture_output=True, check=False).returncode == 0:
        return candidate
    return sys.executable
JPEG_2000_CODEC = ["pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.3"]


def start_as_slicer(module_file: Path, site_packages: str, python: str = sys.executable) -> dict:
    """What ``import_as_slicer.py`` reports for ``module_file`` run by ``python`` over ``site_packages``."""
    completed = subprocess.run(
        [python, "-S", str(DRIVER), str(module_file), site_packages], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout)


def site_packages_of(python: str) -> str:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    return subprocess.run([python, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def make_slicer_python(version: str, folder: Path) -> str:
    """A Python with what Slicer ``version`` bundles for DICOM and nothing of this project; returns its site-packages."""
    subprocess.run([emulating_python(), "-m", "venv", "--clear", str(folder)], check=True)
    python = str(folder / "bin" / "python")
    packages = SLICER_PYTHON_PACKAGES[version]
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages], check=True)
    return python


@pytest.fixture(scope="session")
def slicer_5_10_python(tmp_path_factory) -> str:
    return make_slicer_python("5.10", tmp_path_factory.mktemp("slicer-5.10-python"))


@pytest.fixture(scope="session")
def slicer_5_12_python(tmp_path_factory) -> str:
    return make_slicer_python("5.12", tmp_path_factory.mktemp("slicer-5.12-python"))


def start_on_slicer_python(module_file: str, python: str) -> dict:
    return start_as_slicer(PROJECT_ROOT / module_file, site_packages_of(python), python)


@pytest.mark.parametrize("module_file", MODULE_FILES)
def test_module_file_in_a_checkout_imports_this_checkouts_dicom_manager(module_file):
    report = start_as_slicer(PROJECT_ROOT / module_file, sysconfig.get_paths()["purelib"])
    assert Path(report["dicom_manager"]) == PROJECT_ROOT / "DicomManager" / "__init__.py"
    assert not report["highdicom_imported"]


@pytest.mark.parametrize("module_file", MODULE_FILES)
def test_module_file_installed_imports_the_dicom_manager_beside_it(module_file, tmp_path):
    """As the CMake build and the packaged extension lay it out: modules and DicomManager in qt-scripted-modules."""
    installed = tmp_path / "lib" / "Slicer-5.12" / "qt-scripted-modules"
    shutil.copytree(PROJECT_ROOT / "DicomManager", installed / "DicomManager")
    shutil.copy(PROJECT_ROOT / module_file, installed)
    report = start_as_slicer(installed / Path(module_file).name, sysconfig.get_paths()["purelib"])
    assert Path(report["dicom_manager"]) == installed / "DicomManager" / "__init__.py"


def test_a_module_file_with_no_dicom_manager_near_it_fails_to_import(tmp_path):
    """The control: the interpreter the tests above start finds DicomManager only where the module file looks."""
    shutil.copy(PROJECT_ROOT / MODULE_FILES[1], tmp_path)
    completed = subprocess.run(
        [sys.executable, "-S", str(DRIVER), str(tmp_path / Path(MODULE_FILES[1]).name), sysconfig.get_paths()["purelib"]],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode != 0
    assert "No module named 'DicomManager'" in completed.stderr


@pytest.mark.parametrize("module_file", MODULE_FILES)
@pytest.mark.parametrize(("version", "pydicom_version"), [("5.10", "2.4.4"), ("5.12", "3.0.2")])
def test_module_files_start_on_the_python_each_slicer_bundles(module_file, version, pydicom_version, request):
    python = request.getfixturevalue(f"slicer_{version.replace('.', '_')}_python")
    report = start_on_slicer_python(module_file, python)
    assert Path(report["dicom_manager"]) == PROJECT_ROOT / "DicomManager" / "__init__.py"
    assert report["pydicom"] == pydicom_version
    assert not report["highdicom_imported"]
    assert report["compression_choices"] in (None, ["none", "rle", "jpegls", "jpeg2000", "deflate", "deflate-frames"])


def test_slicer_5_10_must_install_highdicom_and_pydicom_3_before_any_load_or_export(slicer_5_10_python):
    report = start_on_slicer_python(MODULE_FILES[1], slicer_5_10_python)
    base_missing = ["highdicom>=0.27.0", "pydicom>=3.0.2"]
    assert report["missing_to_read"]["rle"] == base_missing
    assert report["missing_to_write"]["deflate"] == base_missing
    # pydicom 2 cannot say which codecs it will have, so codecs not installed at all come along, in one go.
    assert report["missing_to_read"]["jpeg2000"] == [*base_missing, *JPEG_2000_CODEC]
    assert report["missing_to_write"]["jpegls"] == [*base_missing, "pyjpegls>=1.4"]


def test_slicer_5_12_needs_a_package_only_to_write_jpeg_2000(slicer_5_12_python):
    """5.12 bundles highdicom, pydicom 3, pyjpegls and pillow: RLE, JPEG-LS, deflate and plain need nothing more."""
    report = start_on_slicer_python(MODULE_FILES[0], slicer_5_12_python)
    expected = {c: [] for c in ("none", "rle", "jpegls", "deflate", "deflate-frames")}
    assert report["missing_to_write"] == {**expected, "jpeg2000": JPEG_2000_CODEC}
    # Pillow, which 5.12 bundles, decodes JPEG 2000: reading one needs nothing either.
    assert report["missing_to_read"] == {name: [] for name in report["missing_to_read"]}


def test_panel_offers_every_compression_even_where_a_codec_is_missing(slicer_5_12_python):
    report = start_on_slicer_python(MODULE_FILES[0], slicer_5_12_python)
    assert report["missing_to_write"]["jpeg2000"]
    assert report["compression_choices"] == ["none", "rle", "jpegls", "jpeg2000", "deflate", "deflate-frames"]


def _declared_dependencies(module_file: str) -> list[str]:
    """The ``self.parent.dependencies`` a module class declares, read from its source."""
    tree = ast.parse((PROJECT_ROOT / module_file).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "self.parent.dependencies":
            return ast.literal_eval(node.value)
    raise AssertionError(f"{module_file} declares no dependencies")


def test_the_panel_depends_on_the_plugin_module_and_not_the_other_way():
    """Disabling the plugin module disables the panel; the plugin needs nothing of the panel's."""
    assert "DICOMLabelMapSegPlugin" in _declared_dependencies(MODULE_FILES[0])
    assert "DICOMLabelMapSeg" not in _declared_dependencies(MODULE_FILES[1])
    plugin_source = (PROJECT_ROOT / MODULE_FILES[1]).read_text()
    assert "slicer.modules.dicomlabelmapseg" not in plugin_source and "resourcePath" not in plugin_source


def test_base_requirements_are_the_package_dependencies():
    import tomllib

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert set(BASE_REQUIREMENTS) <= set(project["dependencies"])
