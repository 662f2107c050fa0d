"""Label volumes (NRRD, NIfTI, MetaImage) without slicer-core: the geometry ITK and dcmqi give them, and the CLI's label paths.

The label files are written in the tests by nibabel, pynrrd and SimpleITK or
come from dcmqi's own tests; dcmqi's ``itkimage2segimage`` exports the same
files, and highdicom reads both SEGs. The command line runs as a process in
which ``import slicer`` fails, as after a plain ``pip install .``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import nibabel
import nrrd
import numpy as np
import pytest
import SimpleITK as sitk
import slicer
from conftest import blob_labels, dciodvfy_errors, make_grid, shared_data, tool, write_series
from vtkmodules.vtkCommonMath import vtkMatrix4x4

from DicomManager.core.geometry.grids import geometry_from_ijk_to_ras
from DicomManager.core.label_files.label_volume_files import read_label_volume, write_label_volume
from DicomManager.errors import LabelFileError
from DicomManager.mrml.image_arrays import array_from_image, matrix_to_numpy

_WITHOUT_SLICER = (
    "import sys; sys.modules['slicer'] = None; sys.modules['vtkmodules'] = None; "
    "from DicomManager.cli.program import run; run()"
)
_LPS_FROM_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])
_IJK_FROM_KJI = np.array([[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=float)
_SEGMENTS = (1, 3)


def run_without_slicer(*arguments: object) -> subprocess.CompletedProcess:
    """The command line in a fresh process where ``import slicer`` (and VTK) fail."""
    command = [sys.executable, "-c", _WITHOUT_SLICER, *map(str, arguments)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def oblique_grid() -> hd.VolumeGeometry:
    """A small grid tilted about two axes, with three different spacings."""
    c, s = np.cos(0.3), np.sin(0.3)
    return make_grid((6, 20, 24), row_direction=(c, s, 0), column_direction=(-0.8 * s, 0.8 * c, 0.6), spacing=(2.5, 0.8, 0.9))


def ras_affine_of_ijk(grid: hd.VolumeGeometry) -> np.ndarray:
    """The grid as NIfTI and RAS NRRD files describe it: (i, j, k), column fastest, to RAS."""
    return _LPS_FROM_RAS @ grid.affine @ _IJK_FROM_KJI


def dcmqi_metadata(path: Path) -> Path:
    attributes = [
        {
            "labelID": number,
            "SegmentLabel": f"Structure {number}",
            "SegmentAlgorithmType": "MANUAL",
            "SegmentedPropertyCategoryCodeSequence": {"CodeValue": "85756007", "CodingSchemeDesignator": "SCT",
                                                      "CodeMeaning": "Tissue"},
            "SegmentedPropertyTypeCodeSequence": {"CodeValue": "10200004", "CodingSchemeDesignator": "SCT",
                                                  "CodeMeaning": "Liver"},
            "recommendedDisplayRGBValue": [40 * number, 90, 160],
        }
        for number in _SEGMENTS
    ]
    path.write_text(json.dumps({
        "ContentCreatorName": "Doe^Jane", "ClinicalTrialSeriesID": "1", "ClinicalTrialTimePointID": "1",
        "SeriesDescription": "Labels", "SeriesNumber": "300", "InstanceNumber": "1", "segmentAttributes": [attributes],
    }))
    return path


def labelled_voxels(seg_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every labelled voxel of a SEG as highdicom reads it: LPS positions (in a fixed order) and segment numbers."""
    volume = hd.seg.segread(seg_path).get_volume(combine_segments=True, relabel=False)
    return _sorted_voxels(volume.map_indices_to_reference(np.argwhere(volume.array > 0)), volume.array[volume.array > 0])


def expected_voxels(labels: np.ndarray, grid: hd.VolumeGeometry) -> tuple[np.ndarray, np.ndarray]:
    return _sorted_voxels(grid.map_indices_to_reference(np.argwhere(labels > 0)), labels[labels > 0])


def _sorted_voxels(positions: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort(np.round(positions, 3).T)
    return positions[order], values[order]


def write_with_nibabel(labels: np.ndarray, grid: hd.VolumeGeometry, path: Path) -> None:
    image = nibabel.Nifti1Image(labels.transpose(2, 1, 0).astype(np.int16), None)
    image.set_qform(ras_affine_of_ijk(grid), code=1)
    image.set_sform(ras_affine_of_ijk(grid), code=1)
    nibabel.save(image, path)


def write_with_nibabel_qform_and_other_sform(labels: np.ndarray, grid: hd.VolumeGeometry, path: Path) -> None:
    """The grid in the qform (scanner); an sform one slice away, coded "aligned to another file".

    ITK, and so dcmqi, place such a file by its qform; nibabel reads its sform.
    """
    image = nibabel.Nifti1Image(labels.transpose(2, 1, 0).astype(np.int16), None)
    image.set_qform(ras_affine_of_ijk(grid), code=1)
    shifted = ras_affine_of_ijk(grid)
    shifted[:3, 3] += shifted[:3, 2]
    image.set_sform(shifted, code=2)
    nibabel.save(image, path)
    assert not np.allclose(nibabel.load(path).affine, ras_affine_of_ijk(grid))  # nibabel's choice is the sform


def write_with_pynrrd_in_ras(labels: np.ndarray, grid: hd.VolumeGeometry, path: Path) -> None:
    ras = ras_affine_of_ijk(grid)
    header = {"space": "right-anterior-superior", "space directions": ras[:3, :3].T, "space origin": ras[:3, 3],
              "kinds": ["domain"] * 3, "encoding": "gzip"}
    nrrd.write(str(path), labels.transpose(2, 1, 0).astype(np.uint16), header)


def write_with_simpleitk(labels: np.ndarray, grid: hd.VolumeGeometry, path: Path) -> None:
    image = sitk.GetImageFromArray(labels.astype(np.int16))
    linear = grid.affine[:3, :3][:, ::-1]  # (i, j, k) columns
    spacing = np.linalg.norm(linear, axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((linear / spacing).ravel().tolist())
    image.SetOrigin(grid.affine[:3, 3].tolist())
    sitk.WriteImage(image, str(path), useCompression=True)


WRITERS = {
    "nibabel.nii.gz": write_with_nibabel,
    "nibabel-qform-scanner-sform-aligned.nii.gz": write_with_nibabel_qform_and_other_sform,
    "nibabel.nii": write_with_nibabel,
    "pynrrd-ras.nrrd": write_with_pynrrd_in_ras,
    "simpleitk-lps.nrrd": write_with_simpleitk,
    "simpleitk.mha": write_with_simpleitk,
}


def export_with_dcmqi(label_files: list[Path], reference: Path, metadata: Path, output: Path) -> None:
    completed = subprocess.run(
        [tool("itkimage2segimage"), "--inputImageList", ",".join(map(str, label_files)),
         "--inputDICOMDirectory", str(reference), "--inputMetadata", str(metadata), "--outputDICOM", str(output),
         "--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber"],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def export_with_us(label_files: list[Path], reference: Path, metadata: Path, output: Path) -> None:
    completed = run_without_slicer("export", "--reference", reference, "--segmentation", *label_files,
                                   "--metadata", metadata, "--output", output)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    assert completed.stdout.splitlines() == [f"{output}: LABELMAP SEG, SeriesInstanceUID "
                                             + str(hd.seg.segread(output).SeriesInstanceUID)]


@pytest.mark.parametrize("file_name", WRITERS)
def test_an_oblique_label_file_exports_as_dcmqi_exports_it(tmp_path, file_name):
    grid = oblique_grid()
    reference = tmp_path / "ct"
    write_series(grid, reference)
    labels = blob_labels(grid.spatial_shape, list(_SEGMENTS), seed=2)
    label_file = tmp_path / file_name
    WRITERS[file_name](labels, grid, label_file)
    metadata = dcmqi_metadata(tmp_path / "metadata.json")
    export_with_dcmqi([label_file], reference, metadata, tmp_path / "dcmqi.dcm")
    export_with_us([label_file], reference, metadata, tmp_path / "ours.dcm")

    dcmqi_positions, dcmqi_numbers = labelled_voxels(tmp_path / "dcmqi.dcm")
    positions, numbers = labelled_voxels(tmp_path / "ours.dcm")
    expected_positions, expected_numbers = expected_voxels(labels, grid)
    np.testing.assert_array_equal(numbers, dcmqi_numbers)
    np.testing.assert_allclose(positions, dcmqi_positions, atol=1e-3)
    np.testing.assert_array_equal(numbers, expected_numbers)
    np.testing.assert_allclose(positions, expected_positions, atol=1e-3)
    assert dciodvfy_errors(tmp_path / "ours.dcm") == []


@pytest.mark.parametrize(("label_files", "metadata_file", "reference"), [
    (["liver_seg.nrrd"], "seg-example.json", "ct-3slice"),
    (["liver_seg.nrrd", "spine_seg.nrrd"], "seg-example_liver_spine.json", "ct-3slice"),
    (["24x38x3/nrrd/label.nrrd"], "seg-example.json", "24x38x3/image"),
    (["23x38x3/nrrd/label.nrrd"], "seg-example.json", "23x38x3/image"),
])
def test_dcmqis_own_label_files_export_as_dcmqi_exports_them(tmp_path, label_files, metadata_file, reference):
    files = [shared_data(f"dcmqi/{name}") for name in label_files]
    reference, metadata = shared_data(f"dcmqi/{reference}"), shared_data(f"dcmqi/metadata/{metadata_file}")
    export_with_dcmqi(files, reference, metadata, tmp_path / "dcmqi.dcm")
    export_with_us(files, reference, metadata, tmp_path / "ours.dcm")
    dcmqi_positions, dcmqi_numbers = labelled_voxels(tmp_path / "dcmqi.dcm")
    positions, numbers = labelled_voxels(tmp_path / "ours.dcm")
    assert len(numbers) > 0
    np.testing.assert_array_equal(numbers, dcmqi_numbers)
    np.testing.assert_allclose(positions, dcmqi_positions, atol=1e-3)


@pytest.mark.parametrize("label_file", sorted(p.name for p in (shared_data("dcmqi")).glob("*.nrrd")))
def test_dcmqis_label_files_read_as_slicer_reads_them(scene, label_file):
    path = shared_data(f"dcmqi/{label_file}")
    ours = read_label_volume(path)
    node = slicer.vtkMRMLLabelMapVolumeNode()
    scene.AddNode(node)
    storage = slicer.vtkMRMLVolumeArchetypeStorageNode()
    storage.SetFileName(str(path))
    assert storage.ReadData(node)
    ijk_to_ras = vtkMatrix4x4()
    node.GetIJKToRASMatrix(ijk_to_ras)
    slicer_grid = geometry_from_ijk_to_ras(matrix_to_numpy(ijk_to_ras), node.GetImageData().GetDimensions())
    np.testing.assert_array_equal(ours.array, array_from_image(node.GetImageData()))
    np.testing.assert_allclose(ours.affine, slicer_grid.affine, atol=1e-6)


@pytest.mark.parametrize("file_name", ["labels.nrrd", "labels.nii.gz", "labels.nii", "labels.mha"])
def test_written_label_volumes_read_back_in_other_readers(tmp_path, file_name):
    grid = oblique_grid()
    labels = blob_labels(grid.spatial_shape, [1, 300], seed=4).astype(np.uint16)
    path = tmp_path / file_name
    write_label_volume(hd.Volume(labels, grid.affine, "PATIENT"), path)
    if file_name.endswith(".nrrd"):
        data, header = nrrd.read(str(path))
        assert header["space"] == "left-posterior-superior" and header["encoding"] == "gzip"
        np.testing.assert_array_equal(data.transpose(2, 1, 0), labels)
        np.testing.assert_allclose(header["space directions"].T, (grid.affine @ _IJK_FROM_KJI)[:3, :3], atol=1e-6)
        np.testing.assert_allclose(header["space origin"], grid.affine[:3, 3], atol=1e-6)
    elif ".nii" in file_name:
        image = nibabel.load(path)
        assert int(image.header["qform_code"]) > 0 and int(image.header["sform_code"]) > 0
        np.testing.assert_array_equal(np.asarray(image.dataobj).transpose(2, 1, 0), labels)
        np.testing.assert_allclose(image.affine, ras_affine_of_ijk(grid), atol=1e-5)
    else:
        assert path.read_bytes().startswith(b"ObjectType = Image")
        assert b"CompressedData = True" in path.read_bytes()[:1000]
    read = read_label_volume(path)
    np.testing.assert_array_equal(read.array, labels)
    np.testing.assert_allclose(read.affine, grid.affine, atol=1e-5)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".partial")]


def test_what_is_not_a_label_volume_is_refused_by_name(tmp_path):
    grid = make_grid((3, 4, 5))
    labels = blob_labels(grid.spatial_shape, [2], seed=1)
    whole_floats = tmp_path / "floats.nrrd"
    nrrd.write(str(whole_floats), labels.transpose(2, 1, 0).astype(np.float32))
    np.testing.assert_array_equal(read_label_volume(whole_floats).array, labels)
    assert read_label_volume(whole_floats).array.dtype == np.uint8
    plane = tmp_path / "plane.nrrd"  # one slice, as ITK reads a 2D file into a volume
    nrrd.write(str(plane), labels[0].T, {"spacings": [0.5, 0.7]})
    read = read_label_volume(plane)
    np.testing.assert_array_equal(read.array, labels[:1])
    np.testing.assert_allclose(read.affine, [[0, 0, 0.5, 0], [0, 0.7, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    in_space = tmp_path / "plane-in-space.nrrd"  # ITK refuses two axes in a three-dimensional space
    nrrd.write(str(in_space), labels[0].T, {"space directions": [[0.5, 0, 0], [0, 0.7, 0]], "space": "left-posterior-superior"})
    with pytest.raises(LabelFileError, match=r"plane-in-space.nrrd: not a readable NRRD file \(ReadImageInformation: number"):
        read_label_volume(in_space)

    cases = {
        "fraction.nrrd": (labels.transpose(2, 1, 0) * 0.25, "not whole numbers"),
        "negative.nii.gz": (labels.transpose(2, 1, 0).astype(np.int32) - 1, "include -1"),
        "large.nrrd": (labels.transpose(2, 1, 0).astype(np.int32) * 40000, "include 80000"),
        "four-axes.nrrd": (np.zeros((2, 3, 4, 5), np.uint8), "has 4"),
    }
    for name, (data, reason) in cases.items():
        path = tmp_path / name
        if name.endswith(".nrrd"):
            nrrd.write(str(path), data)
        else:
            nibabel.save(nibabel.Nifti1Image(data, np.eye(4)), path)
        with pytest.raises(LabelFileError, match=reason) as raised:
            read_label_volume(path)
        assert str(raised.value).startswith(str(path)) and "\n" not in str(raised.value)

    vector = tmp_path / "vector.nrrd"
    nrrd.write(str(vector), np.zeros((3, 4, 5, 6), np.uint8), {"kinds": ["vector", "domain", "domain", "domain"]})
    with pytest.raises(LabelFileError, match="vector.nrrd: a label volume holds one value per voxel; this file has 3"):
        read_label_volume(vector)
    cut = tmp_path / "cut.nrrd"
    cut.write_bytes(shared_data("dcmqi/liver_seg.nrrd").read_bytes()[:-200])
    with pytest.raises(LabelFileError, match=r"cut.nrrd: not a readable NRRD file \(.*expected \d+ bytes") as raised:
        read_label_volume(cut)
    assert "\n" not in str(raised.value) and "itk::" not in str(raised.value)
    with pytest.raises(LabelFileError, match="missing.nii.gz: no such file"):
        read_label_volume(tmp_path / "missing.nii.gz")
    with pytest.raises(LabelFileError, match="labels.png: not a label volume name"):
        read_label_volume(tmp_path / "labels.png")
    with pytest.raises(LabelFileError, match="labels.mhd: label volumes are written as .nrrd, .nii, .nii.gz, .mha"):
        write_label_volume(hd.Volume(labels, grid.affine, "PATIENT"), tmp_path / "labels.mhd")
    assert not (tmp_path / "labels.mhd").exists()


def test_import_writes_the_format_the_output_name_says(tmp_path):
    seg = shared_data("dcmqi/liver.dcm")
    expected = hd.seg.segread(seg).get_volume(combine_segments=True, relabel=False)
    for name in ("labels.nii.gz", "labels.nii", "labels.mha", "labels.nrrd"):
        output = tmp_path / name
        completed = run_without_slicer("import", seg, "--output", output)
        assert completed.returncode == 0, completed.stderr
        assert completed.stderr == ""
        assert completed.stdout.splitlines() == [f"{output}: 1 segments in 1 layer(s), grid 512x512x3"]
        read = hd.Volume(read_label_volume(output).array, read_label_volume(output).affine, "PATIENT")
        np.testing.assert_array_equal(read.match_geometry(expected).array, expected.array)
    assert nibabel.load(tmp_path / "labels.nii.gz").header["sizeof_hdr"] == 348  # NIfTI-1, as the name says
    assert (tmp_path / "labels.nii.gz").read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert (tmp_path / "labels.mha").read_bytes().startswith(b"ObjectType = Image")
    assert (tmp_path / "labels.nrrd").read_bytes().startswith(b"NRRD000")
    assert b"Segment0_ID" not in (tmp_path / "labels.nrrd").read_bytes()[:4000]  # a label volume, not a .seg.nrrd

    seg_nrrd, label_map = tmp_path / "both.seg.nrrd", tmp_path / "both-labels.nii.gz"
    completed = run_without_slicer("import", seg, "--output", seg_nrrd, "--labelmap", label_map)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == "" and len(completed.stdout.splitlines()) == 1
    assert b"Segment0_ID" in seg_nrrd.read_bytes()[:4000]
    np.testing.assert_array_equal(read_label_volume(label_map).array, read_label_volume(tmp_path / "labels.nii.gz").array)


@pytest.mark.parametrize(("arguments", "message"), [
    (["--output", "labels.txt"], "labels.txt: --output writes a Slicer segmentation (.seg.nrrd) or a label volume"),
    (["--output", "labels.mhd"], "labels.mhd: --output writes a Slicer segmentation (.seg.nrrd) or a label volume"),
    (["--output", "a.seg.nrrd", "--labelmap", "b.seg.nrrd"], "b.seg.nrrd: --labelmap writes a label volume (.nrrd"),
])
def test_import_refuses_an_output_name_of_no_format_it_writes(tmp_path, arguments, message):
    folder = tmp_path / "out"
    folder.mkdir()
    named = [str(folder / argument) if "." in argument else argument for argument in arguments]
    completed = run_without_slicer("import", shared_data("dcmqi/liver.dcm"), *named)
    assert completed.returncode == 1
    assert completed.stdout == ""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {folder}/{message}")
    assert list(folder.iterdir()) == []


def test_import_overlapping_segments_to_a_label_volume_is_refused(tmp_path):
    completed = run_without_slicer("import", shared_data("dcmqi/partial_overlaps.dcm"), "--output", tmp_path / "l.nii.gz")
    assert completed.returncode == 1
    assert len(completed.stderr.splitlines()) == 1 and "segments overlap" in completed.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", [
    ["import", "SEG", "--output", "-"],
    ["import", "SEG", "--output", "a.seg.nrrd", "--labelmap", "-"],
    ["export", "--reference", "CT", "--segmentation", "LABELS", "--output", "-"],
    ["preview", "SEG", "--output", "-"],
    ["demo", "--output", "-"],
])
def test_standard_output_is_refused_as_an_output(tmp_path, command):
    names = {"SEG": shared_data("dcmqi/liver.dcm"), "CT": shared_data("dcmqi/ct-3slice"),
             "LABELS": shared_data("dcmqi/liver_seg.nrrd")}
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", *(str(names.get(part, part)) for part in command)],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == ["error: '-' (standard output) is not an output here; give a file name."]
    assert list(tmp_path.iterdir()) == []


def test_a_seg_nrrd_only_slicer_reads_names_the_extra_without_slicer(tmp_path):
    """A ``.seg.nrrd`` with float voxels (Slicer casts them): without slicer-core, one line naming the extra."""
    grid = make_grid((3, 4, 5))
    reference = tmp_path / "ct"
    write_series(grid, reference)
    floats = tmp_path / "float.seg.nrrd"
    nrrd.write(str(floats), blob_labels(grid.spatial_shape, [1], seed=3).transpose(2, 1, 0).astype(np.float32),
               {"space": "left-posterior-superior", "space directions": (grid.affine @ _IJK_FROM_KJI)[:3, :3].T,
                "space origin": grid.affine[:3, 3], "kinds": ["domain"] * 3})
    text = floats.read_bytes().replace(b"\n\n", b"\nSegment0_ID:=Segment_1\nSegment0_LabelValue:=1\n\n", 1)
    floats.write_bytes(text)
    completed = run_without_slicer("export", "--reference", reference, "--segmentation", floats,
                                   "--output", tmp_path / "out.dcm")
    assert completed.returncode == 1
    assert completed.stderr.splitlines() == [
        f"error: {floats}: this .seg.nrrd (from before Slicer 4.11, or of non-integer voxels) is read through "
        "slicer-core: pip install 'dicomlabelmapseg[slicer]'."
    ]
    assert not (tmp_path / "out.dcm").exists()


def test_itks_own_warnings_show_only_with_verbose(tmp_path):
    """ITK prints its warnings on standard error itself; a failed read is one line of ours, ITK's reasons with -v."""
    grid = make_grid((3, 4, 5))
    write_series(grid, tmp_path / "ct")
    sheared = np.eye(4)
    sheared[0, 1] = 0.3
    image = nibabel.Nifti1Image(np.ones((5, 4, 3), np.int16), None)
    image.set_sform(sheared, code=1)
    image.set_qform(None, code=0)
    nibabel.save(image, tmp_path / "sheared.nii.gz")
    export = ["export", "--reference", tmp_path / "ct", "--segmentation", tmp_path / "sheared.nii.gz",
              "--output", tmp_path / "out.dcm"]
    quiet, verbose = run_without_slicer(*export), run_without_slicer("-v", *export)
    assert quiet.returncode == verbose.returncode == 1
    assert quiet.stderr.splitlines() == [f"error: {tmp_path / 'sheared.nii.gz'}: not a readable NIfTI file "
                                         "(ITK only supports orthonormal direction cosines.  No orthonormal definition found!)."]
    assert "unexpected scales in sform" in verbose.stderr
    assert not (tmp_path / "out.dcm").exists()
