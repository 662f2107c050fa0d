"""Frames deflated while highdicom builds their dataset: one stream with the elements around them, or one stream each."""

from __future__ import annotations

import io
import zlib

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, demo_segments, make_grid, on_grid, write_series
from pydicom.uid import RLELossless

from DicomManager import Compression, ExportOptions, read_source_series
from DicomManager.core.codecs.deflated_file import deflate_stream
from DicomManager.core.codecs.deflated_frames import FrameDeflater
from DicomManager.core.codecs.deflating_ahead import DeflatingAhead
from DicomManager.core.writing.export_plan import plan_labelmap
from DicomManager.core.writing.labelmap_writer import labelmap_seg
from DicomManager.core.writing.seg_file import save_seg

NUMBERS = [1, 3, 7]


def planes_with_an_empty_one() -> np.ndarray:
    planes = np.random.default_rng(3).integers(0, 4, size=(7, 600, 512), dtype=np.uint8)  # 2 MB: pieces span frames
    planes[2] = 0
    return planes


def inflate(stream: bytes) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    data = inflater.decompress(stream) + inflater.flush()
    assert inflater.eof and inflater.unused_data == b""
    return data


def deflated(data: bytes, finish: bool) -> bytes:
    output = io.BytesIO()
    deflate_stream([data], output, finish=finish)
    return output.getvalue()


def test_frames_deflated_ahead_join_the_elements_deflated_around_them():
    planes = planes_with_an_empty_one()
    expected = [planes[k] for k in (0, 1, 3, 4, 5, 6)]
    ahead = DeflatingAhead(planes, omit_empty=True)
    middle = ahead.deflated_for([frame.copy() for frame in expected])  # equal frames, in other memory
    ahead.close()

    assert middle is not None
    before, after = b"elements before" * 100, b"after"
    stream = deflated(before, finish=False) + middle + deflated(after, finish=True)
    assert inflate(stream) == before + b"".join(frame.tobytes() for frame in expected) + after


def test_empty_planes_are_deflated_too_when_they_are_kept():
    planes = planes_with_an_empty_one()
    ahead = DeflatingAhead(planes, omit_empty=False)
    middle = ahead.deflated_for(list(planes))
    ahead.close()
    assert middle is not None
    assert inflate(middle + deflated(b"", finish=True)) == planes.tobytes()


@pytest.mark.parametrize("surprise", ["another order", "a frame fewer", "other values", "another type"])
def test_frames_other_than_the_expected_ones_are_not_given_the_deflated_ones(surprise):
    planes = planes_with_an_empty_one()
    given = [planes[k] for k in (0, 1, 3, 4, 5, 6)]
    if surprise == "another order":
        given[0], given[1] = given[1], given[0]
    elif surprise == "a frame fewer":
        given = given[:-1]
    elif surprise == "other values":
        given[3] = given[3].copy()
        given[3][10, 10] += 1
    else:
        given = [frame.astype(np.uint16) for frame in given]
    ahead = DeflatingAhead(planes, omit_empty=True)
    assert ahead.deflated_for(given) is None
    ahead.close()


def test_a_deflated_export_writes_the_frames_deflated_while_highdicom_built_the_dataset(tmp_path):
    """highdicom hands over the frames expected (checked on the installed highdicom); the file reads back exactly."""
    source = read_source_series(write_series(make_grid((8, 64, 48)), tmp_path / "ct"))
    labels = blob_labels(source.geometry.spatial_shape, NUMBERS)
    labelled = np.flatnonzero(labels.any(axis=(1, 2)))
    labels[labelled[1]] = 0  # an empty plane between labelled ones: its frame is left out
    volume = hd.Volume(labels, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)
    options = ExportOptions(compression=Compression.DEFLATE, file_name="seg.dcm")

    plan = plan_labelmap(volume, demo_segments(NUMBERS), source, tmp_path, options)
    (instance,) = plan.instances
    seg = labelmap_seg(plan, instance)
    assert seg.PixelData.deflated is not None
    path = save_seg(seg, instance, plan.overwrite).path

    dataset = pydicom.dcmread(path)
    assert dataset.file_meta.TransferSyntaxUID == Compression.DEFLATE.transfer_syntax_uid
    assert int(dataset.NumberOfFrames) == len(labelled) - 1 > 1
    read = hd.seg.segread(path)
    np.testing.assert_array_equal(on_grid(read.get_volume(combine_segments=True), source.geometry), labels)


@pytest.mark.parametrize("dtype", ["<u2", ">u2", "u1"])
def test_frames_deflated_one_by_one_inflate_to_their_little_endian_bytes(dtype):
    """Supplement 244's frames, deflated on threads as highdicom hands them over: each a raw deflate stream of its own."""
    planes = planes_with_an_empty_one()[:, :40, :30].astype(dtype)
    with FrameDeflater() as deflater:
        bits = planes.dtype.itemsize * 8
        futures = [deflater.take(plane, {"transfer_syntax_uid": RLELossless, "bits_allocated": bits}) for plane in planes]
        deflated_frames = [future.result() for future in futures]
    assert [zlib.decompress(frame, -zlib.MAX_WBITS) for frame in deflated_frames] == [
        plane.astype(plane.dtype.newbyteorder("<")).tobytes() for plane in planes
    ]
    with FrameDeflater() as deflater, pytest.raises(ValueError, match="not 1-bit ones"):
        deflater.take(planes[0] > 0, {"bits_allocated": 1})  # a BINARY frame is packed first
