"""Core round trips: labels + metadata -> SEG file -> labels + metadata, checked by independent readers."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, dciodvfy_errors, demo_segments, make_grid, on_grid, read_with_dcmqi, write_series
from pydicom.encaps import generate_frames

from DicomManager import (
    Compression,
    ExportOptions,
    LayeredSegmentation,
    SeriesAttributes,
    read_seg,
    read_source_series,
    write_labelmap_seg,
    write_segmentation,
)
from DicomManager.core.codecs.encoding_workers import ALL_CORES, FRAMES_PER_WORKER, encoding_workers
from DicomManager.core.cores import available_cores
from DicomManager.core.reading.seg_references import read_seg_references
from DicomManager.core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID

GAPPED_NUMBERS = [1, 2, 5, 9, 40]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    grid = make_grid((12, 40, 36))
    return read_source_series(write_series(grid, tmp_path_factory.mktemp("ct")))


def write(source, labels: np.ndarray, numbers: list[int], path: Path, **options) -> Path:
    volume = hd.Volume(labels, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)
    write_labelmap_seg(volume, demo_segments(numbers), source, path.parent, ExportOptions(file_name=path.name, **options))
    return path


# Deflated Image Frame Compression, which neither highdicom nor dciodvfy reads yet, has its own tests with their
# own oracle, in test_real_world_variants.py.
READ_BY_HIGHDICOM = [c for c in Compression if c is not Compression.DEFLATE_FRAMES]


@pytest.mark.parametrize("compression", READ_BY_HIGHDICOM)
def test_every_compression_round_trips_and_validates(source, tmp_path, scene, compression):
    labels = blob_labels(source.geometry.spatial_shape, GAPPED_NUMBERS)
    labels[4] = 0  # an empty slice in the middle: its frame is omitted
    path = write(source, labels, GAPPED_NUMBERS, tmp_path / "seg.dcm", compression=compression)

    dataset = pydicom.dcmread(path)
    assert dataset.SOPClassUID == LABELMAP_SEG_SOP_CLASS_UID
    assert dataset.SegmentationType == "LABELMAP"
    assert dataset.file_meta.TransferSyntaxUID == compression.transfer_syntax_uid
    assert dataset.BitsAllocated == 8
    assert int(dataset.NumberOfFrames) == np.count_nonzero(labels.any(axis=(1, 2)))

    result = read_seg(path, source.geometry)
    np.testing.assert_array_equal(result.labels.array, labels)
    assert [s.number for s in result.segments] == GAPPED_NUMBERS
    assert result.segments == demo_segments(GAPPED_NUMBERS)

    # highdicom, read independently, sees the same labels on the same grid.
    seg = hd.seg.segread(path)
    assert seg.segment_numbers == GAPPED_NUMBERS
    np.testing.assert_array_equal(on_grid(seg.get_volume(combine_segments=True), source.geometry), labels)

    if compression in (Compression.NONE, Compression.RLE, Compression.DEFLATE):
        # dcmqi 1.5.7 (Slicer's core SEG plugin) reads these, with the same labels and geometry.
        np.testing.assert_array_equal(on_grid(read_with_dcmqi(path, tmp_path, scene), source.geometry), labels)

    if compression is Compression.DEFLATE:
        # dciodvfy cannot parse deflated files: validate the uncompressed twin.
        dataset.file_meta.TransferSyntaxUID = Compression.NONE.transfer_syntax_uid
        path = tmp_path / "inflated.dcm"
        dataset.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


def test_each_frame_references_the_image_it_lies_on(tmp_path):
    """Frames and source images are paired by position, whatever order the files come in and the slices run."""
    grid = make_grid((7, 16, 12), row_direction=(0, 1, 0), column_direction=(0, 0, -1))
    files = write_series(grid, tmp_path / "ct")
    source = read_source_series(list(reversed(files[::2])) + files[1::2])
    labels = blob_labels(source.geometry.spatial_shape, [1, 2], seed=11)
    labels[3] = 0
    dataset = pydicom.dcmread(write(source, labels, [1, 2], tmp_path / "seg.dcm"))

    position_of_image = {ds.SOPInstanceUID: np.array(ds.ImagePositionPatient, dtype=float) for ds in source.datasets}
    referenced = []
    for frame in dataset.PerFrameFunctionalGroupsSequence:
        (image,) = frame.DerivationImageSequence[0].SourceImageSequence
        referenced.append(image.ReferencedSOPInstanceUID)
        frame_position = np.array(frame.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        np.testing.assert_allclose(frame_position, position_of_image[image.ReferencedSOPInstanceUID], atol=1e-4)
    labelled = [ds.SOPInstanceUID for ds, slice_ in zip(source.datasets, labels, strict=True) if slice_.any()]
    assert sorted(referenced) == sorted(labelled)


@pytest.mark.parametrize("compression", READ_BY_HIGHDICOM)
def test_sixteen_bit_labels(source, tmp_path, scene, compression, caplog):
    numbers = [1, 255, 256, 4000, 65535]
    labels = blob_labels(source.geometry.spatial_shape, numbers, seed=3)
    path = write(source, labels, numbers, tmp_path / "seg16.dcm", compression=compression)
    dataset = pydicom.dcmread(path)
    assert dataset.BitsAllocated == 16
    assert dataset.file_meta.TransferSyntaxUID == compression.transfer_syntax_uid
    assert "OHIF keeps label maps in 8 bits" in caplog.text
    np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, labels)

    seg = hd.seg.segread(path)
    np.testing.assert_array_equal(on_grid(seg.get_volume(combine_segments=True), source.geometry), labels)
    if compression in (Compression.NONE, Compression.RLE, Compression.DEFLATE):
        # dcmqi writes signed 16-bit label volumes (65535 as -1); read_label_volume takes the same 16 bits back.
        np.testing.assert_array_equal(on_grid(read_with_dcmqi(path, tmp_path, scene), source.geometry), labels)

    if compression is Compression.DEFLATE:
        dataset.file_meta.TransferSyntaxUID = Compression.NONE.transfer_syntax_uid
        path = tmp_path / "inflated16.dcm"
        dataset.save_as(path, enforce_file_format=True)
    assert dciodvfy_errors(path) == []


def test_deflate_is_written_at_the_best_compression_level(source, tmp_path):
    labels = blob_labels(source.geometry.spatial_shape, GAPPED_NUMBERS)
    path = write(source, labels, GAPPED_NUMBERS, tmp_path / "seg.dcm", compression=Compression.DEFLATE)
    at_default_level = tmp_path / "default.dcm"
    pydicom.dcmread(path).save_as(at_default_level, enforce_file_format=True)  # pydicom deflates at zlib's default

    assert path.stat().st_size < at_default_level.stat().st_size
    reread = pydicom.dcmread(path)
    assert reread.file_meta.TransferSyntaxUID == Compression.DEFLATE.transfer_syntax_uid
    np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, labels)


def test_segmentation_on_part_of_the_grid(source, tmp_path):
    labels = blob_labels(source.geometry.spatial_shape, [3, 4], seed=5)
    part = labels[2:9, 5:30, 4:20]
    affine = source.geometry.affine.copy()
    affine[:3, 3] = affine[:3, :3] @ [2, 5, 4] + affine[:3, 3]
    path = tmp_path / "part.dcm"
    write_labelmap_seg(hd.Volume(part, affine, "PATIENT"), demo_segments([3, 4]), source, path.parent,
        ExportOptions(file_name=path.name))
    expected = np.zeros_like(labels)
    expected[2:9, 5:30, 4:20] = part
    np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, expected)


def test_all_segments_empty_still_writes_a_valid_seg(source, tmp_path):
    labels = np.zeros(source.geometry.spatial_shape, dtype=np.uint8)
    path = write(source, labels, [1, 2], tmp_path / "empty.dcm")
    result = read_seg(path, source.geometry)
    assert not result.labels.array.any()
    assert [s.number for s in result.segments] == [1, 2]
    assert dciodvfy_errors(path) == []


def test_frames_stored_in_reverse_order_load_the_same(source, tmp_path):
    labels = blob_labels(source.geometry.spatial_shape, [1, 2], seed=7)
    path = write(source, labels, [1, 2], tmp_path / "seg.dcm", compression=Compression.NONE)
    dataset = pydicom.dcmread(path)
    frames = dataset.pixel_array
    dataset.PerFrameFunctionalGroupsSequence = list(reversed(dataset.PerFrameFunctionalGroupsSequence))
    dataset.PixelData = np.ascontiguousarray(frames[::-1]).tobytes()
    reversed_path = tmp_path / "reversed.dcm"
    dataset.save_as(reversed_path, enforce_file_format=True)
    np.testing.assert_array_equal(read_seg(reversed_path, source.geometry).labels.array, labels)
    np.testing.assert_array_equal(on_grid(read_seg(reversed_path).labels, source.geometry), labels)


def test_series_attributes_are_written(source, tmp_path):
    labels = blob_labels(source.geometry.spatial_shape, [1])
    series = SeriesAttributes(
        series_description="Liver by hand", series_number=42, content_label="LIVER",
        content_description="reviewed", content_creator_name="Doe^Jane",
    )
    path = write(source, labels, [1], tmp_path / "seg.dcm", series=series)
    info = read_seg(path).info
    assert (info.series_description, info.series_number, info.content_label) == ("Liver by hand", 42, "LIVER")
    assert (info.content_description, info.content_creator_name) == ("reviewed", "Doe^Jane")
    assert info.referenced_series_uid == source.series_instance_uid
    assert sorted(read_seg_references(path).referenced_instance_uids) == sorted(source.sop_instance_uids)
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    first = source.datasets[0]
    assert (dataset.PatientID, dataset.StudyInstanceUID) == (first.PatientID, first.StudyInstanceUID)
    assert dataset.FrameOfReferenceUID == first.FrameOfReferenceUID


def test_writing_pauses_garbage_collection_and_always_restores_it(source, tmp_path):
    """The writer pauses the cyclic collector (benchmarks/README.md says why); it must come back on, failure or not."""
    import gc

    from DicomManager.errors import InvalidSegmentationError

    labels = blob_labels(source.geometry.spatial_shape, [1, 2])
    volume = hd.Volume(labels, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)
    write_segmentation(LayeredSegmentation([volume], demo_segments([1, 2]), {1: 0, 2: 0}), source, tmp_path,
        ExportOptions(file_name="ok.dcm"))
    assert gc.isenabled()
    with pytest.raises(InvalidSegmentationError):  # segment 2 is labelled but not described
        write_segmentation(LayeredSegmentation([volume], demo_segments([1]), {1: 0}), source, tmp_path,
            ExportOptions(file_name="bad.dcm"))
    assert gc.isenabled() and not (tmp_path / "bad.dcm").exists()
    gc.disable()
    try:
        write_segmentation(LayeredSegmentation([volume], demo_segments([1, 2]), {1: 0, 2: 0}), source, tmp_path,
            ExportOptions(file_name="off.dcm"))
        assert not gc.isenabled()  # a caller's choice to keep it off is kept
    finally:
        gc.enable()


@pytest.mark.parametrize("compression", [Compression.RLE, Compression.JPEG2000])
def test_frames_encoded_in_a_pool_are_the_frames_encoded_in_this_process(source, tmp_path, compression):
    labels = blob_labels(source.geometry.spatial_shape, GAPPED_NUMBERS)
    serial = write(source, labels, GAPPED_NUMBERS, tmp_path / "serial.dcm", compression=compression)
    pooled = write(source, labels, GAPPED_NUMBERS, tmp_path / "pooled.dcm", compression=compression, workers=2)
    frames = [list(generate_frames(pydicom.dcmread(path).PixelData)) for path in (serial, pooled)]
    assert frames[0] == frames[1] and len(frames[0]) == int(labels.any(axis=(1, 2)).sum())
    np.testing.assert_array_equal(read_seg(pooled, source.geometry).labels.array, labels)
    assert dciodvfy_errors(pooled) == []


def test_every_core_is_used_only_where_a_pool_pays():
    cores = available_cores()
    expected = min(cores, 600 // FRAMES_PER_WORKER)
    assert encoding_workers(Compression.RLE, 600, ALL_CORES) == (expected if expected > 1 else 0)
    assert encoding_workers(Compression.JPEG2000, 600, ALL_CORES) == (expected if expected > 1 else 0)
    assert encoding_workers(Compression.JPEGLS, 600, ALL_CORES) == 0  # measured: a pool does not pay for its frames
    assert encoding_workers(Compression.RLE, FRAMES_PER_WORKER, ALL_CORES) == 0  # too few frames for two workers
    assert encoding_workers(Compression.JPEGLS, 600, 3) == 3  # asked for: given
