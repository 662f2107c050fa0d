"""Shared fixtures: test data from other writers, Slicer's real MRML classes, independent readers.

Nothing here is mocked: the scene and logics are slicer-core's, the validators
are dicom3tools' ``dciodvfy`` and dcmqi's ``segimage2itkimage``. Missing test
data or a missing tool fails the test that needs it; nothing is skipped, with
one exception: programs from outside PyPI (Orthanc from Debian, Node.js) may be
absent on a developer's machine, so tests that need them skip there, and fail
where ``DICOMLABELMAPSEG_REQUIRE_ALL=1`` is set, as CI sets it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import slicer
from orthanc_server import DICOMWEB_PLUGIN, OrthancServer

from DicomManager import Code, SegmentMetadata
from DicomManager.core.geometry.grids import match_to_grid
from DicomManager.core.label_files.label_volume_files import read_label_volume
from DicomManager.core.writing.synthetic_series import SyntheticSeriesInfo, write_ct_series
from DicomManager.mrml.manager import DicomManager
from DicomManager.mrml.scene_setup import SlicerCoreSession, start_session

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TESTDATA = PROJECT_ROOT.parent / "shared" / "testdata"
TERMINOLOGIES = PROJECT_ROOT.parent / "shared" / "slicer-terminologies"


def shared_data(relative: str) -> Path:
    """A file or folder of the shared test data; fails (never skips) when it is missing."""
    path = TESTDATA / relative
    assert path.exists(), f"test data {path} is missing: the tests need ../shared/testdata beside the project"
    return path


def tool(name: str) -> str:
    """Path of a command-line tool installed by the test extra; fails when it is missing."""
    # The test extra installs the tools beside the Python that runs the tests.
    search_path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    path = shutil.which(name, path=search_path)
    assert path, f"{name} is not on PATH: install the test extra (pip install -e .[test])"
    return path


def external_program(name: str, install_hint: str) -> str:
    """Path of a program from outside PyPI: skips when it is missing, except under CI, where it fails."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path:
        return path
    unavailable(f"{name} is not installed: {install_hint}")


def unavailable(message: str) -> None:
    """Skip a test whose requirement this machine lacks, except under CI, where it fails."""
    if os.environ.get("DICOMLABELMAPSEG_REQUIRE_ALL") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def orthanc_as_shipped(tmp_path_factory: pytest.TempPathFactory):
    """Orthanc with Debian's defaults and the DICOMweb plugin."""
    server = OrthancServer(_orthanc(), tmp_path_factory.mktemp("orthanc") / "as-shipped")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def orthanc_uncompressed_any_class(tmp_path_factory: pytest.TempPathFactory):
    """Orthanc set to take SOP Classes it does not know, but only uncompressed transfer syntaxes over DIMSE."""
    settings = {"UnknownSopClassAccepted": True, "AcceptedTransferSyntaxes": ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"]}
    server = OrthancServer(_orthanc(), tmp_path_factory.mktemp("orthanc") / "any-class", settings)
    yield server
    server.stop()


def _orthanc() -> str:
    hint = "apt-get install orthanc orthanc-dicomweb (Debian); .ci/run does"
    executable = external_program("Orthanc", hint)
    if not DICOMWEB_PLUGIN.exists():
        external_program(str(DICOMWEB_PLUGIN), hint)
    return executable


@pytest.fixture(scope="session")
def slicer_session() -> SlicerCoreSession:
    """One scene and Segmentations logic for the whole session (converter rules registered once)."""
    return start_session()


@pytest.fixture(scope="session")
def mrml_scene(slicer_session: SlicerCoreSession) -> slicer.vtkMRMLScene:
    """The session's scene, cleared before each test that asks for ``scene``."""
    return slicer_session.scene


@pytest.fixture(scope="session")
def terminology_logic(mrml_scene: slicer.vtkMRMLScene) -> slicer.vtkSlicerTerminologiesModuleLogic:
    """Slicer's Terminologies logic with the contexts Slicer ships, created once per session."""
    logic = slicer.vtkSlicerTerminologiesModuleLogic()
    for context in sorted(shared_data("../slicer-terminologies").glob("*.term.json")):
        loaded = (
            logic.LoadAnatomicContextFromFile(str(context))
            if context.name.startswith("Anatomic")
            else logic.LoadTerminologyFromFile(str(context))
        )
        assert loaded, f"Slicer could not load {context}"
    logic.SetMRMLScene(mrml_scene)
    return logic


@pytest.fixture
def scene(mrml_scene: slicer.vtkMRMLScene) -> slicer.vtkMRMLScene:
    mrml_scene.Clear(0)
    return mrml_scene


@pytest.fixture
def manager(scene: slicer.vtkMRMLScene) -> DicomManager:
    return DicomManager(scene)


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines ``dciodvfy -new`` prints for a file (its exit code is not trusted)."""
    completed = subprocess.run([tool("dciodvfy"), "-new", str(path)], capture_output=True, text=True, check=False)
    output = completed.stdout + completed.stderr
    return [line for line in output.splitlines() if line.startswith("Error")]


def read_with_dcmqi(seg_path: Path, work_dir: Path, scene: slicer.vtkMRMLScene) -> hd.Volume:
    """Labels as dcmqi's ``segimage2itkimage --mergeSegments`` reads them (on the SEG's grid)."""
    output = work_dir / f"dcmqi-{seg_path.stem}"
    output.mkdir(parents=True, exist_ok=False)
    completed = subprocess.run(
        [tool("segimage2itkimage"), "--inputDICOM", str(seg_path), "--outputDirectory", str(output), "--mergeSegments"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    nrrds = sorted(output.glob("*.nrrd"))
    assert len(nrrds) == 1, f"dcmqi wrote {nrrds}"
    return read_label_volume(nrrds[0])


def read_segments_with_dcmqi(path: Path, work_dir: Path, scene: slicer.vtkMRMLScene) -> dict[int, hd.Volume]:
    """dcmqi's reading: one volume per segment, values 0 and the segment number (or the stored fraction)."""
    output = work_dir / "dcmqi"
    output.mkdir()
    completed = subprocess.run(
        [tool("segimage2itkimage"), "--inputDICOM", str(path), "--outputDirectory", str(output)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    numbers = [int(item.SegmentNumber) for item in pydicom.dcmread(path, stop_before_pixels=True).SegmentSequence]
    return {number: read_label_volume(output / f"{index}.nrrd") for index, number in enumerate(numbers, start=1)}


def on_grid(labels: hd.Volume, grid: hd.VolumeGeometry) -> np.ndarray:
    """``labels`` moved onto ``grid`` without resampling (fails if any label falls outside)."""
    return match_to_grid(labels, grid, "labels").array


def make_grid(
    shape: tuple[int, int, int],
    row_direction: tuple[float, float, float] = (1, 0, 0),
    column_direction: tuple[float, float, float] = (0, 1, 0),
    spacing: tuple[float, float, float] = (2.0, 0.75, 0.75),
    origin: tuple[float, float, float] = (-20.0, -15.0, 30.0),
) -> hd.VolumeGeometry:
    """A grid whose rows run along ``row_direction`` (DICOM ImageOrientationPatient order)."""
    return hd.VolumeGeometry.from_attributes(
        image_position=origin,
        image_orientation=(*row_direction, *column_direction),
        rows=shape[1],
        columns=shape[2],
        pixel_spacing=spacing[1:],
        spacing_between_slices=spacing[0],
        number_of_frames=shape[0],
        coordinate_system="PATIENT",
        frame_of_reference_uid=hd.UID(),
    )


def write_series(grid: hd.VolumeGeometry, folder: Path) -> list[Path]:
    """A CT series on ``grid`` with a smooth ramp of values, written to ``folder``."""
    voxels = (np.indices(grid.spatial_shape).sum(axis=0) % 200 - 100).astype(np.int16)
    return write_ct_series(voxels, grid, folder, SyntheticSeriesInfo(patient_id="TEST", patient_name="Test^Patient"))


def highdicom_liver_descriptions(numbers) -> list[hd.seg.SegmentDescription]:
    """highdicom descriptions of segments ``numbers``, each "Structure N", a manually drawn liver, for test SEGs."""
    return [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"Structure {number}",
            segmented_property_category=hd.sr.CodedConcept("123037004", "SCT", "Anatomical Structure"),
            segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number in numbers
    ]


def highdicom_identity() -> dict:
    """The series and device attributes highdicom's Segmentation asks for, for SEGs that tests write with it."""
    return {
        "series_instance_uid": hd.UID(),
        "series_number": 5,
        "sop_instance_uid": hd.UID(),
        "instance_number": 1,
        "manufacturer": "highdicom",
        "manufacturer_model_name": "test",
        "software_versions": "0",
        "device_serial_number": "1",
    }


def blob_labels(shape: tuple[int, int, int], numbers: list[int], seed: int = 0) -> np.ndarray:
    """Non-overlapping ellipsoids, one per number, in a (slices, rows, columns) array."""
    rng = np.random.default_rng(seed)
    dtype = np.uint8 if max(numbers) < 256 else np.uint16
    labels = np.zeros(shape, dtype=dtype)
    grid = np.indices(shape).astype(float)
    for number in numbers:
        centre = rng.uniform(0.2, 0.8, 3) * np.array(shape)
        radii = np.maximum(rng.uniform(0.05, 0.2, 3) * np.array(shape), 1.0)
        inside = sum(((grid[axis] - centre[axis]) / radii[axis]) ** 2 for axis in range(3)) <= 1.0
        labels[inside & (labels == 0)] = number
    return labels


def demo_segments(numbers: list[int]) -> list[SegmentMetadata]:
    """Segment metadata with codes, colours and the optional fields filled in varied ways."""
    segments = []
    for index, number in enumerate(numbers):
        segments.append(
            SegmentMetadata(
                number=number,
                label=f"Structure {number}",
                category=Code("123037004", "SCT", "Anatomical Structure"),
                type=Code("10200004", "SCT", "Liver") if index % 2 else Code("39607008", "SCT", "Lung"),
                type_modifier=Code("7771000", "SCT", "Left") if index % 3 == 0 else None,
                anatomic_region=Code("818981001", "SCT", "Abdomen") if index % 4 == 1 else None,
                color=((37 * number) % 256, (91 * number) % 256, (151 * number) % 256),
                description=f"structure number {number}" if index % 2 else None,
                algorithm_type="AUTOMATIC" if index % 5 == 2 else "MANUAL",
                algorithm_name="TotalSegmentator" if index % 5 == 2 else None,
            )
        )
    return segments
