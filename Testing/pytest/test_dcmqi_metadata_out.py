"""``import --metadata-out``: dcmqi's metadata JSON, which ``export --metadata`` and dcmqi's itkimage2segimage take back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pytest
from conftest import dciodvfy_errors, shared_data, tool

from DicomManager import read_seg, read_source_series_folder
from DicomManager.core.segments.dcmqi_metadata import check_against_dcmqi_schema

PROGRAM = str(Path(sys.executable).with_name("dicomlabelmapseg"))
CT = str(shared_data("dcmqi/ct-3slice"))
LIVER = shared_data("dcmqi/liver.dcm")  # dcmqi's BINARY SEG: codes, colour, algorithm name, series attributes


def run_program(*arguments: str, cwd: Path) -> None:
    completed = subprocess.run([PROGRAM, *arguments], capture_output=True, text=True, check=False, cwd=cwd)
    assert completed.returncode == 0, completed.stderr


@pytest.fixture
def imported(tmp_path: Path) -> Path:
    """dcmqi's liver SEG imported to a label volume and dcmqi's metadata JSON, in ``tmp_path``."""
    run_program("import", str(LIVER), "--output", "liver.seg.nrrd", "--labelmap", "liver.nrrd", "--reference", CT,
                "--metadata-out", "liver.json", cwd=tmp_path)
    return tmp_path


def segments_as_highdicom_reads_them(path: Path) -> list[tuple]:
    seg = hd.seg.segread(path)
    return [(d.segment_number, d.segment_label, d.segmented_property_category, d.segmented_property_type,
             d.algorithm_type, d.get("SegmentAlgorithmName"), d.get("RecommendedDisplayCIELabValue"))
            for d in (seg.get_segment_description(n) for n in seg.segment_numbers)]


def labels_on_the_ct_grid(path: Path) -> np.ndarray:
    return read_seg(path, read_source_series_folder(CT).geometry).labels.array


def test_the_metadata_is_dcmqis_format(imported):
    document = json.loads((imported / "liver.json").read_text())
    check_against_dcmqi_schema(document, imported / "liver.json", strict=True)
    original = read_seg(LIVER)
    assert document["SeriesDescription"] == original.info.series_description
    assert document.get("ContentCreatorName", "") == original.info.content_creator_name
    ((item,),) = document["segmentAttributes"]
    assert (item["labelID"], item["SegmentLabel"], item["SegmentAlgorithmName"]) == (1, "Liver", "SlicerEditor")


def test_export_takes_the_metadata_back(imported):
    run_program("export", "--reference", CT, "--segmentation", "liver.nrrd", "--metadata", "liver.json",
                "--strict", "--output", "again.dcm", cwd=imported)
    assert dciodvfy_errors(imported / "again.dcm") == []
    assert segments_as_highdicom_reads_them(imported / "again.dcm") == segments_as_highdicom_reads_them(LIVER)
    np.testing.assert_array_equal(labels_on_the_ct_grid(imported / "again.dcm"), labels_on_the_ct_grid(LIVER))
    again, original = read_seg(imported / "again.dcm").info, read_seg(LIVER).info
    assert again.series_attributes() == original.series_attributes()


def test_dcmqi_itkimage2segimage_takes_the_metadata_back(imported):
    completed = subprocess.run(
        [tool("itkimage2segimage"), "--inputImageList", "liver.nrrd", "--inputDICOMDirectory", CT,
         "--outputDICOM", "dcmqi.dcm", "--inputMetadata", "liver.json"],
        capture_output=True, text=True, check=False, cwd=imported,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert segments_as_highdicom_reads_them(imported / "dcmqi.dcm") == segments_as_highdicom_reads_them(LIVER)
    np.testing.assert_array_equal(labels_on_the_ct_grid(imported / "dcmqi.dcm"), labels_on_the_ct_grid(LIVER))
    assert read_seg(imported / "dcmqi.dcm").info.series_description == read_seg(LIVER).info.series_description


def test_overlapping_segments_are_one_group_per_layer(tmp_path):
    overlapping = shared_data("dcmqi/partial_overlaps.dcm")
    run_program("import", str(overlapping), "--output", "overlaps.seg.nrrd", "--metadata-out", "overlaps.json", cwd=tmp_path)
    contents = read_seg(overlapping)
    groups = json.loads((tmp_path / "overlaps.json").read_text())["segmentAttributes"]
    assert [[item["labelID"] for item in group] for group in groups] == [
        [s.number for s in contents.segments if contents.layer_of_segment[s.number] == layer]
        for layer in range(len(contents.layers))]
