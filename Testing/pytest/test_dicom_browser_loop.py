"""Our DICOM plugin driven the way Slicer's DICOM browser drives it, with a real Qt event loop between loadables.

What is real and what is stood in, with the lines of Slicer followed: ``dicom_browser.py``. Also stood in
here: the user's answer to the install dialog.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import slicer
from conftest import PROJECT_ROOT, blob_labels, highdicom_identity, highdicom_liver_descriptions, make_grid, write_series
from dicom_browser import (
    DicomDatabase,
    FileOpens,
    ScalarVolumePlugin,
    application_attributes,
    application_modules,
    browser_load,
    examine_and_select,
    load_plugin_module,
    load_selected,
)

from DicomManager import read_source_series
from DicomManager.app import dependencies
from DicomManager.app.install_refusals import InstallRefusals
from DicomManager.mrml.manager import DicomManager
from DicomManager.mrml.segmentation_nodes import labels_from_segmentation_node
from DicomManager.mrml.volume_nodes import INSTANCE_UIDS_ATTRIBUTE, grid_of_volume_node

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QCoreApplication, QTimer  # noqa: E402

PLUGIN_FILE = PROJECT_ROOT / "DICOMLabelMapSegPlugin" / "DICOMLabelMapSegPlugin.py"


@pytest.fixture(scope="module")
def qt_application():
    """The Qt application whose event loop Slicer's ``slicer.app.processEvents()`` runs."""
    return QCoreApplication.instance() or QCoreApplication([])


@pytest.fixture
def slicer_application(scene, qt_application, study, monkeypatch):
    """The parts of Slicer's application our plugin file uses, around slicer-core's real scene; the study in its database."""
    for name, module in application_modules(QTimer).items():
        monkeypatch.setitem(sys.modules, name, module)
    database = DicomDatabase([*study.segs, *map(Path, study.ct_files)])
    for name, value in application_attributes(scene, database, qt_application.processEvents).items():
        monkeypatch.setattr(slicer, name, value, raising=False)
    monkeypatch.setattr(dependencies, "_refusals", InstallRefusals())
    monkeypatch.setitem(sys.modules, "DICOMLabelMapSegPlugin", None)  # removed after the test; the load fills it
    return load_plugin_module(PLUGIN_FILE)


@pytest.fixture
def study(tmp_path):
    """A CT series and two LABELMAP SEGs of it by highdicom, each with frames only where it has labels."""
    ct_files = write_series(make_grid((14, 32, 30)), tmp_path / "ct")
    source = read_source_series(ct_files)
    labels = np.zeros(source.geometry.spatial_shape, np.uint8)
    labels[4:9] = blob_labels((5, 32, 30), [1, 2], seed=5)
    segs = [_highdicom_labelmap(source, labels, tmp_path / f"seg{index}.dcm", f"Trial {index}") for index in (1, 2)]
    return types.SimpleNamespace(ct_files=[str(p) for p in ct_files], source=source, labels=labels, segs=segs)


def _highdicom_labelmap(source, labels: np.ndarray, path: Path, description: str, segmentation_type="LABELMAP") -> Path:
    segments = highdicom_liver_descriptions((1, 2))
    identity = {**highdicom_identity(), "series_description": description}
    hd.seg.Segmentation(source_images=source.datasets, pixel_array=labels, segmentation_type=segmentation_type,
                        segment_descriptions=segments, omit_empty_frames=True, **identity).save_as(path)
    return path


def labelmap_extent(node) -> tuple[int, ...]:
    segmentation = node.GetSegmentation()
    return segmentation.GetSegment(segmentation.GetNthSegmentID(0)).GetRepresentation("Binary labelmap").GetExtent()


def test_segs_loaded_before_their_ct_in_one_batch_end_on_the_ct_grid(slicer_application, study, scene, qt_application):
    segs = [str(path) for path in study.segs]
    ours, ct_plugin = slicer_application.DICOMLabelMapSegPluginClass(), ScalarVolumePlugin()
    assert browser_load([ours, ct_plugin], [[seg] for seg in segs] + [study.ct_files]) == []
    qt_application.processEvents()  # the application's event loop, once the browser's load has returned

    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1
    volume = scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
    loaded = [scene.GetNthNodeByClass(index, "vtkMRMLSegmentationNode") for index in range(len(segs))]
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == len(segs)
    on_ct_first = DicomManager(scene).load_segmentation(Path(segs[0]), volume)
    on_own_grid = DicomManager(scene).load_segmentation(Path(segs[0]))
    for segmentation in loaded:
        assert segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is volume
        labels, _numbers = labels_from_segmentation_node(segmentation, grid_of_volume_node(volume))
        np.testing.assert_array_equal(labels, study.labels)
        assert labelmap_extent(segmentation) == labelmap_extent(on_ct_first) != labelmap_extent(on_own_grid)


@pytest.mark.parametrize("ct_first", [False, True], ids=["SEG before its CT", "CT first"])
@pytest.mark.parametrize("segmentation_type", ["LABELMAP", "BINARY"])
def test_each_seg_is_opened_once_to_examine_and_once_to_load(
    slicer_application, study, scene, qt_application, tmp_path, *, ct_first, segmentation_type
):
    segs = [str(path) for path in study.segs]
    if segmentation_type == "BINARY":
        segs = [str(_highdicom_labelmap(study.source, study.labels, tmp_path / "binary.dcm", "Binary", "BINARY"))]
        monkeypatch_database_with(slicer_application, [*map(Path, segs), *map(Path, study.ct_files)])
    ours, ct_plugin = slicer_application.DICOMLabelMapSegPluginClass(), ScalarVolumePlugin()
    plugins = [ct_plugin, ours] if ct_first else [ours, ct_plugin]  # the browser loads in plugin order

    with FileOpens(segs) as examined:
        selected = examine_and_select(plugins, [[seg] for seg in segs] + [study.ct_files])
    with FileOpens(segs) as loaded:
        assert load_selected(selected) == []
        qt_application.processEvents()  # where a SEG loaded before its CT moves onto it

    assert examined.counts == dict.fromkeys(segs, 1)
    assert loaded.counts == dict.fromkeys(segs, 1)
    volume = scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == len(segs)
    for index in range(len(segs)):
        segmentation = scene.GetNthNodeByClass(index, "vtkMRMLSegmentationNode")
        assert segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is volume
        labels, _numbers = labels_from_segmentation_node(segmentation, grid_of_volume_node(volume))
        np.testing.assert_array_equal(labels, study.labels)


def test_seg_with_frames_on_every_other_slice_moves_exactly_onto_its_ct(
    slicer_application, study, scene, qt_application, tmp_path
):
    """highdicom declares the CT's SpacingBetweenSlices, so the SEG's own grid is the CT's slices: moved, not read again."""
    labels = np.zeros_like(study.labels)
    labels[2:11:2] = study.labels[2:11:2]  # frames on slices 2, 4, ..., 10 only
    seg = str(_highdicom_labelmap(study.source, labels, tmp_path / "alternate.dcm", "Alternate"))
    monkeypatch_database_with(slicer_application, [Path(seg), *map(Path, study.ct_files)])
    plugins = [slicer_application.DICOMLabelMapSegPluginClass(), ScalarVolumePlugin()]

    with FileOpens([seg]) as loaded:
        assert browser_load(plugins, [[seg], study.ct_files]) == []
        qt_application.processEvents()

    assert loaded.counts == {seg: 2}  # examined, loaded on its own grid; moved without reading it again
    volume = scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
    segmentation = scene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    assert segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is volume
    on_ct, _numbers = labels_from_segmentation_node(segmentation, grid_of_volume_node(volume))
    np.testing.assert_array_equal(on_ct, labels)


def monkeypatch_database_with(plugin_module, files: list[Path]) -> None:
    """Slicer's DICOM database holding ``files`` (the fixture's monkeypatch restores the one before)."""
    slicer.dicomDatabase = DicomDatabase(files)


@pytest.mark.parametrize("user_installs", [False, True])
def test_on_slicer_5_10_our_loadable_is_preselected_and_the_user_asked_once_per_batch(
    slicer_application, study, scene, monkeypatch, user_installs
):
    asked, installed, restart_offered = [], [], []

    def user_answers(text, windowTitle=None, **kwargs):
        asked.append(text)
        return user_installs

    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", user_answers, raising=False)
    monkeypatch.setattr(slicer.util, "pip_install", installed.append, raising=False)  # pip is not run here
    monkeypatch.setattr(slicer.util, "confirmYesNoDisplay", lambda *a, **k: restart_offered.append(a) or False, raising=False)
    # As on Slicer 5.10 before the first load: a package that reading needs is not installed.
    needed = [*slicer_application.requirements_to_read(pydicom.uid.ExplicitVRLittleEndian), "highdicom>=999"]
    monkeypatch.setattr(slicer_application, "requirements_to_read", lambda transfer_syntax_uid: needed)
    segs = [str(path) for path in study.segs]

    failed = browser_load([slicer_application.DICOMLabelMapSegPluginClass(), ScalarVolumePlugin()],
                          [[seg] for seg in segs] + [study.ct_files])

    assert failed == ["Trial 1", "Trial 2"]  # not installed (declined, or pip did not run): both fail
    assert len(asked) == 1 and "highdicom>=999" in asked[0]
    assert installed == ([["highdicom>=999"]] if user_installs else [])
    assert len(restart_offered) == int(user_installs)  # highdicom is in memory already
    assert scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode") == 0
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1  # the CT; no SEG taken for an image


def test_under_testing_nothing_is_installed_nor_asked(slicer_application, study, scene, monkeypatch):
    asked = []
    monkeypatch.setattr(slicer.util, "confirmOkCancelDisplay", lambda *a, **k: asked.append(a) or True, raising=False)
    monkeypatch.setattr(slicer.util, "pip_install", asked.append, raising=False)
    monkeypatch.setattr(slicer.app, "testingEnabled", lambda: True)
    needed = [*slicer_application.requirements_to_read(pydicom.uid.ExplicitVRLittleEndian), "highdicom>=999"]
    monkeypatch.setattr(slicer_application, "requirements_to_read", lambda transfer_syntax_uid: needed)
    seg = str(study.segs[0])

    assert browser_load([slicer_application.DICOMLabelMapSegPluginClass()], [[seg]]) == ["Trial 1"]
    assert asked == []


def load_alone_then_the_ct(slicer_application, study, scene, qt_application, first: Path) -> tuple:
    """Load ``first`` (a SEG, or a report that brings one) alone, then the CT, each as one browser batch.

    Returns the segmentation node, its labelmap extent before the CT arrived, and the CT's volume node.
    """
    ours = slicer_application.DICOMLabelMapSegPluginClass()
    assert browser_load([ours, ScalarVolumePlugin()], [[str(first)]]) == []
    qt_application.processEvents()
    segmentation = scene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    on_own_grid = labelmap_extent(segmentation)

    assert browser_load([ours, ScalarVolumePlugin()], [study.ct_files]) == []
    qt_application.processEvents()
    return segmentation, on_own_grid, scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")


def test_seg_loaded_alone_moves_when_its_ct_is_loaded_later(slicer_application, study, scene, qt_application):
    segmentation, on_own_grid, volume = load_alone_then_the_ct(
        slicer_application, study, scene, qt_application, study.segs[0])
    assert labelmap_extent(segmentation) == labelmap_extent(DicomManager(scene).load_segmentation(study.segs[0], volume))
    assert labelmap_extent(segmentation) != on_own_grid


@pytest.mark.parametrize("change", ["segments edited", "node removed", "scene closed"])
def test_seg_is_not_moved_after_it_changed_or_left(slicer_application, study, scene, qt_application, change):
    seg = str(study.segs[0])
    ours = slicer_application.DICOMLabelMapSegPluginClass()
    assert browser_load([ours], [[seg]]) == []
    segmentation = scene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    own_extent = labelmap_extent(segmentation)
    if change == "segments edited":  # as the Segment Editor does: the segment's labelmap modified in place
        labelmap = segmentation.GetSegmentation().GetNthSegment(0).GetRepresentation("Binary labelmap")
        labelmap.SetScalarComponentFromDouble(*labelmap.GetExtent()[::2], 0, 1)
        labelmap.Modified()
    elif change == "node removed":
        scene.RemoveNode(segmentation)
    else:
        scene.Clear(0)

    assert browser_load([ScalarVolumePlugin()], [study.ct_files]) == []
    qt_application.processEvents()
    assert scene.GetNumberOfNodesByClass("vtkMRMLScalarVolumeNode") == 1
    assert labelmap_extent(segmentation) == own_extent  # still on the SEG's own grid: not moved


def test_a_refusal_holds_while_asks_come_within_its_time_and_lapses_after():
    now = [0.0]
    refusals = InstallRefusals(holds_s=60.0, clock=lambda: now[0])
    assert not refusals.holds(["highdicom>=0.27.0"])
    refusals.refused(["highdicom>=0.27.0", "pydicom>=3.0.2"])
    for now[0] in (50.0, 100.0, 150.0):  # each ask within 60 s of the one before
        assert refusals.holds(["pydicom>=3.0.2", "highdicom>=0.27.0"])
    assert not refusals.holds(["highdicom>=0.27.0"])
    now[0] = 211.0
    assert not refusals.holds(["pydicom>=3.0.2", "highdicom>=0.27.0"])


@pytest.fixture
def report_of_first_seg(study, tmp_path):
    """A TID 1500 measurement report of the study's first SEG, over its CT."""
    from DicomManager.core.measurements.measurement_report import write_measurement_report
    from DicomManager.core.measurements.measuring import measure_seg

    return write_measurement_report(measure_seg(study.segs[0], study.source).report(), tmp_path / "report.dcm")


@pytest.mark.parametrize("selected", ["report alone", "report, its SEG and the CT"])
def test_a_report_loads_as_a_table_with_its_seg_once(
    slicer_application, study, scene, monkeypatch, report_of_first_seg, selected
):
    """The report is examined and loaded by our plugin; its SEG is loaded once, by our loader, whatever else is selected."""
    monkeypatch.setattr(slicer, "dicomDatabase", DicomDatabase([report_of_first_seg, *study.segs, *study.ct_files]))
    monkeypatch.setattr(slicer.app, "layoutManager", lambda: None, raising=False)  # headless: no table view to show
    report, seg = str(report_of_first_seg), str(study.segs[0])
    file_lists = [[report]] if selected == "report alone" else [[report], [seg], study.ct_files]
    ours = slicer_application.DICOMLabelMapSegPluginClass()

    (offered,) = ours.examineForImport([[report]])
    assert offered.confidence > 0.95 and offered.selected  # above Slicer's TID 1500 plugin
    assert browser_load([ours, ScalarVolumePlugin()], file_lists) == []
    slicer.app.processEvents()  # the application's event loop, once the browser's load has returned

    (table,) = [scene.GetNthNodeByClass(i, "vtkMRMLTableNode") for i in range(scene.GetNumberOfNodesByClass("vtkMRMLTableNode"))]
    numbers = sorted(int(n) for n in np.unique(study.labels) if n)
    rows = [table.GetTable().GetValueByName(row, "Segment number").ToInt() for row in range(table.GetNumberOfRows())]
    assert sorted(rows) == numbers
    for row, number in enumerate(rows):
        voxels = table.GetTable().GetValueByName(row, "Number of voxels").ToDouble()
        assert voxels == np.count_nonzero(study.labels == number)
    assert table.GetColumnUnitLabel("Volume") == "mm3"
    seg_uid = str(pydicom.dcmread(seg, stop_before_pixels=True).SOPInstanceUID)
    segmentations = [scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode")
                     for i in range(scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"))]
    assert [node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) for node in segmentations] == [seg_uid]
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    dicom_uid = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMUIDName()
    report_series = str(pydicom.dcmread(report, stop_before_pixels=True).SeriesInstanceUID)
    assert hierarchy.GetItemUID(hierarchy.GetItemByDataNode(table), dicom_uid) == report_series
    seg_series = str(pydicom.dcmread(seg, stop_before_pixels=True).SeriesInstanceUID)
    assert hierarchy.GetItemUID(hierarchy.GetItemByDataNode(segmentations[0]), dicom_uid) == seg_series


def test_a_seg_a_report_brought_in_moves_onto_its_ct_loaded_later(
    slicer_application, study, scene, qt_application, monkeypatch, report_of_first_seg
):
    """Placed as a SEG loaded alone is: on its own grid until its CT is loaded, then on the CT's."""
    monkeypatch.setattr(slicer, "dicomDatabase", DicomDatabase([report_of_first_seg, *study.segs, *study.ct_files]))
    monkeypatch.setattr(slicer.app, "layoutManager", lambda: None, raising=False)
    segmentation, on_own_grid, volume = load_alone_then_the_ct(
        slicer_application, study, scene, qt_application, report_of_first_seg)
    assert segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is volume
    loaded_after_ct = DicomManager(scene).load_segmentation(study.segs[0], volume)
    assert labelmap_extent(segmentation) == labelmap_extent(loaded_after_ct) != on_own_grid
    labels, _numbers = labels_from_segmentation_node(segmentation, grid_of_volume_node(volume))
    np.testing.assert_array_equal(labels, study.labels)
