"""The one adapter that relies on how highdicom calls an Executor: checked, and where the check fails, plain highdicom.

The check is made to fail for real: highdicom's ``encode_frame`` is replaced
in highdicom's own modules by a function of this file that does the same, so
highdicom submits a callable that is not its own. The SEG is then built by
highdicom alone, and must be the same file as the fast path writes: every
element equal but those each build makes afresh (creation time, the
dimension organisation's new UID), the pixel data as stored byte for byte.
The cases are those where highdicom is given a frame sink: native and
deflated frames, and a pool's frames encoded ahead.
"""

from __future__ import annotations

import logging
import sys
from concurrent.futures import Future

import numpy as np
import pydicom
import pytest
from conftest import blob_labels, demo_segments, make_grid, unavailable, write_series
from highdicom.frame import encode_frame
from pydicom import Dataset

from DicomManager import Compression, ExportOptions, LayeredSegmentation, read_source_series, write_segmentation
from DicomManager.core.codecs.encoding_workers import ALL_CORES
from DicomManager.core.codecs.frame_pool import fork_available
from DicomManager.core.codecs.highdicom_frame_calls import HighdicomFrameCalls, UnexpectedFrameCall
from DicomManager.core.cores import available_cores

NUMBERS = [1, 3, 7]
FRESH_PER_BUILD = {
    "InstanceCreationDate", "InstanceCreationTime", "ContentDate", "ContentTime", "ContributionDateTime",
    "DimensionOrganizationUID",
}
"""What highdicom sets anew each time it builds a dataset."""
FALLBACK = "did not hand over its frames as expected"


def not_highdicoms_encode_frame(array: np.ndarray, **arguments: object) -> bytes:
    """highdicom's encode_frame under another name: what a later highdicom might submit instead."""
    return encode_frame(array, **arguments)


class TakesNothing:
    """A frame sink that must never be reached."""

    def take(self, frame: np.ndarray, arguments: dict) -> Future:
        raise AssertionError("the adapter handed on a call it should have refused")


def comparable(dataset: Dataset) -> Dataset:
    """``dataset`` without what each build sets afresh, at every depth."""
    for element in list(dataset):
        if element.keyword in FRESH_PER_BUILD:
            del dataset[element.tag]
        elif element.VR == "SQ":
            for item in element.value:
                comparable(item)
    return dataset


@pytest.mark.parametrize(("compression", "workers"), [
    (Compression.NONE, 0), (Compression.DEFLATE, 0), (Compression.DEFLATE_FRAMES, 0),  # frames taken in this process
    (Compression.RLE, ALL_CORES), (Compression.JPEG2000, ALL_CORES),  # frames encoded ahead on a pool
])
def test_plain_highdicom_writes_the_same_file_when_its_calls_are_not_the_expected_ones(
    compression, workers, tmp_path, monkeypatch, caplog
):
    if workers == ALL_CORES and (not fork_available() or available_cores() < 2):
        unavailable("encoding ahead on a pool needs two cores and fork")
    source = read_source_series(write_series(make_grid((70, 40, 36)), tmp_path / "ct"))  # 70 frames: a pool pays
    labels = blob_labels(source.geometry.spatial_shape, NUMBERS)
    labels[np.flatnonzero(labels.any(axis=(1, 2)))[1]] = 0  # an empty plane between labelled ones: its frame is left out
    segmentation = LayeredSegmentation.from_labels(source.geometry.with_array(labels), demo_segments(NUMBERS))
    options = ExportOptions(compression=compression, workers=workers).with_series(
        series_instance_uid="1.2.826.0.1.3680043.10.511.3.1", sop_instance_uid="1.2.826.0.1.3680043.10.511.3.2"
    )

    with caplog.at_level(logging.WARNING):
        (fast,) = write_segmentation(segmentation, source, tmp_path / "fast", options).paths
    assert FALLBACK not in caplog.text
    for module in [module for name, module in sys.modules.items() if name.startswith("highdicom.")]:
        if getattr(module, "encode_frame", None) is encode_frame:  # where highdicom's frame loops find it
            monkeypatch.setattr(module, "encode_frame", not_highdicoms_encode_frame)
    with caplog.at_level(logging.WARNING):
        (plain,) = write_segmentation(segmentation, source, tmp_path / "plain", options).paths
    assert FALLBACK in caplog.text

    fast_dataset, plain_dataset = pydicom.dcmread(fast), pydicom.dcmread(plain)
    assert fast_dataset.file_meta == plain_dataset.file_meta
    assert fast_dataset.file_meta.TransferSyntaxUID == compression.transfer_syntax_uid
    assert fast_dataset.PixelData == plain_dataset.PixelData
    assert comparable(fast_dataset) == comparable(plain_dataset)


@pytest.mark.parametrize("call", ["another function", "the frame positional", "no frame"])
def test_the_adapter_refuses_calls_of_another_shape(call):
    frame = np.zeros((4, 4), np.uint8)
    calls = HighdicomFrameCalls(TakesNothing())
    with pytest.raises(UnexpectedFrameCall):
        if call == "another function":
            calls.submit(not_highdicoms_encode_frame, array=frame)
        elif call == "the frame positional":
            calls.submit(encode_frame, frame)
        else:
            calls.submit(encode_frame, transfer_syntax_uid="1.2.840.10008.1.2.5")
    assert calls.calls == 0
