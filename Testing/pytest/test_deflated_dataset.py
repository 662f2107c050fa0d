"""Deflated files (written here by pydicom) read as pydicom reads them, headers without inflating the pixels."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import shared_data
from pydicom.uid import DeflatedExplicitVRLittleEndian

from DicomManager import read_seg
from DicomManager.core.reading.deflated_dataset import read_dicom_file
from DicomManager.core.reading.seg_reader import read_seg_header
from DicomManager.core.reading.seg_references import read_seg_references
from DicomManager.errors import SegFileError


def deflated_copy(source: Path, path: Path, random_pixels: bool = False) -> Path:
    """``source`` saved by pydicom as Deflated Explicit VR Little Endian, with Data Set Trailing Padding after its pixels."""
    dataset = pydicom.dcmread(source)
    if random_pixels:  # deflate cannot shrink them: the deflated pixels then dominate the file
        dataset.PixelData = np.random.default_rng(0).integers(0, 256, len(dataset.PixelData), np.uint8).tobytes()
    dataset.DataSetTrailingPadding = b"\x00" * 8
    dataset.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    dataset.save_as(path, enforce_file_format=True)
    return path


@pytest.mark.parametrize("source", ["dcmqi/liver.dcm", "dcmqi/sparse-labelmap-ppv5.dcm"])
def test_a_deflated_file_reads_as_pydicom_reads_it(source, tmp_path):
    path = deflated_copy(shared_data(source), tmp_path / "deflated.dcm")

    ours = read_dicom_file(path)

    theirs = pydicom.dcmread(path)
    assert ours.file_meta == theirs.file_meta
    assert ours.preamble == theirs.preamble
    assert ours == theirs
    assert ours.PixelData == pydicom.dcmread(shared_data(source)).PixelData
    assert ours.DataSetTrailingPadding == b"\x00" * 8


def test_a_deflated_seg_loads_as_its_native_original(tmp_path):
    path = deflated_copy(shared_data("dcmqi/liver.dcm"), tmp_path / "deflated.dcm")

    deflated, native = read_seg(path), read_seg(shared_data("dcmqi/liver.dcm"))

    assert [segment.number for segment in deflated.segments] == [segment.number for segment in native.segments]
    for ours, original in zip(deflated.layers, native.layers, strict=True):
        np.testing.assert_array_equal(ours.array, original.array)
        np.testing.assert_array_equal(ours.affine, original.affine)


def test_a_header_is_read_without_inflating_the_pixel_data(tmp_path):
    """A deflated file cut short inside its Pixel Data: its header still reads, where pydicom inflates the whole."""
    whole = deflated_copy(shared_data("dcmqi/liver.dcm"), tmp_path / "whole.dcm", random_pixels=True)
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(zlib.error):
        pydicom.dcmread(cut, stop_before_pixels=True)

    header = read_seg_header(cut)

    assert header == read_seg_header(whole)
    with pytest.raises(SegFileError, match=rf"{cut}: .*cut short"):
        read_seg(cut)


def test_a_corrupt_deflated_dataset_is_refused_naming_the_file(tmp_path):
    whole = deflated_copy(shared_data("dcmqi/liver.dcm"), tmp_path / "whole.dcm", random_pixels=True)
    corrupt = tmp_path / "corrupt.dcm"
    raw = whole.read_bytes()
    corrupt.write_bytes(raw[: len(raw) // 2] + b"\xff" * (len(raw) - len(raw) // 2))

    with pytest.raises(SegFileError, match=rf"{corrupt}: .*deflated dataset is corrupt") as refused:
        read_seg(corrupt)

    assert isinstance(refused.value.__cause__.__cause__, zlib.error)


@pytest.mark.parametrize("tags", [["SOPInstanceUID"], ["SOPInstanceUID", "PixelData"]])
def test_specific_tags_of_a_deflated_file_are_those_pydicom_reads(tags, tmp_path):
    path = deflated_copy(shared_data("dcmqi/liver.dcm"), tmp_path / "deflated.dcm")

    assert read_dicom_file(path, specific_tags=tags) == pydicom.dcmread(path, specific_tags=tags)


def test_the_references_of_a_deflated_seg_are_read(tmp_path):
    path = deflated_copy(shared_data("dcmqi/liver.dcm"), tmp_path / "deflated.dcm")
    original = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))

    references = read_seg_references(path)

    assert references.sop_instance_uid == original.SOPInstanceUID
    assert references.referenced_series_uid == original.ReferencedSeriesSequence[0].SeriesInstanceUID
    assert len(references.referenced_instance_uids) == len(original.ReferencedSeriesSequence[0].ReferencedInstanceSequence)
    assert references.transfer_syntax_uid == DeflatedExplicitVRLittleEndian
