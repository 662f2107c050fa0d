"""Frames cropped to the segments' rectangle: smaller files that every reader but OHIF places exactly.

The source grid is (12, 40, 36) voxels; the labels fill only a box inside
it, so cropped frames are smaller than the images in both directions.
"""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, dciodvfy_errors, demo_segments, make_grid, on_grid, read_with_dcmqi, write_series
from test_classic_seg import segment_masks

from DicomManager import (
    Compression,
    ExportOptions,
    LayeredSegmentation,
    OverlapPolicy,
    read_seg,
    read_source_series,
    write_labelmap_seg,
    write_segmentation,
)
from DicomManager.cli.main import main

NUMBERS = [1, 2, 7]
BOX = (slice(3, 10), slice(6, 31), slice(4, 22))
"""Where the labels are: slices 3-9, rows 6-30, columns 4-21 of the source grid."""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    grid = make_grid((12, 40, 36), row_direction=(0, 1, 0), column_direction=(1, 0, 0))
    return read_source_series(write_series(grid, tmp_path_factory.mktemp("ct")))


@pytest.fixture(scope="module")
def labels(source) -> np.ndarray:
    """Blobs that touch every face of ``BOX``, with an empty slice inside it."""
    labels = np.zeros(source.geometry.spatial_shape, dtype=np.uint8)
    inside = blob_labels(tuple(window.stop - window.start for window in BOX), NUMBERS, seed=4)
    inside[[0, -1], 0, 0] = 1
    inside[1:-1, [0, -1], [-1, 0]] = 2
    inside[3] = 0
    labels[BOX] = inside
    return labels


def volume_on(source, array: np.ndarray) -> hd.Volume:
    return hd.Volume(array, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)


def inflated_for_dciodvfy(dataset: pydicom.Dataset, path):
    """dciodvfy cannot parse deflated files: the same dataset, uncompressed."""
    dataset.file_meta.TransferSyntaxUID = Compression.NONE.transfer_syntax_uid
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("compression", [Compression.RLE, Compression.DEFLATE])
def test_labelmap_frames_cover_the_labelled_rectangle_and_read_back_exactly(source, labels, tmp_path, scene, compression):
    path = tmp_path / "cropped.dcm"
    write_labelmap_seg(volume_on(source, labels), demo_segments(NUMBERS), source, path.parent, ExportOptions(file_name=path.name,
        compression=compression, crop_to_segments=True))

    dataset = pydicom.dcmread(path)
    assert (dataset.Rows, dataset.Columns) == (25, 18)
    assert int(dataset.NumberOfFrames) == 6  # slices 3-9 but the empty one
    first_voxel = source.geometry.affine @ [BOX[0].start, BOX[1].start, BOX[2].start, 1]
    first_frame = dataset.PerFrameFunctionalGroupsSequence[0]
    np.testing.assert_allclose(first_frame.PlanePositionSequence[0].ImagePositionPatient, first_voxel[:3], atol=1e-4)
    # Each frame still names the source image whose plane it lies in.
    uid_of_slice = {ds.SOPInstanceUID: index for index, ds in enumerate(source.datasets)}
    referenced = [uid_of_slice[f.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID]
                  for f in dataset.PerFrameFunctionalGroupsSequence]
    assert sorted(referenced) == [3, 4, 5, 7, 8, 9]

    np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, labels)
    own = read_seg(path).labels  # on the SEG's own grid: the labelled box
    assert own.spatial_shape == (7, 25, 18)
    np.testing.assert_array_equal(on_grid(own, source.geometry), labels)
    highdicom_labels = hd.seg.segread(path).get_volume(combine_segments=True)
    np.testing.assert_array_equal(on_grid(highdicom_labels, source.geometry), labels)
    np.testing.assert_array_equal(on_grid(read_with_dcmqi(path, tmp_path, scene), source.geometry), labels)
    if compression is Compression.DEFLATE:
        path = inflated_for_dciodvfy(dataset, tmp_path / "inflated.dcm")
    assert dciodvfy_errors(path) == []


def test_cropped_is_smaller_than_full_frames(source, labels, tmp_path):
    sizes, pixel_bytes = {}, {}
    for crop in (False, True):
        path = tmp_path / f"crop-{crop}.dcm"
        write_labelmap_seg(volume_on(source, labels), demo_segments(NUMBERS), source, path.parent,
            ExportOptions(file_name=path.name, compression=Compression.NONE, crop_to_segments=crop))
        sizes[crop], pixel_bytes[crop] = path.stat().st_size, len(pydicom.dcmread(path).PixelData)
    assert pixel_bytes == {False: 6 * 40 * 36, True: 6 * 25 * 18}
    assert sizes[True] < sizes[False]


def test_empty_segmentation_keeps_one_full_frame(source, tmp_path):
    path = tmp_path / "empty.dcm"
    empty = np.zeros(source.geometry.spatial_shape, dtype=np.uint8)
    write_labelmap_seg(volume_on(source, empty), demo_segments(NUMBERS), source, path.parent, ExportOptions(file_name=path.name,
        crop_to_segments=True))
    dataset = pydicom.dcmread(path)
    assert (dataset.Rows, dataset.Columns) == (40, 36)
    np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, empty)


def test_overlapping_segments_in_a_cropped_binary_seg(source, labels, tmp_path):
    first_layer = np.where(labels == 7, 3, labels)
    second_layer = np.zeros_like(labels)
    second_layer[5:7, 6:12, 8:30] = 4  # overlaps segment 2 at (5, 6, 21) and widens the box to column 29
    path = tmp_path / "binary.dcm"
    segmentation = LayeredSegmentation(
        [volume_on(source, first_layer), volume_on(source, second_layer)], demo_segments([1, 2, 3, 4]), {1: 0, 2: 0, 3: 0, 4: 1}
    )
    options = ExportOptions(file_name=path.name, overlap=OverlapPolicy.BINARY, crop_to_segments=True)
    write_segmentation(segmentation, source, path.parent, options)

    dataset = pydicom.dcmread(path)
    assert (dataset.SegmentationType, dataset.Rows, dataset.Columns) == ("BINARY", 25, 26)
    masks = segment_masks(read_seg(path, source.geometry))
    for number in (1, 2, 3):
        np.testing.assert_array_equal(masks[number], first_layer == number, err_msg=f"segment {number}")
    np.testing.assert_array_equal(masks[4], second_layer == 4)
    assert dciodvfy_errors(inflated_for_dciodvfy(dataset, tmp_path / "inflated.dcm")) == []


def test_command_line_crops_on_request(source, labels, tmp_path, scene):
    from DicomManager import write_seg_nrrd

    seg_nrrd = tmp_path / "labels.seg.nrrd"
    write_seg_nrrd(seg_nrrd, LayeredSegmentation.from_labels(volume_on(source, labels), demo_segments(NUMBERS)))
    reference = str(source.paths[0].parent)
    for flags, name in (([], "full.dcm"), (["--crop-to-segments"], "cropped.dcm")):
        assert main(["export", "--reference", reference, "--segmentation", str(seg_nrrd),
                     "--output", str(tmp_path / name), *flags]) == 0
    full, cropped = (pydicom.dcmread(tmp_path / name, stop_before_pixels=True) for name in ("full.dcm", "cropped.dcm"))
    assert ((full.Rows, full.Columns), (cropped.Rows, cropped.Columns)) == ((40, 36), (25, 18))
    np.testing.assert_array_equal(read_seg(tmp_path / "cropped.dcm", source.geometry).labels.array, labels)
