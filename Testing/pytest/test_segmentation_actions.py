"""The actions the panel and the plugin share, on slicer-core's scene, and what CrossSegmentationExplorer reads of their result.

Also the part of the API pipelines call that runs without Slicer's database:
``export_segmentation_as_dicom_seg`` with its arguments in order, and the load
``load_segmentation_by_uid`` hands over to once the database gave the files.

CrossSegmentationExplorer (ImagingDataCommons/CrossSegmentationExplorer at
0953cf8, ``SegmentationComparison/SegmentationComparison.py``) finds the SEG
series of a volume in the DICOM database (``loadDicomSeries``, 1786-1841:
``fieldForSeries("Modality") == "SEG"`` and the first ``ReferencedSeriesSequence``
item's SeriesInstanceUID read with pydicom, 1752-1766), skips one whose SOP
Instance UID a segmentation node already holds in ``DICOM.instanceUIDs``
(1820-1826), loads the rest with ``DICOMUtils.loadSeriesByUID``, maps each
segmentation to its volume through the reference image geometry node
reference (``_buildSegmentationVolumeMap``, 493-502), groups segmentations by
keywords in their node names (1047-1056) and names structures from the
segments' ``TerminologyEntry`` tags (``extract_structure_name_from_terminology``,
1636-1649). The database and ``loadSeriesByUID`` run only in Slicer
(``DICOMLabelMapSegTest.test_cross_segmentation_explorer_round_trip``); here
the same steps run on the files, loaded as the plugin loads them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
import slicer
import vtk
from conftest import blob_labels, dciodvfy_errors, demo_segments, shared_data
from vtkmodules.vtkCommonCore import reference as vtk_reference

from DicomManager.app.loadable_offer import offer_for_seg_file, offer_for_seg_series
from DicomManager.app.segmentation_actions import SegmentationActions
from DicomManager.core.reading.seg_references import find_segmentations_referencing, read_seg_references
from DicomManager.core.writing.export_options import ExportOptions
from DicomManager.errors import IncompleteRequestError
from DicomManager.mrml.image_arrays import fill_image_from_array, ijk_to_ras_of_grid
from DicomManager.mrml.segmentation_nodes import create_segmentation_node
from DicomManager.mrml.volume_nodes import grid_of_volume_node

CT_3SLICE = "dcmqi/ct-3slice"
DCMQI_SEGS_OVER_CT_3SLICE = ["dcmqi/liver.dcm", "dcmqi/partial_overlaps.dcm"]


@pytest.fixture
def actions(scene: slicer.vtkMRMLScene) -> SegmentationActions:
    return SegmentationActions(scene)


def structure_name_from_terminology_entry(entry: str) -> str:
    """The structure name CrossSegmentationExplorer shows for a segment: its type's meaning, then its type modifier's.

    Slicer's entry is ``context~category~type~typeModifier~...`` with each code
    ``scheme^value^meaning`` (SegmentationComparison.py 1636-1649).
    """
    fields = entry.split("~")
    name = fields[2].split("^")[2].strip()
    modifier = fields[3].split("^")
    if len(modifier) == 3 and modifier[2].strip() and modifier[2].strip() not in name:
        name += f" {modifier[2].strip()}"
    return name


def type_meanings_in_file(path: Path) -> dict[int, tuple[str, str | None]]:
    """Segment number -> meanings of its type and type modifier, as pydicom reads the SEG's Segment Sequence.

    A LABELMAP SEG's segment 0, the background, is left out: it loads as no segment.
    """
    meanings = {}
    for item in pydicom.dcmread(path, stop_before_pixels=True).SegmentSequence:
        (type_code,) = item.SegmentedPropertyTypeCodeSequence
        modifiers = type_code.get("SegmentedPropertyTypeModifierCodeSequence")
        if int(item.SegmentNumber) != 0:
            meanings[int(item.SegmentNumber)] = (type_code.CodeMeaning, modifiers[0].CodeMeaning if modifiers else None)
    return meanings


def shown_structure_name(type_meaning: str, modifier_meaning: str | None) -> str:
    """What CrossSegmentationExplorer shows for a type and type modifier (SegmentationComparison.py 1643-1648)."""
    return f"{type_meaning} {modifier_meaning}" if modifier_meaning and modifier_meaning not in type_meaning else type_meaning


def segs_referencing(series_uid: str, paths: list[Path]) -> list[Path]:
    """The SEG files among ``paths`` whose first referenced series is ``series_uid``: CrossSegmentationExplorer's test."""
    found = []
    for path in paths:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        if header.Modality == "SEG" and header.ReferencedSeriesSequence[0].SeriesInstanceUID == series_uid:
            found.append(path)
    return found


def already_loaded(scene: slicer.vtkMRMLScene, sop_instance_uid: str) -> bool:
    """CrossSegmentationExplorer's check that a SEG is loaded: a segmentation node's ``DICOM.instanceUIDs`` equals its UID."""
    count = scene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
    nodes = [scene.GetNthNodeByClass(i, "vtkMRMLSegmentationNode") for i in range(count)]
    return any(str(node.GetAttribute("DICOM.instanceUIDs")) == sop_instance_uid for node in nodes)


def load_as_cross_segmentation_explorer_does(actions, volume, candidates, terminology_logic):
    """Find the SEGs of ``volume`` among ``candidates``, load each once as the plugin does, check what the explorer reads.

    Returns the loaded nodes by file.
    """
    series_uid = pydicom.dcmread(actions.manager.source_series_of(volume).paths[0], stop_before_pixels=True).SeriesInstanceUID
    loaded = {}
    for path in segs_referencing(series_uid, candidates):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        assert not already_loaded(actions.manager.scene, header.SOPInstanceUID)
        # The browser's loadable is named after the database's SeriesDescription (DICOMSegmentationPlugin 46).
        node = actions.load(path, name=header.SeriesDescription)
        assert already_loaded(actions.manager.scene, header.SOPInstanceUID)  # a second pass would skip it

        assert node.GetName() == header.SeriesDescription
        assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()) is volume
        meanings = type_meanings_in_file(path)
        segmentation = node.GetSegmentation()
        shown = {}
        for segment_id in segmentation.GetSegmentIDs():
            segment = segmentation.GetSegment(segment_id)
            entry = vtk_reference("")
            assert segment.GetTag("TerminologyEntry", entry), segment_id
            shown[segment.GetLabelValue()] = structure_name_from_terminology_entry(str(entry))
            parsed = slicer.vtkSlicerTerminologyEntry()  # Slicer's own reading of the same tag agrees
            assert terminology_logic.DeserializeTerminologyEntry(str(entry), parsed), str(entry)
            type_meaning, modifier_meaning = meanings[segment.GetLabelValue()]
            assert parsed.GetTypeObject().GetCodeMeaning() == type_meaning
            assert (parsed.GetTypeModifierObject().GetCodeMeaning() or None) == modifier_meaning
        assert shown == {number: shown_structure_name(*pair) for number, pair in meanings.items()}
        loaded[path] = node
    return loaded


def test_two_dcmqi_segs_of_one_ct_are_found_loaded_mapped_and_named_as_the_explorer_reads_them(
    actions, scene, terminology_logic
):
    volume = actions.manager.load_reference_volume(shared_data(CT_3SLICE))
    candidates = [shared_data(name) for name in DCMQI_SEGS_OVER_CT_3SLICE]
    other_series = [shared_data("highdicom/seg_image_ct_binary.dcm")]  # a SEG of another CT: not found

    loaded = load_as_cross_segmentation_explorer_does(actions, volume, [*candidates, *other_series], terminology_logic)

    assert sorted(loaded) == sorted(candidates)
    names = {node.GetName() for node in loaded.values()}
    assert names == {"Liver Segmentation", "Segmentation"}
    assert [name for name in sorted(names) if "liver" in name.lower()] == ["Liver Segmentation"]  # a model keyword


def test_two_trials_exported_from_one_volume_come_back_under_their_node_names(
    actions, scene, terminology_logic, tmp_path
):
    """Two segmentations of one CT, exported with no series description, found and told apart by name after reloading."""
    volume = actions.manager.load_reference_volume(shared_data(CT_3SLICE))
    shape = grid_of_volume_node(volume).spatial_shape
    trials = {"TotalSegmentator trial": [1, 2, 3], "MOOSE trial": [1, 4]}
    written = {}
    for index, (name, numbers) in enumerate(trials.items()):
        labels = hd.Volume(blob_labels(shape, numbers, seed=index), grid_of_volume_node(volume).affine, "PATIENT")
        node = create_segmentation_node(scene, labels, demo_segments(numbers), name)
        node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
        written[name] = actions.export(node, tmp_path / name.split()[0])
        scene.RemoveNode(node)
    paths = [path for series in written.values() for path in series.paths]
    series_uid = pydicom.dcmread(shared_data(CT_3SLICE) / "01.dcm", stop_before_pixels=True).SeriesInstanceUID
    assert sorted(find_segmentations_referencing(series_uid, paths)) == sorted(s.series_instance_uid for s in written.values())

    loaded = load_as_cross_segmentation_explorer_does(actions, volume, paths, terminology_logic)

    assert sorted(node.GetName() for node in loaded.values()) == sorted(trials)
    for name, series in written.items():
        (path,) = series.paths
        assert pydicom.dcmread(path, stop_before_pixels=True).SeriesDescription == name
        keyword = name.split()[0].lower()
        assert [node.GetName() for node in loaded.values() if keyword in node.GetName().lower()] == [name]


def test_generate_unique_name_renames_a_node_that_already_holds_the_name(scene):
    """Why a loaded node is not renamed: GenerateUniqueName tests the bare name first.

    vtkMRMLScene.cxx at v5.12.3, 2641-2680: ``GetUniqueNameIndex`` counts up
    from index 0 (the bare name) until no node has the candidate name.
    """
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "Liver Segmentation")
    assert scene.GenerateUniqueName(node.GetName()) == "Liver Segmentation_1"


def test_a_loaded_seg_keeps_the_name_it_is_given_even_where_another_node_has_it(actions, scene):
    volume = actions.manager.load_reference_volume(shared_data(CT_3SLICE))
    path = shared_data("dcmqi/liver.dcm")
    first = actions.load(path)
    second = actions.load(path, name="Liver Segmentation")
    renamed = actions.load(path, name="Liver, second reader")

    assert first.GetName() == second.GetName() == "Liver Segmentation"  # the SEG's SeriesDescription
    assert renamed.GetName() == "Liver, second reader"
    for node in (first, second, renamed):
        assert node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()) is volume


@pytest.mark.parametrize("name", ["dcmqi/liver.dcm", "highdicom/seg_image_ct_binary.dcm", "public/syngo_va11a.seg.dcm"])
def test_a_seg_from_the_database_loads_under_the_name_the_browser_lists(actions, scene, name):
    """What the plugin does for the browser and ``load_segmentation_by_uid`` once the database gave the files.

    Examine offers the series under its SeriesDescription ("Segmentation" when
    it has none); the load names the node so, and marks it with the SEG's SOP
    Instance UID. The database look-ups themselves run in Slicer's self-tests.
    """
    path = shared_data(name)
    header = pydicom.dcmread(path, stop_before_pixels=True)
    references = read_seg_references(path)
    offer = offer_for_seg_series(str(header.SOPClassUID), header.Modality, str(header.get("SeriesDescription", "")))
    offer = offer_for_seg_file(offer, path, references.transfer_syntax_uid)
    scene.AddNewNodeByClass("vtkMRMLSegmentationNode", offer.name)  # a node of that name already there

    node = actions.load(path, references, name=offer.name)

    assert node.GetName() == (header.get("SeriesDescription") or "Segmentation")
    assert node.GetAttribute("DICOM.instanceUIDs") == header.SOPInstanceUID


def test_the_series_description_is_the_node_name_unless_one_is_given(actions, scene, tmp_path):
    volume = actions.manager.load_reference_volume(shared_data(CT_3SLICE))
    shape = grid_of_volume_node(volume).spatial_shape
    labels = hd.Volume(blob_labels(shape, [1]), grid_of_volume_node(volume).affine, "PATIENT")
    node = create_segmentation_node(scene, labels, demo_segments([1]), "Liver by reader A")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)

    (by_name,) = actions.export(node, tmp_path / "a").paths
    (asked,) = actions.export(node, tmp_path / "b", ExportOptions().with_series(series_description="Asked for")).paths

    assert pydicom.dcmread(by_name, stop_before_pixels=True).SeriesDescription == "Liver by reader A"
    assert pydicom.dcmread(asked, stop_before_pixels=True).SeriesDescription == "Asked for"
    assert actions.load(by_name).GetName() == "Liver by reader A"


def test_the_reference_volume_is_the_chosen_one_else_the_segmentations_own(actions, scene, tmp_path):
    volume = actions.manager.load_reference_volume(shared_data(CT_3SLICE))
    other = actions.manager.load_reference_volume(shared_data("dcmqi/23x38x3/image"))
    labels = hd.Volume(blob_labels(grid_of_volume_node(volume).spatial_shape, [1]), grid_of_volume_node(volume).affine, "PATIENT")
    node = create_segmentation_node(scene, labels, demo_segments([1]), "No volume yet")

    with pytest.raises(IncompleteRequestError, match="'No volume yet' has no reference volume"):
        actions.reference_volume(node)
    with pytest.raises(IncompleteRequestError, match="'No volume yet'"):
        actions.export(node, tmp_path / "none")
    assert not (tmp_path / "none").exists()

    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    assert actions.reference_volume(node) is volume
    assert actions.reference_volume(node, other) is other


def test_export_segmentation_as_dicom_seg_takes_its_arguments_in_the_order_pipelines_pass_them(manager, scene, tmp_path):
    """``(segmentation_node, reference_volume_node, series_description, output_dir, compression, segment_metadata)``."""
    volume = manager.load_reference_volume(shared_data(CT_3SLICE))
    grid = grid_of_volume_node(volume)
    segments = demo_segments([1, 2])
    node = create_segmentation_node(scene, hd.Volume(blob_labels(grid.spatial_shape, [1, 2]), grid.affine, "PATIENT"),
                                    segments, "Pipeline output")
    renamed = replace(segments[1], label="Renamed by the pipeline", color=(1, 2, 3))

    uid = manager.export_segmentation_as_dicom_seg(node, volume, "Pipeline run 7", tmp_path, "rle", [renamed])

    (path,) = tmp_path.glob("*.dcm")
    assert dciodvfy_errors(path) == []
    seg = hd.seg.segread(path)
    assert (seg.SeriesInstanceUID, seg.SeriesDescription) == (uid, "Pipeline run 7")
    assert seg.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.5"  # RLE Lossless
    labels = {int(item.SegmentNumber): item.SegmentLabel for item in seg.SegmentSequence if int(item.SegmentNumber)}
    assert labels == {1: segments[0].label, 2: "Renamed by the pipeline"}


def test_a_volume_not_from_dicom_gets_its_series_beside_the_seg_when_no_database_is_used(actions, scene, tmp_path):
    grid = grid_of_volume_node(actions.manager.load_reference_volume(shared_data(CT_3SLICE)))
    made = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Made in Slicer")
    voxels = (blob_labels(grid.spatial_shape, [1, 2]).astype(np.int16) * 40) - 20
    made.SetAndObserveImageData(vtk.vtkImageData())
    fill_image_from_array(made.GetImageData(), voxels)
    made.SetIJKToRASMatrix(ijk_to_ras_of_grid(grid))
    node = create_segmentation_node(
        scene, hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT"), demo_segments([1]), "On it")
    node.SetReferenceImageGeometryParameterFromVolumeNode(made)

    actions.ensure_dicom_series(made, "P-7", tmp_path)
    uids = made.GetAttribute("DICOM.instanceUIDs")
    actions.ensure_dicom_series(made, "P-8", tmp_path)  # has its series now: left alone
    (path,) = actions.export(node, tmp_path / "seg").paths

    files = sorted((tmp_path / "Made_in_Slicer_DICOM").iterdir())
    headers = [pydicom.dcmread(file) for file in files]
    assert made.GetAttribute("DICOM.instanceUIDs") == uids
    assert sorted(uids.split()) == sorted(header.SOPInstanceUID for header in headers)
    assert {(header.PatientID, header.SeriesDescription) for header in headers} == {("P-7", "Made in Slicer")}
    reread = hd.get_volume_from_series(headers).match_geometry(grid)
    np.testing.assert_array_equal(reread.array, voxels)
    assert find_segmentations_referencing(headers[0].SeriesInstanceUID, [path]) == [read_seg_references(path).series_instance_uid]
