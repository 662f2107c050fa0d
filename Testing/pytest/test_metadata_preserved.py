"""Segment and series metadata that real files carry survive load and export again.

dcmqi's files carry ContentLabel/Description/CreatorName and ClinicalTrial*
attributes, SegmentDescription, TrackingID/UID and SegmentAlgorithmName;
highdicom's carry SegmentationAlgorithmIdentificationSequence (family, name,
version). Loaded into Slicer's nodes and exported again, all of it comes back.
"""

from __future__ import annotations

from dataclasses import replace

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import dciodvfy_errors, shared_data

from DicomManager import Code, read_seg
from DicomManager.core.reading.seg_info import segments_of
from DicomManager.core.segments.segment_metadata import AlgorithmIdentification
from DicomManager.core.segments.segment_tags import ALGORITHM_IDENTIFICATION_TAG
from DicomManager.mrml.segmentation_nodes import create_segmentation_node, segment_metadata_from_node
from DicomManager.mrml.volume_nodes import grid_of_volume_node

SERIES_KEYWORDS = [
    "ContentLabel", "ContentDescription", "ContentCreatorName",
    "ClinicalTrialSeriesID", "ClinicalTrialTimePointID", "ClinicalTrialCoordinatingCenterName",
]


@pytest.mark.parametrize(
    ("seg_name", "reference_name"),
    [("dcmqi/liver.dcm", "dcmqi/ct-3slice"), ("dcmqi/sparse-labelmap-ppv5.dcm", "dcmqi/24x38x3/image")],
)
def test_dcmqi_series_and_segment_attributes_survive_load_and_export(seg_name, reference_name, manager, tmp_path):
    original = pydicom.dcmread(shared_data(seg_name), stop_before_pixels=True)
    volume = manager.load_reference_volume(shared_data(reference_name))
    node = manager.load_segmentation(shared_data(seg_name), volume)
    (path,) = manager.export_segmentation(node, volume, tmp_path).paths
    exported = pydicom.dcmread(path, stop_before_pixels=True)
    for keyword in SERIES_KEYWORDS:
        assert str(exported.get(keyword, "")) == str(original.get(keyword, "")), keyword
    assert segments_of(exported, path) == segments_of(original, shared_data(seg_name))
    assert dciodvfy_errors(path) == []


def test_algorithm_identification_survives_a_segmentation_node(manager, scene, tmp_path):
    (segment,) = segments_of(pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary.dcm")), "highdicom")
    assert segment.algorithm_identification == AlgorithmIdentification(
        family=Code("123110", "DCM", "Artificial Intelligence"), name="test", version="v1.0"
    )
    assert segment.tracking_id and segment.tracking_uid and segment.algorithm_type == "AUTOMATIC"
    segment = replace(segment, color=(200, 40, 40))  # the file has none; Slicer would pick one
    volume = manager.load_reference_volume(shared_data("dcmqi/23x38x3/image"))
    grid = grid_of_volume_node(volume)
    labels = np.zeros(grid.spatial_shape, dtype=np.uint8)
    labels[1, 4:9, 5:12] = 1
    node = create_segmentation_node(scene, hd.Volume(labels, grid.affine, "PATIENT"), [segment], "AI result")
    tagged = node.GetSegmentation().GetSegment("Segment_1")
    assert tagged.HasTag(ALGORITHM_IDENTIFICATION_TAG)
    assert segment_metadata_from_node(node, "Segment_1", 1) == segment

    (path,) = manager.export_segmentation(node, volume, tmp_path).paths
    item = pydicom.dcmread(path, stop_before_pixels=True).SegmentSequence[-1]
    algorithm = item.SegmentationAlgorithmIdentificationSequence[0]
    assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == ("test", "v1.0")
    assert algorithm.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"
    assert dciodvfy_errors(path) == []
    assert read_seg(path, grid).segments == [segment]


def test_algorithm_parameters_are_kept_as_written(manager, scene, tmp_path):
    volume = manager.load_reference_volume(shared_data("dcmqi/23x38x3/image"))
    grid = grid_of_volume_node(volume)
    labels = np.zeros(grid.spatial_shape, dtype=np.uint8)
    labels[0, 2:6, 2:6] = 7
    identification = AlgorithmIdentification(
        family=Code("123110", "DCM", "Artificial Intelligence"), name="TotalSegmentator", version="2.4.0",
        parameters='{"task": "total", "fast": true}', source="https://github.com/wasserth/TotalSegmentator",
    )
    (segment,) = segments_of(pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary.dcm")), "highdicom")
    segment = replace(
        segment, number=7, color=(10, 200, 30), algorithm_name="TotalSegmentator", algorithm_identification=identification
    )
    node = create_segmentation_node(scene, hd.Volume(labels, grid.affine, "PATIENT"), [segment], "TS")
    (path,) = manager.export_segmentation(node, volume, tmp_path).paths
    assert read_seg(path, grid).segments == [segment]
    assert dciodvfy_errors(path) == []
