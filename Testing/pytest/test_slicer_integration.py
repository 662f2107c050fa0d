"""What the DICOM browser plugin and the database operations decide, tested without the Slicer application.

The plugin, the panel and ``DicomManager.app`` only pass these decisions to
Slicer; their own code is checked by the Slicer self-tests and by ruff.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import PROJECT_ROOT, blob_labels, dciodvfy_errors, demo_segments, make_grid, shared_data, write_series

from DicomManager import read_seg, read_source_series
from DicomManager.app.loadable_offer import PLUGIN_KEY, SEG_CONFIDENCE, export_offer, offer_for_seg_series
from DicomManager.app.package_requirements import NETWORK_REQUIREMENTS, missing_requirements, restart_needed
from DicomManager.cli.demo import write_demo_files
from DicomManager.core.reading.seg_references import find_segmentations_referencing, read_seg_references
from DicomManager.core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UID
from DicomManager.core.writing.synthetic_series import SyntheticSeriesInfo
from DicomManager.errors import SegFileError, SourceSeriesError
from DicomManager.mrml.image_arrays import array_from_image, fill_image_from_array, ijk_to_ras_of_grid
from DicomManager.mrml.segmentation_nodes import create_segmentation_node, labels_from_segmentation_node
from DicomManager.mrml.volume_nodes import INSTANCE_UIDS_ATTRIBUTE, grid_of_volume_node

CORE_SEG_PLUGIN_CONFIDENCE = 0.95  # Slicer 5.12's DICOMSegmentationPlugin offers every SEG at this
SCALAR_VOLUME_PLUGIN_CONFIDENCE = 0.5  # DICOMScalarVolumePlugin's for every series but a classic SEG


@pytest.mark.parametrize("sop_class_uid", [LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UID])
def test_seg_is_offered_above_the_core_plugin(sop_class_uid):
    offer = offer_for_seg_series(sop_class_uid, "SEG", "Liver and spine")
    assert offer is not None and offer.selected
    assert CORE_SEG_PLUGIN_CONFIDENCE < offer.confidence == SEG_CONFIDENCE < 1.0
    assert offer.name == "Liver and spine"
    assert offer_for_seg_series(sop_class_uid, "SEG", "  ").name == "Segmentation"


def test_tiled_labelmap_is_offered_but_tiled_binary_is_not():
    assert offer_for_seg_series(LABELMAP_SEG_SOP_CLASS_UID, "SEG", "x", "TILED_SPARSE") is not None
    assert offer_for_seg_series(SEGMENTATION_SOP_CLASS_UID, "SEG", "x", "TILED_SPARSE") is None


@pytest.mark.parametrize(
    ("sop_class_uid", "modality"),
    [("1.2.840.10008.5.1.4.1.1.2", "CT"), (LABELMAP_SEG_SOP_CLASS_UID, "CT"), ("", "")],
)
def test_nothing_else_is_offered(sop_class_uid, modality):
    assert offer_for_seg_series(sop_class_uid, modality, "x") is None


def test_examining_does_not_import_highdicom():
    code = (
        "import sys, DicomManager.app.loadable_offer, DicomManager.core.reading.seg_references;"
        "print(sorted(m for m in ('highdicom', 'slicer') if m in sys.modules))"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_references_of_our_seg_name_every_source_image(tmp_path):
    files = write_demo_files(tmp_path)
    references = read_seg_references(files.seg.path)
    assert references.sop_class_uid == LABELMAP_SEG_SOP_CLASS_UID
    assert references.series_instance_uid == files.seg.series_instance_uid
    assert references.referenced_series_uid == files.source.series_instance_uid
    assert sorted(references.referenced_instance_uids) == sorted(files.source.sop_instance_uids)


@pytest.mark.parametrize("name", ["dcmqi/liver.dcm", "dcmqi/sparse-labelmap-ppv5.dcm", "highdicom/seg_image_ct_binary.dcm"])
def test_references_of_other_writers_segs_agree_with_pydicom(name):
    path = shared_data(name)
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    references = read_seg_references(path)
    series = dataset.ReferencedSeriesSequence[0]
    assert references.referenced_series_uid == series.SeriesInstanceUID
    assert set(references.referenced_instance_uids) == {i.ReferencedSOPInstanceUID for i in series.ReferencedInstanceSequence}


def test_references_of_a_non_seg_are_refused():
    with pytest.raises(SegFileError, match="not a Segmentation Storage class"):
        read_seg_references(shared_data("highdicom/ct_image.dcm"))


def test_segmentations_referencing_a_series_are_found_among_any_files(tmp_path):
    files = write_demo_files(tmp_path)
    (tmp_path / "notes.txt").write_text("not DICOM")
    candidates = [*tmp_path.rglob("*.*"), shared_data("dcmqi/liver.dcm"), shared_data("highdicom/seg_image_ct_binary.dcm")]
    found = find_segmentations_referencing(files.source.series_instance_uid, candidates)
    assert found == [files.seg.series_instance_uid]
    liver = pydicom.dcmread(shared_data("dcmqi/liver.dcm"), stop_before_pixels=True)
    referenced = liver.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert find_segmentations_referencing(referenced, candidates) == [liver.SeriesInstanceUID]
    assert find_segmentations_referencing("1.2.3.4", candidates) == []


def _volume_node(scene, voxels, grid, name="Not from DICOM"):
    """A scalar volume made in memory, as a user's NRRD or SampleData volume would be."""
    import vtk

    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    image = vtk.vtkImageData()
    fill_image_from_array(image, voxels)
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(ijk_to_ras_of_grid(grid))
    return node


def test_volume_not_from_dicom_gets_a_series_that_a_seg_can_reference(manager, scene, tmp_path):
    grid = make_grid((7, 20, 24), row_direction=(0, 1, 0), column_direction=(0, 0, -1))
    voxels = (np.indices(grid.spatial_shape).sum(axis=0) * 3 - 40).astype(np.int16)
    volume = _volume_node(scene, voxels, grid)
    info = SyntheticSeriesInfo(patient_id="P-123", series_description="MRHead", rescale_type="US")

    source = manager.create_synthetic_series(volume, tmp_path / "dicom", info)

    assert volume.GetAttribute(INSTANCE_UIDS_ATTRIBUTE).split() == source.sop_instance_uids
    assert dciodvfy_errors(source.paths[0]) == []
    first = pydicom.dcmread(source.paths[0])
    assert (first.PatientID, first.PatientName, first.StudyDate, first.RescaleType) == ("P-123", "", "", "US")
    reread = hd.get_volume_from_series([pydicom.dcmread(p) for p in source.paths]).match_geometry(grid_of_volume_node(volume))
    np.testing.assert_array_equal(reread.array, voxels)

    labels = hd.Volume(blob_labels(grid.spatial_shape, [1, 2, 3]), grid.affine, "PATIENT")
    segmentation = create_segmentation_node(scene, labels, demo_segments([1, 2, 3]), "on MRHead")
    (path,) = manager.export_segmentation(segmentation, volume, tmp_path / "seg").paths
    loaded = manager.load_segmentation(path, manager.find_reference_volume(path))
    reloaded, _ = labels_from_segmentation_node(loaded, grid_of_volume_node(volume))
    np.testing.assert_array_equal(reloaded, labels.array)


def test_float_volume_is_stored_within_half_a_rescale_step(manager, scene, tmp_path, caplog):
    grid = make_grid((3, 8, 9))
    voxels = np.linspace(-0.5, 2.75, num=3 * 8 * 9).reshape(grid.spatial_shape).astype(np.float32)
    volume = _volume_node(scene, voxels, grid)
    source = manager.create_synthetic_series(volume, tmp_path, SyntheticSeriesInfo(patient_id="P", rescale_type="US"))
    assert "RescaleSlope" in caplog.text
    slope = float(pydicom.dcmread(source.paths[0]).RescaleSlope)
    reread = hd.get_volume_from_series([pydicom.dcmread(p) for p in source.paths], dtype=np.float64)
    np.testing.assert_allclose(reread.match_geometry(grid).array, voxels, atol=slope)
    np.testing.assert_array_equal(array_from_image(volume.GetImageData()), voxels)  # the node itself is untouched


def test_volume_with_nan_gets_no_series(manager, scene, tmp_path):
    grid = make_grid((2, 4, 4))
    voxels = np.zeros(grid.spatial_shape, dtype=np.float32)
    voxels[1, 2, 3] = np.nan
    with pytest.raises(SourceSeriesError, match="NaN"):
        manager.create_synthetic_series(_volume_node(scene, voxels, grid), tmp_path, SyntheticSeriesInfo(patient_id="P"))
    assert list(tmp_path.iterdir()) == []


def test_export_problem_says_why_a_segmentation_cannot_be_exported(manager, scene, tmp_path):
    grid = make_grid((4, 10, 12))
    labels = hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT")
    segmentation = create_segmentation_node(scene, labels, demo_segments([1]), "Lesion")
    assert "has no reference volume" in manager.export_problem(segmentation)

    volume = _volume_node(scene, np.zeros(grid.spatial_shape, np.int16), grid, "Scratch")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    assert "'Scratch' was not loaded from DICOM" in manager.export_problem(segmentation)

    volume.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, "1.2.3 1.2.4")
    assert "2 of the 2 images of volume 'Scratch' are not found" in manager.export_problem(segmentation)

    write_series(grid, tmp_path / "ct")
    dicom_volume = manager.load_reference_volume(tmp_path / "ct")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(dicom_volume)
    assert manager.reference_volume_of(segmentation) is dicom_volume
    assert manager.export_problem(segmentation) is None


def test_reference_volume_is_found_by_the_images_a_seg_references(manager, scene, tmp_path):
    files = write_demo_files(tmp_path)
    assert manager.find_reference_volume(files.seg.path) is None
    manager.load_reference_volume(shared_data("dcmqi/ct-3slice"))  # a volume of another series
    volume = manager.load_reference_volume(tmp_path / "ct")
    superset = _volume_node(scene, np.zeros((1, 1, 1), np.int16), files.source.geometry, "Holds more images")
    superset.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, " ".join([*files.source.sop_instance_uids, "1.2.3"]))
    assert manager.find_reference_volume(files.seg.path) is volume
    scene.RemoveNode(volume)
    assert manager.find_reference_volume(files.seg.path) is superset


def test_demo_files_are_a_valid_seg_over_their_series(tmp_path):
    files = write_demo_files(tmp_path)
    assert dciodvfy_errors(files.source.paths[0]) == []
    result = read_seg(files.seg.path, read_source_series(files.source.paths).geometry)
    np.testing.assert_array_equal(result.labels.array, files.case.labels.array)
    assert result.segments == files.case.segments


def test_network_requirements_are_the_network_extra():
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    assert list(NETWORK_REQUIREMENTS) == project["optional-dependencies"]["network"]


def test_missing_requirements_are_named_in_the_order_given():
    requirements = ["numpy>=1.0", "numpy<1.0", "no-such-package-dicomlabelmapseg>=1", "also-absent; python_version < '3'"]
    assert missing_requirements(requirements) == ["numpy<1.0", "no-such-package-dicomlabelmapseg>=1"]


@pytest.mark.parametrize(
    ("installed", "loaded", "expected"),
    [
        (["pydicom>=3.0.2"], {"pydicom"}, True),  # Slicer 5.10 imported pydicom 2.4 at startup
        (["highdicom>=0.27.0"], {"pydicom"}, False),  # nothing of it in memory yet
        (["pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.3"], {"pydicom", "pydicom.pixels.decoders"}, True),
        (["pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.3"], {"pydicom"}, False),  # pydicom will look when it first decodes
        (["dicomweb-client>=0.59"], {"pydicom", "pydicom.pixels.encoders"}, False),
        (["dicomweb-client>=0.59"], {"dicomweb_client"}, True),
    ],
)
def test_a_restart_is_needed_when_what_was_installed_is_already_in_memory(installed, loaded, expected):
    assert restart_needed(installed, loaded) is expected


def test_a_seg_needing_packages_is_offered_unselected_below_the_core_plugin_saying_which():
    offer = offer_for_seg_series(LABELMAP_SEG_SOP_CLASS_UID, "SEG", "Organs").needing_packages(["highdicom>=0.27.0"])
    assert offer.confidence < CORE_SEG_PLUGIN_CONFIDENCE and not offer.selected
    assert "highdicom>=0.27.0" in offer.warning
    ready = offer_for_seg_series(LABELMAP_SEG_SOP_CLASS_UID, "SEG", "Organs")
    assert ready.needing_packages([]) == ready and ready.warning == ""


def test_a_seg_needing_packages_where_no_seg_plugin_is_registered_is_offered_first_and_selected():
    """Slicer 5.10: no core SEG plugin, and DICOMScalarVolumePlugin offers a LABELMAP SEG at 0.5, selected.

    (v5.10.0 Modules/Scripted/DICOMPlugins/DICOMScalarVolumePlugin.py 195-201 and 325; the browser
    selects the highest confidence per series, DICOMUtils.py 222-256.)
    """
    ready = offer_for_seg_series(LABELMAP_SEG_SOP_CLASS_UID, "SEG", "Organs")
    offer = ready.needing_packages(["highdicom>=0.27.0", "pydicom>=3.0.2"], seg_plugin_registered=False)
    assert offer.selected and offer.confidence == SEG_CONFIDENCE > SCALAR_VOLUME_PLUGIN_CONFIDENCE
    assert offer.warning == ""  # a warning would make the browser ask before the install dialog asks
    assert "highdicom>=0.27.0, pydicom>=3.0.2" in offer.tooltip and offer.tooltip.startswith(ready.tooltip)


def _export_dialog_order(confidences_by_plugin: dict[str, float]) -> list[str]:
    """The order in which Slicer's export dialog lists plugins (qSlicerDICOMExportDialog.cxx, 5.10 and 5.12).

    Plugins go into a QMultiMap keyed by 1 - confidence, in alphabetical
    order of their names; a QMultiMap lists its keys in ascending order and,
    under one key, the value inserted last first.
    """
    by_key: dict[float, list[str]] = {}
    for plugin in sorted(confidences_by_plugin):
        by_key.setdefault(1.0 - confidences_by_plugin[plugin], []).insert(0, plugin)
    return [plugin for key in sorted(by_key) for plugin in by_key[key]]


def test_our_exporter_is_listed_first_in_the_export_dialog():
    ours = export_offer()
    order = _export_dialog_order({"DICOMSegmentationPlugin": 1.0, PLUGIN_KEY: ours.confidence})
    assert order == [PLUGIN_KEY, "DICOMSegmentationPlugin"]
    assert f"{ours.confidence * 100:.0f}" == "100"  # as the dialog shows it
    assert _export_dialog_order({"DICOMSegmentationPlugin": 1.0, PLUGIN_KEY: 1.0})[0] == "DICOMSegmentationPlugin"


def test_our_exporter_needing_packages_is_listed_after_the_core_one():
    offer = export_offer(["highdicom>=0.27.0"])
    assert _export_dialog_order({"DICOMSegmentationPlugin": 1.0, PLUGIN_KEY: offer.confidence})[0] == "DICOMSegmentationPlugin"
    assert "highdicom>=0.27.0" in offer.tooltip


def test_the_browser_sees_the_transfer_syntax_of_a_seg_from_its_header(tmp_path):
    files = write_demo_files(tmp_path)
    assert read_seg_references(files.seg.path).transfer_syntax_uid == pydicom.uid.RLELossless
    assert read_seg_references(shared_data("dcmqi/liver.dcm")).transfer_syntax_uid == pydicom.uid.ExplicitVRLittleEndian


def test_extension_cmake_lists_every_python_file():
    for folder in ("DicomManager", "DICOMLabelMapSeg", "DICOMLabelMapSegPlugin"):
        cmake = (PROJECT_ROOT / folder / "CMakeLists.txt").read_text()
        listed = set(re.findall(r"^\s+([\w/]+\.py)$", cmake.replace("${MODULE_NAME}", folder), re.MULTILINE))
        on_disk = {str(p.relative_to(PROJECT_ROOT / folder)) for p in (PROJECT_ROOT / folder).rglob("*.py")}
        assert listed == on_disk, folder
    top = (PROJECT_ROOT / "CMakeLists.txt").read_text()
    assert re.findall(r"add_subdirectory\((\w+)\)", top) == ["DicomManager", "DICOMLabelMapSegPlugin", "DICOMLabelMapSeg"]
    for url in re.findall(r'"https://raw.githubusercontent.com/[^/]+/[^/]+/main/([^"]+)"', top):
        assert (PROJECT_ROOT / url).is_file(), url


def test_panel_form_puts_one_widget_in_each_cell_and_binds_parameters_that_exist():
    """Qt drops a second widget given the same form cell; a SlicerParameterName must name a parameter node field."""
    import ast
    from xml.etree import ElementTree

    ui = ElementTree.parse(PROJECT_ROOT / "DICOMLabelMapSeg/Resources/UI/DICOMLabelMapSeg.ui")
    for layout in ui.iter("layout"):
        if layout.get("class") != "QFormLayout":
            continue
        cells = [(item.get("row"), column) for item in layout.findall("item")
                 for column in (["0", "1"] if item.get("colspan") == "2" else [item.get("column")])]
        assert len(cells) == len(set(cells)), f"{layout.get('name')}: {sorted(cells)}"
    bound = {prop.findtext("string") for prop in ui.iter("property") if prop.get("name") == "SlicerParameterName"}
    module = ast.parse((PROJECT_ROOT / "DICOMLabelMapSeg/DICOMLabelMapSeg.py").read_text())
    (node_class,) = [n for n in module.body if isinstance(n, ast.ClassDef) and n.name == "DICOMLabelMapSegParameterNode"]
    fields = {statement.target.id for statement in node_class.body if isinstance(statement, ast.AnnAssign)}
    assert bound <= fields
    assert "cropToSegments" in bound
