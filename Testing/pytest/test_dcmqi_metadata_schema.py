"""``--metadata`` checked against dcmqi's own schema: unknown keys warned about (refused with --strict), the rest refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
from conftest import PROJECT_ROOT, shared_data

from DicomManager.core.segments.dcmqi_metadata import read_dcmqi_metadata
from DicomManager.errors import MetadataFileError

PROGRAM = str(Path(sys.executable).with_name("dicomlabelmapseg"))
CT = str(shared_data("dcmqi/ct-3slice"))
LABELS = str(shared_data("dcmqi/liver_spine_gapped_seg.nrrd"))
EXAMPLE = shared_data("dcmqi/metadata/seg-example_liver_spine_gapped.json")


def export(metadata: Path, *options: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PROGRAM, "export", "--reference", CT, "--segmentation", LABELS, "--metadata", str(metadata),
                           "--output", "seg.dcm", *options], capture_output=True, text=True, check=False, cwd=cwd)


def changed_example(tmp_path: Path, change) -> Path:
    """dcmqi's own example, with ``change`` applied to its first segment (Liver, labelID 1)."""
    document = json.loads(EXAMPLE.read_text())
    change(document["segmentAttributes"][0][0])
    path = tmp_path / "meta.json"
    path.write_text(json.dumps(document))
    return path


def test_the_bundled_schema_is_dcmqis():
    bundled = PROJECT_ROOT / "DicomManager" / "core" / "segments" / "dcmqi_schema"
    for name in ("seg-schema.json", "common-schema.json"):
        assert (bundled / name).read_bytes() == shared_data(f"dcmqi/metadata/{name}").read_bytes()


@pytest.mark.parametrize("example", sorted(shared_data("dcmqi/metadata").glob("seg-example*.json")), ids=lambda p: p.name)
def test_every_dcmqi_example_is_accepted(example):
    document = json.loads(example.read_text())
    labels = [item["SegmentLabel"] for group in document["segmentAttributes"] for item in group]
    assert [segment.label for segment in read_dcmqi_metadata(example).segments] == labels


def test_a_misspelt_key_is_named_and_refused_under_strict(tmp_path):
    def misspell(segment: dict) -> None:
        segment["SegmentLable"] = segment.pop("SegmentLabel")

    metadata = changed_example(tmp_path, misspell)
    warned = export(metadata, cwd=tmp_path)
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.splitlines() == [
        f"WARNING: {metadata}: segment 1: 'SegmentLable' is not in dcmqi's schema; it is ignored"]
    labels = [item.SegmentLabel for item in pydicom.dcmread(tmp_path / "seg.dcm").SegmentSequence]
    assert labels == ["Background", "Segment 1", "Thoracic spine"]  # the misspelt key is not read

    refused = export(metadata, "--strict", "--force", cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: {metadata}: segment 1: 'SegmentLable' is not in dcmqi's schema; leave it out, "
        "or leave out --strict to ignore it."]


def test_a_missing_required_key_is_refused_by_segment_and_key(tmp_path):
    metadata = changed_example(tmp_path, lambda segment: segment.pop("SegmentedPropertyTypeCodeSequence"))
    refused = export(metadata, cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: {metadata}: segment 1 has no SegmentedPropertyTypeCodeSequence (dcmqi's schema requires it)."]
    assert not (tmp_path / "seg.dcm").exists()


def test_values_the_schema_does_not_allow_are_refused(tmp_path):
    metadata = changed_example(tmp_path, lambda segment: segment["SegmentedPropertyCategoryCodeSequence"].pop("CodeMeaning"))
    with pytest.raises(MetadataFileError, match=r"segment 1 SegmentedPropertyCategoryCodeSequence has no CodeMeaning"):
        read_dcmqi_metadata(metadata)
    metadata = changed_example(tmp_path, lambda segment: segment.update(recommendedDisplayRGBValue=[300, 0, 0]))
    with pytest.raises(MetadataFileError, match=r"segment 1 recommendedDisplayRGBValue 0: 300 is greater than the maximum"):
        read_dcmqi_metadata(metadata)
    metadata = changed_example(tmp_path, lambda segment: segment.update(SegmentAlgorithmType="GUESSED"))
    with pytest.raises(MetadataFileError, match=r"segment 1 SegmentAlgorithmType: 'GUESSED' is not one of"):
        read_dcmqi_metadata(metadata)
