"""Bad input gets the project's own error naming the problem, and leaves no output behind."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, demo_segments, make_grid, shared_data, write_series

from DicomManager import (
    ExportOptions,
    SegmentMetadata,
    read_seg,
    read_source_series,
    read_source_series_folder,
    write_labelmap_seg,
)
from DicomManager.core.segments.dcmqi_metadata import read_dcmqi_metadata
from DicomManager.core.segments.terminology import codes_from_terminology_entry
from DicomManager.errors import (
    GeometryMismatchError,
    InvalidSegmentationError,
    MetadataFileError,
    OutputExistsError,
    SegFileError,
    SourceSeriesError,
    TerminologyError,
)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return read_source_series(write_series(make_grid((6, 20, 18)), tmp_path_factory.mktemp("ct")))


def volume(source, array):
    return hd.Volume(array, source.geometry.affine, "PATIENT")


@pytest.mark.parametrize(
    ("array", "segments", "message"),
    [
        (np.full((6, 20, 18), 1.5), [1], "whole numbers"),
        (np.full((6, 20, 18), 70000, dtype=np.int32), [1], "above 65535"),
        (np.full((6, 20, 18), -1, dtype=np.int16), [1], "must not be negative"),
        (np.full((6, 20, 18), 3, dtype=np.uint8), [1, 2], "Label values 3 have no segment metadata"),
    ],
)
def test_bad_labels_are_refused(source, tmp_path, array, segments, message):
    with pytest.raises(InvalidSegmentationError, match=message):
        write_labelmap_seg(volume(source, array), demo_segments(segments), source, tmp_path, ExportOptions(file_name="seg.dcm"))
    assert list(tmp_path.iterdir()) == []


def test_bad_segment_metadata_is_named(source, tmp_path):
    labels = blob_labels((6, 20, 18), [1])
    with pytest.raises(InvalidSegmentationError, match=r"Segment 1 \('Liver'\): algorithm type AUTOMATIC needs"):
        write_labelmap_seg(volume(source, labels), [SegmentMetadata(1, "Liver", algorithm_type="AUTOMATIC")], source, tmp_path,
            ExportOptions(file_name="s.dcm"))
    with pytest.raises(InvalidSegmentationError, match=r"Segment numbers \[1\] are used by more than one"):
        write_labelmap_seg(volume(source, labels), demo_segments([1, 1]), source, tmp_path, ExportOptions(file_name="s.dcm"))
    assert list(tmp_path.iterdir()) == []


def test_grid_that_does_not_match_the_source_is_refused(source, tmp_path):
    labels = blob_labels((6, 20, 18), [1])
    coarse = source.geometry.affine.copy()
    coarse[:3, :3] *= 2
    with pytest.raises(GeometryMismatchError, match="spacing"):
        write_labelmap_seg(hd.Volume(labels, coarse, "PATIENT"), demo_segments([1]), source, tmp_path,
            ExportOptions(file_name="s.dcm"))
    too_big = np.zeros((8, 20, 18), dtype=np.uint8)
    too_big[7] = 1
    with pytest.raises(GeometryMismatchError, match="outside the reference grid"):
        write_labelmap_seg(volume(source, too_big), demo_segments([1]), source, tmp_path, ExportOptions(file_name="s.dcm"))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_never_replaced_unasked(source, tmp_path):
    path = tmp_path / "seg.dcm"
    path.write_bytes(b"precious")
    labels = blob_labels((6, 20, 18), [1])
    with pytest.raises(OutputExistsError, match="exists already"):
        write_labelmap_seg(volume(source, labels), demo_segments([1]), source, path.parent, ExportOptions(file_name=path.name))
    assert path.read_bytes() == b"precious"
    write_labelmap_seg(volume(source, labels), demo_segments([1]), source, path.parent, ExportOptions(file_name=path.name,
        overwrite=True))
    assert path.read_bytes()[128:132] == b"DICM"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.dcm"]


def test_unreadable_and_wrong_files_are_named(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(SegFileError, match="junk.dcm: not a readable DICOM file"):
        read_seg(junk)
    with pytest.raises(SegFileError, match="no such file"):
        read_seg(tmp_path / "missing.dcm")
    with pytest.raises(SegFileError, match="01.dcm: SOPClassUID 1.2.840.10008.5.1.4.1.1.2 is not a Segmentation"):
        read_seg(shared_data("dcmqi/ct-3slice/01.dcm"))
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(shared_data("dcmqi/sparse-labelmap-ppv5.dcm").read_bytes()[:3000])
    with pytest.raises(SegFileError, match="truncated.dcm"):
        read_seg(truncated)


def test_seg_on_the_wrong_reference_is_refused():
    other = read_source_series_folder(shared_data("dcmqi/ct-3slice"))
    with pytest.raises(GeometryMismatchError, match="frame of reference|orientation|spacing|outside"):
        read_seg(shared_data("dcmqi/sparse-labelmap-noppv.dcm"), other.geometry)


def test_bad_source_series_is_named(tmp_path):
    with pytest.raises(SourceSeriesError, match="not a regularly spaced stack"):
        read_source_series_folder(shared_data("pydicom/CT2"))
    with pytest.raises(SourceSeriesError, match="no DICOM image series"):
        read_source_series_folder(tmp_path)
    multiframe = pydicom.dcmread(next(shared_data("dcmqi/24x38x3/multiframe").glob("*.dcm")))
    for number in (1, 2):
        multiframe.SOPInstanceUID = f"{multiframe.SOPInstanceUID}.{number}"
        multiframe.save_as(tmp_path / f"mf{number}.dcm")
    with pytest.raises(SourceSeriesError, match="holds several multi-frame images; give one"):
        read_source_series_folder(tmp_path)


def test_bad_metadata_and_terminology_are_named(tmp_path):
    bad = tmp_path / "meta.json"
    bad.write_text('{"segmentAttributes": [[{"SegmentLabel": "x"}]]}')
    with pytest.raises(MetadataFileError, match="has no labelID"):
        read_dcmqi_metadata(bad)
    with pytest.raises(TerminologyError, match="expected 7"):
        codes_from_terminology_entry("context~SCT^1^a")


def test_same_voxel_grid_accepts_flips_and_names_shifts(source):
    from DicomManager.core.geometry.grids import check_same_voxel_grid

    grid = source.geometry
    check_same_voxel_grid(grid.flip_spatial(axes=[0]), grid, "flipped")
    shifted = hd.VolumeGeometry(grid.affine + np.pad(np.full((3, 1), 0.4), ((0, 1), (3, 0))), grid.spatial_shape, "PATIENT")
    with pytest.raises(GeometryMismatchError, match="shifted: its corner voxels do not coincide"):
        check_same_voxel_grid(shifted, grid, "shifted")


def test_broken_seg_nrrd_is_refused_without_ending_the_process(tmp_path, scene):
    """Slicer's segmentation reader lets ITK exceptions end the process; a broken file must be refused first."""
    import subprocess
    import sys

    from DicomManager.errors import LabelFileError
    from DicomManager.mrml.segmentation_nodes import create_segmentation_node
    from DicomManager.mrml.storage import read_segmentation_file, write_segmentation_file

    grid = make_grid((4, 12, 10))
    node = create_segmentation_node(scene, hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT"),
                                    demo_segments([1]), "x")
    good = tmp_path / "good.seg.nrrd"
    write_segmentation_file(node, good)
    data = good.read_bytes()
    cases = {
        "header.seg.nrrd": (b"NRRD0004\nnot a field\n\n", "is not 'field: value'"),
        "nomagic.seg.nrrd": (b"P6\n", "not a NRRD file"),
        "truncated.seg.nrrd": (data[: len(data) - 4], "cut short"),  # into the gzip trailer
        "nosizes.seg.nrrd": (b"NRRD0004\ntype: uchar\ndimension: 3\nencoding: raw\n\n", "no 'sizes' field"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(LabelFileError, match=message):
            read_segmentation_file(scene, tmp_path / name)
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "export", "--reference", str(shared_data("dcmqi/ct-3slice")),
         "--segmentation", str(tmp_path / "truncated.seg.nrrd"), "--output", str(tmp_path / "out.dcm")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert read_segmentation_file(scene, good).GetSegmentation().GetNumberOfSegments() == 1


def test_outputs_get_the_permissions_of_an_ordinary_file(tmp_path):
    """Written through a private temporary file, an output must still be readable as open() would make it."""
    import os

    from DicomManager.core.writing.file_output import write_atomically

    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "out.txt", lambda path: path.write_text("x"))
    finally:
        os.umask(umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644
