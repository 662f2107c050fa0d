"""A LABELMAP's frames decoded on forked workers: the labels highdicom wrote, and errors named as in one process."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, highdicom_identity, highdicom_liver_descriptions, make_grid, unavailable, write_series
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from DicomManager import read_seg, read_source_series
from DicomManager.core.codecs.encoding_workers import ALL_CORES
from DicomManager.core.codecs.frame_pool import fork_available
from DicomManager.core.cores import available_cores
from DicomManager.core.reading.frame_placement import decoding_workers
from DicomManager.errors import SegFileError


@pytest.fixture(autouse=True)
def fork_needed() -> None:
    if not fork_available():
        unavailable("decoding on workers forks them, and this platform cannot fork")


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return read_source_series(write_series(make_grid((12, 40, 36)), tmp_path_factory.mktemp("ct")))


def highdicom_labelmap(source, labels: np.ndarray, numbers: list[int], syntax: str, path: Path) -> Path:
    """A LABELMAP SEG of ``labels`` over ``source``, written by highdicom with every frame kept."""
    descriptions = highdicom_liver_descriptions(numbers)
    seg = hd.seg.Segmentation(
        source_images=source.datasets,
        pixel_array=labels,
        segmentation_type="LABELMAP",
        segment_descriptions=descriptions,
        **highdicom_identity(),
        transfer_syntax_uid=syntax,
        omit_empty_frames=False,
    )
    seg.save_as(path)
    return path


@pytest.mark.parametrize("syntax", [RLELossless, JPEGLSLossless, JPEG2000Lossless])
@pytest.mark.parametrize("workers", [2, 3])
def test_frames_decoded_on_workers_are_the_labels_written(source, tmp_path, syntax, workers):
    labels = blob_labels(source.geometry.spatial_shape, [1, 2, 3, 4], seed=3)
    path = highdicom_labelmap(source, labels, [1, 2, 3, 4], syntax, tmp_path / "seg.dcm")

    result = read_seg(path, source.geometry, workers=workers)

    np.testing.assert_array_equal(result.layers[0].array, labels)
    np.testing.assert_array_equal(result.layers[0].affine, source.geometry.affine)


def test_an_undescribed_value_in_a_workers_frames_is_refused_as_in_one_process(source, tmp_path):
    labels = np.zeros(source.geometry.spatial_shape, np.uint8)
    labels[1:3, 4:20, 4:20] = 1
    labels[5:7, 5:9, 5:9] = 2  # frames 5 and 6 of 12 (either order): a worker's, with workers=3
    path = highdicom_labelmap(source, labels, [1, 2], RLELossless, tmp_path / "seg.dcm")
    dataset = pydicom.dcmread(path)
    dataset.SegmentSequence = [item for item in dataset.SegmentSequence if item.SegmentNumber != 2]
    dataset.save_as(path)

    with pytest.raises(SegFileError) as on_workers:
        read_seg(path, source.geometry, workers=3)

    assert str(on_workers.value) == f"{path}: pixel values 2 are the number of no segment in SegmentSequence."
    with pytest.raises(SegFileError) as in_one_process:
        read_seg(path, source.geometry)
    assert str(in_one_process.value) == str(on_workers.value)


def test_all_cores_pool_the_codecs_and_frame_counts_where_it_pays():
    def pooled(workers: int) -> int:
        return min(workers, available_cores()) if min(workers, available_cores()) > 1 else 0

    assert decoding_workers(RLELossless, 185, ALL_CORES) == 0
    assert decoding_workers(JPEGLSLossless, 750, ALL_CORES) == pooled(2)
    assert decoding_workers(JPEG2000Lossless, 185, ALL_CORES) == pooled(11)
    assert decoding_workers(ExplicitVRLittleEndian, 5000, ALL_CORES) == 0
    assert decoding_workers(DeflatedExplicitVRLittleEndian, 5000, ALL_CORES) == 0
    assert decoding_workers(ExplicitVRLittleEndian, 10, 3) == 3
    assert decoding_workers(RLELossless, 5000, 0) == 0
