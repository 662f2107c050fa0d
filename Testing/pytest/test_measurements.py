"""Segment statistics and their TID 1500 measurement report, checked against VTK, dcmqi and highdicom.

The statistics are held against the VTK filters Slicer's Segment Statistics runs
(``ScalarVolumeSegmentStatisticsPlugin.computeStatistics`` at v5.12.3: a stencil of the
segment, ``vtkImageAccumulate`` for count, min, max, mean and standard deviation). The reports
are read back by dcmqi's ``tid1500reader`` and highdicom's SR API, over SEGs dcmqi wrote, with
values the tests compute from the SEG as highdicom reads it and the CT as pydicom reads it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import slicer
import vtk
from conftest import blob_labels, dciodvfy_errors, demo_segments, make_grid, shared_data, tool
from vtk.util.numpy_support import numpy_to_vtk

from DicomManager import SegmentMetadata
from DicomManager.core.measurements.segment_statistics import segment_statistics
from DicomManager.core.segments.layered_segmentation import LayeredSegmentation

CT = "dcmqi/ct-3slice"
LABELMAP_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.66.7"
VALIDATOR_QUIRK = "ReferencedSegmentNumber(0062,000b)> - Shall not be present for Referenced SOP Class that is not segmentation"
"""dicom3tools 2026-09 does not count Label Map Segmentation Storage as a segmentation SOP class."""


def _vtk_image(array: np.ndarray) -> vtk.vtkImageData:
    image = vtk.vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    image.GetPointData().SetScalars(numpy_to_vtk(np.ascontiguousarray(array).ravel(), deep=True))
    return image


def _slicer_statistics(labels: np.ndarray, values: np.ndarray, number: int) -> vtk.vtkImageAccumulate:
    """``vtkImageAccumulate`` over the segment's stencil, as Slicer's scalar volume plugin runs it."""
    stencil = vtk.vtkImageToImageStencil()
    stencil.SetInputData(_vtk_image(labels))
    stencil.ThresholdBetween(number, number)
    stencil.Update()
    accumulate = vtk.vtkImageAccumulate()
    accumulate.SetInputData(_vtk_image(values))
    accumulate.SetStencilData(stencil.GetOutput())
    accumulate.Update()
    return accumulate


def test_statistics_are_those_of_slicers_segment_statistics():
    grid = make_grid((6, 20, 24))
    numbers = [1, 2, 5, 9]
    labels = blob_labels(grid.spatial_shape, numbers, seed=3)
    values = np.random.default_rng(1).integers(-1000, 2000, grid.spatial_shape).astype(np.float32)
    segments = [SegmentMetadata(number=n, label=f"S{n}") for n in [*numbers, 12]]
    segmentation = LayeredSegmentation.from_labels(hd.Volume(labels, grid.affine, "PATIENT"), segments)

    measured = segment_statistics(segmentation, hd.Volume(values, grid.affine, "PATIENT"))

    assert [entry.segment_number for entry in measured] == [1, 2, 5, 9, 12]
    for entry in measured[:-1]:
        vtk_stats = _slicer_statistics(labels, values, entry.segment_number)
        assert entry.voxel_count == vtk_stats.GetVoxelCount() == np.count_nonzero(labels == entry.segment_number)
        assert entry.volume_mm3 == pytest.approx(entry.voxel_count * 2.0 * 0.75 * 0.75)
        assert entry.intensity.minimum == vtk_stats.GetMin()[0]
        assert entry.intensity.maximum == vtk_stats.GetMax()[0]
        assert entry.intensity.mean == pytest.approx(vtk_stats.GetMean()[0], rel=1e-12)
        assert entry.intensity.standard_deviation == pytest.approx(vtk_stats.GetStandardDeviation()[0], rel=1e-9)
        assert entry.intensity.median == np.median(values[labels == entry.segment_number])
    assert measured[-1].voxel_count == 0
    assert measured[-1].intensity is None


def test_the_median_is_the_true_median_where_vtk_reports_one_bin_low():
    grid = make_grid((1, 1, 3))
    labels = np.ones(grid.spatial_shape, np.uint8)
    values = np.full(grid.spatial_shape, 5, np.int16)  # whole numbers, as a CT volume in Slicer holds them
    histogram = vtk.vtkImageHistogramStatistics()
    histogram.SetInputData(_vtk_image(values))
    histogram.Update()
    segmentation = LayeredSegmentation.from_labels(
        hd.Volume(labels, grid.affine, "PATIENT"), [SegmentMetadata(number=1, label="Five")]
    )

    (entry,) = segment_statistics(segmentation, hd.Volume(values, grid.affine, "PATIENT"))

    assert histogram.GetMedian() == 4  # Slicer's median of [5, 5, 5]
    assert entry.intensity.median == 5
    assert entry.intensity.standard_deviation == 0


@pytest.fixture(scope="module")
def dcmqi_labelmap(tmp_path_factory) -> Path:
    """A LABELMAP SEG of liver and spine over the 3-slice CT, written by dcmqi."""
    folder = tmp_path_factory.mktemp("dcmqi-labelmap")
    metadata = json.loads(shared_data("dcmqi/metadata/seg-example_liver_spine.json").read_text())
    metadata["segmentAttributes"] = [sum(metadata["segmentAttributes"], [])]  # one label file holds both
    (folder / "meta.json").write_text(json.dumps(metadata))
    output = folder / "liver_spine.dcm"
    subprocess.run(
        [
            tool("itkimage2segimage"), "--inputImageList", str(shared_data("dcmqi/liver_spine_seg.nrrd")),
            "--inputDICOMDirectory", str(shared_data(CT)), "--inputMetadata", str(folder / "meta.json"),
            "--outputDICOM", str(output), "--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber",
        ],
        check=True, capture_output=True,
    )
    return output


def _expected_statistics(seg_path: Path) -> dict[int, dict[str, float]]:
    """Per segment: what the test computes from the SEG as highdicom reads it and the CT as pydicom reads it."""
    ct = sorted((pydicom.dcmread(p) for p in shared_data(CT).glob("*.dcm")), key=lambda d: float(d.ImagePositionPatient[2]))
    values = np.stack([d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in ct])
    labels = hd.seg.segread(seg_path).get_pixels_by_source_instance(
        [d.SOPInstanceUID for d in ct], combine_segments=True, relabel=False, ignore_spatial_locations=True
    )
    slice_spacing = float(ct[1].ImagePositionPatient[2]) - float(ct[0].ImagePositionPatient[2])  # as Slicer's volume node
    voxel = float(ct[0].PixelSpacing[0]) * float(ct[0].PixelSpacing[1]) * slice_spacing
    expected = {}
    for number in np.unique(labels[labels != 0]):
        under = values[labels == number]
        expected[int(number)] = {
            "Number of voxels": under.size, "Volume": under.size * voxel, "Minimum": under.min(),
            "Maximum": under.max(), "Mean": under.mean(), "Median": np.median(under), "Standard Deviation": under.std(ddof=1),
        }
    return expected


def _measure(seg: Path, reference: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("dicomlabelmapseg"), "measure", str(seg), "--reference", str(reference), "--output", str(output)],
        capture_output=True, text=True, check=False,
    )


def test_a_report_over_a_dcmqi_labelmap_reads_back_in_dcmqi_and_highdicom(dcmqi_labelmap: Path, tmp_path: Path):
    report_path = tmp_path / "report.dcm"
    completed = _measure(dcmqi_labelmap, shared_data(CT), report_path)
    assert completed.returncode == 0, completed.stderr
    expected = _expected_statistics(dcmqi_labelmap)
    seg = pydicom.dcmread(dcmqi_labelmap, stop_before_pixels=True)
    segment_items = {int(item.SegmentNumber): item for item in seg.SegmentSequence}

    # dcmqi's reader: values, references and codes.
    subprocess.run(
        [tool("tid1500reader"), "--inputDICOM", str(report_path), "--outputMetadata", str(tmp_path / "out.json")],
        check=True, capture_output=True,
    )
    dcmqi_view = json.loads((tmp_path / "out.json").read_text())
    assert sorted(group["ReferencedSegment"] for group in dcmqi_view["Measurements"]) == sorted(expected)
    for group in dcmqi_view["Measurements"]:
        number = group["ReferencedSegment"]
        assert group["segmentationSOPInstanceUID"] == seg.SOPInstanceUID
        assert group["SourceSeriesForImageSegmentation"] == seg.ReferencedSeriesSequence[0].SeriesInstanceUID
        assert group["TrackingIdentifier"] == segment_items[number].SegmentLabel
        assert group["Finding"]["CodeValue"] == segment_items[number].SegmentedPropertyTypeCodeSequence[0].CodeValue
        for item in group["measurementItems"]:
            name = item.get("derivationModifier", item["quantity"])["CodeMeaning"]
            assert float(item["value"]) == pytest.approx(expected[number][name], rel=1e-9), name

    # highdicom's reader: the LABELMAP SEG, its segment numbers, the source series.
    report = hd.sr.srread(report_path)
    assert report.StudyInstanceUID == seg.StudyInstanceUID
    assert report.SeriesInstanceUID != seg.SeriesInstanceUID
    groups = report.content.get_volumetric_roi_measurement_groups()
    for group in groups:
        reference = group.referenced_segment[0].ReferencedSOPSequence[0]
        assert reference.ReferencedSOPClassUID == LABELMAP_SOP_CLASS
        assert reference.ReferencedSOPInstanceUID == seg.SOPInstanceUID
        number = int(reference.ReferencedSegmentNumber)
        measured = {
            (m.derivation.meaning if m.derivation else m.name.meaning): m.value for m in group.get_measurements()
        }
        assert measured == pytest.approx(expected[number], rel=1e-9)
    assert len(groups) == len(expected)

    # The validator's one error: it does not yet count the LABELMAP SOP class as a segmentation.
    errors = dciodvfy_errors(report_path)
    assert len(errors) == len(expected)
    assert all(error.endswith(VALIDATOR_QUIRK) for error in errors), errors


def test_a_report_over_a_binary_seg_passes_the_validator(tmp_path: Path):
    report_path = tmp_path / "report.dcm"
    completed = _measure(shared_data("dcmqi/liver.dcm"), shared_data(CT), report_path)
    assert completed.returncode == 0, completed.stderr
    assert dciodvfy_errors(report_path) == []
    info = subprocess.run(
        [tool("dicomlabelmapseg"), "info", str(report_path), "--json"], capture_output=True, text=True, check=True
    )
    (group,) = json.loads(info.stdout)["groups"]
    expected = _expected_statistics(shared_data("dcmqi/liver.dcm"))[1]
    assert group["segment_number"] == 1
    assert group["tracking_identifier"] == "Liver"
    listed = {(m["derivation"] or m["quantity"])["meaning"]: (m["value"], m["unit"]["value"]) for m in group["measurements"]}
    assert listed["Number of voxels"] == (expected["Number of voxels"], "voxels")
    assert listed["Volume"][1] == "mm3"
    assert listed["Mean"] == (pytest.approx(expected["Mean"], rel=1e-9), "[hnsf'U]")


def test_export_writes_the_seg_and_its_report_together(tmp_path: Path):
    seg_path, report_path = tmp_path / "liver.dcm", tmp_path / "liver-report.dcm"
    completed = subprocess.run(
        [
            tool("dicomlabelmapseg"), "export", "--reference", str(shared_data(CT)),
            "--segmentation", str(shared_data("dcmqi/liver_seg.nrrd")),
            "--metadata", str(shared_data("dcmqi/metadata/seg-example.json")),
            "--output", str(seg_path), "--measurements", str(report_path),
        ],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    (group,) = hd.sr.srread(report_path).content.get_volumetric_roi_measurement_groups()
    reference = group.referenced_segment[0].ReferencedSOPSequence[0]
    assert reference.ReferencedSOPInstanceUID == seg.SOPInstanceUID
    voxels = {m.name.meaning: m.value for m in group.get_measurements()}["Number of voxels"]
    assert voxels == _expected_statistics(seg_path)[1]["Number of voxels"]


def _refused(completed: subprocess.CompletedProcess, output: Path, *words: str) -> None:
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0]
    assert not output.exists()
    assert not list(output.parent.glob(".partial-*"))


def test_a_source_in_another_frame_of_reference_is_refused_in_one_line(tmp_path: Path):
    output = tmp_path / "report.dcm"
    _refused(_measure(shared_data("dcmqi/liver.dcm"), shared_data("dcmqi/23x38x3/image"), output), output, "frame of reference")


def test_a_source_grid_the_seg_does_not_lie_on_is_refused_in_one_line(tmp_path: Path):
    reference = tmp_path / "two-slices"
    reference.mkdir()
    for path in sorted(shared_data(CT).glob("*.dcm"))[:2]:
        shutil.copy(path, reference)
    output = tmp_path / "report.dcm"
    _refused(_measure(shared_data("dcmqi/liver.dcm"), reference, output), output, "liver.dcm")


def test_labels_of_no_segment_are_refused_in_one_line(dcmqi_labelmap: Path, tmp_path: Path):
    seg = pydicom.dcmread(dcmqi_labelmap)
    seg.SegmentSequence = [item for item in seg.SegmentSequence if int(item.SegmentNumber) != 2]
    broken = tmp_path / "undescribed.dcm"
    seg.save_as(broken)
    output = tmp_path / "report.dcm"
    _refused(_measure(broken, shared_data(CT), output), output, "undescribed.dcm", "2")


class _FolderLocator:
    """Slicer's DICOM database reduced to what the manager asks it: the file of an instance, from a folder."""

    def __init__(self, *folders: Path) -> None:
        self._files = {
            str(pydicom.dcmread(path, specific_tags=["SOPInstanceUID"]).SOPInstanceUID): path
            for folder in folders for path in folder.glob("*.dcm")
        }

    def file_for_instance(self, sop_instance_uid: str) -> Path | None:
        return self._files.get(sop_instance_uid)


def test_a_report_loads_as_a_table_with_its_seg_from_the_database(scene, dcmqi_labelmap: Path, tmp_path: Path):
    from DicomManager.mrml.manager import DicomManager

    manager = DicomManager(scene, _FolderLocator(dcmqi_labelmap.parent, shared_data(CT)))
    ct = manager.load_reference_volume(shared_data(CT))
    report_path = manager.export_measurements(dcmqi_labelmap, ct, tmp_path / "report.dcm")
    expected = _expected_statistics(dcmqi_labelmap)

    table, (segmentation,) = manager.load_measurement_report(report_path)

    seg = pydicom.dcmread(dcmqi_labelmap, stop_before_pixels=True)
    assert segmentation.GetAttribute("DICOM.instanceUIDs") == seg.SOPInstanceUID
    assert segmentation.GetSegmentation().GetNumberOfSegments() == len(expected)
    vtk_table = table.GetTable()
    assert table.GetNumberOfRows() == len(expected)
    columns = [vtk_table.GetColumn(index).GetName() for index in range(vtk_table.GetNumberOfColumns())]
    assert columns == ["Segment", "Segment number", "Number of voxels", "Volume", "Minimum", "Maximum", "Mean", "Median",
                       "Standard Deviation"]
    assert table.GetColumnUnitLabel("Volume") == "mm3"
    assert table.GetColumnUnitLabel("Mean") == "[hnsf'U]"
    for row in range(table.GetNumberOfRows()):
        number = vtk_table.GetValueByName(row, "Segment number").ToInt()
        for name, value in expected[number].items():
            assert vtk_table.GetValueByName(row, name).ToDouble() == pytest.approx(value, rel=1e-9)
    # Loaded again, the report finds its SEG in the scene instead of loading it twice.
    _, (again,) = manager.load_measurement_report(report_path)
    assert again is segmentation


def test_a_report_whose_seg_is_not_in_the_database_is_refused_in_one_line(scene, dcmqi_labelmap: Path, tmp_path: Path):
    from DicomManager.errors import DicomDatabaseError
    from DicomManager.mrml.manager import DicomManager

    report_path = tmp_path / "report.dcm"
    assert _measure(dcmqi_labelmap, shared_data(CT), report_path).returncode == 0
    with pytest.raises(DicomDatabaseError, match="is not in the DICOM database") as refused:
        DicomManager(scene, _FolderLocator(shared_data(CT))).load_measurement_report(report_path)
    assert "\n" not in str(refused.value)
    assert scene.GetNodesByClass("vtkMRMLTableNode").GetNumberOfItems() == 0


def test_the_browser_offers_reports_of_labelmap_segs_above_slicers_tid1500_plugin(dcmqi_labelmap: Path, tmp_path: Path):
    from DicomManager.app.report_offer import offer_for_report_file

    over_labelmap, over_binary = tmp_path / "labelmap-report.dcm", tmp_path / "binary-report.dcm"
    assert _measure(dcmqi_labelmap, shared_data(CT), over_labelmap).returncode == 0
    assert _measure(shared_data("dcmqi/liver.dcm"), shared_data(CT), over_binary).returncode == 0

    labelmap_offer, binary_offer = offer_for_report_file(over_labelmap), offer_for_report_file(over_binary)

    core_tid1500_confidence = 0.95  # DICOMTID1500Plugin.examineFiles at v5.12.3
    assert labelmap_offer.confidence > core_tid1500_confidence and labelmap_offer.selected
    assert binary_offer.confidence < core_tid1500_confidence and not binary_offer.selected
    assert offer_for_report_file(dcmqi_labelmap) is None  # a SEG is no report


def test_the_panels_action_writes_the_report_beside_the_seg_over_the_same_volume(scene, tmp_path: Path):
    """What "Also save measurements (DICOM SR)" does after the export, here without a database."""
    from DicomManager.app.segmentation_actions import SegmentationActions
    from DicomManager.errors import OutputExistsError
    from DicomManager.mrml.segmentation_nodes import create_segmentation_node
    from DicomManager.mrml.volume_nodes import grid_of_volume_node

    actions = SegmentationActions(scene)
    volume = actions.manager.load_reference_volume(shared_data(CT))
    grid = grid_of_volume_node(volume)
    labels = hd.Volume(blob_labels(grid.spatial_shape, [1, 3]), grid.affine, "PATIENT")
    node = create_segmentation_node(scene, labels, demo_segments([1, 3]), "Two blobs")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    written = actions.export(node, tmp_path)

    (report_path,) = actions.export_measurements(written, volume)

    (seg_path,) = written.paths
    assert report_path == tmp_path / f"{seg_path.stem}_measurements.dcm"
    seg = pydicom.dcmread(seg_path, stop_before_pixels=True)
    expected = _expected_statistics(seg_path)
    assert sorted(expected) == [1, 3]
    report = hd.sr.srread(report_path)
    assert report.StudyInstanceUID == seg.StudyInstanceUID
    groups = report.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == len(expected)
    for group in groups:
        reference = group.referenced_segment[0].ReferencedSOPSequence[0]
        assert reference.ReferencedSOPInstanceUID == seg.SOPInstanceUID
        measured = {(m.derivation.meaning if m.derivation else m.name.meaning): m.value for m in group.get_measurements()}
        assert measured == pytest.approx(expected[int(reference.ReferencedSegmentNumber)], rel=1e-9)
    errors = dciodvfy_errors(report_path)
    assert len(errors) == len(expected) and all(error.endswith(VALIDATOR_QUIRK) for error in errors), errors

    before = report_path.read_bytes()
    with pytest.raises(OutputExistsError):
        actions.export_measurements(written, volume)  # no report silently replaced
    assert report_path.read_bytes() == before


def test_the_seg_a_report_loads_is_the_one_the_browser_places_under_its_study(scene, dcmqi_labelmap: Path, tmp_path: Path):
    """The plugin gives each segmentation outside a study its study from its DICOM file; one the browser placed stays."""
    from DicomManager.mrml.manager import DicomManager
    from DicomManager.mrml.subject_hierarchy import nodes_outside_studies

    manager = DicomManager(scene, _FolderLocator(dcmqi_labelmap.parent, shared_data(CT)))
    ct = manager.load_reference_volume(shared_data(CT))
    report_path = manager.export_measurements(dcmqi_labelmap, ct, tmp_path / "report.dcm")
    hierarchy = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(scene)
    study = hierarchy.CreateStudyItem(hierarchy.CreateSubjectItem(hierarchy.GetSceneItemID(), "Patient"), "Study")
    browsed = manager.load_segmentation(shared_data("dcmqi/liver.dcm"))
    hierarchy.CreateItem(study, browsed)  # as DICOMPlugin.addSeriesInSubjectHierarchy puts a series it loads
    in_folder = manager.load_segmentation(shared_data("dcmqi/liver.dcm"))
    hierarchy.CreateItem(hierarchy.CreateFolderItem(hierarchy.GetSceneItemID(), "Folder"), in_folder)

    _table, (measured,) = manager.load_measurement_report(report_path)

    assert nodes_outside_studies(scene, [browsed, measured, in_folder, measured]) == [measured, in_folder]
    hierarchy.CreateItem(study, measured)
    assert nodes_outside_studies(scene, [browsed, measured]) == []
