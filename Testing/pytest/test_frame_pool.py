"""The pool that encodes a label volume's frames ahead of highdicom: what it hands back is what highdicom would encode."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import unavailable
from highdicom.frame import encode_frame
from pydicom.uid import JPEG2000Lossless, RLELossless

from DicomManager.core.codecs.frame_pool import FramePool, fork_available


@pytest.fixture(autouse=True)
def fork_needed() -> None:
    if not fork_available():
        unavailable("FramePool forks its workers, and this platform cannot fork")


def planes_with_an_empty_one() -> np.ndarray:
    rng = np.random.default_rng(7)
    planes = rng.integers(0, 4, size=(9, 40, 36), dtype=np.uint8)
    planes[3] = 0
    return planes


def arguments(syntax: str = RLELossless, bits: int = 8) -> dict:
    return {"transfer_syntax_uid": syntax, "bits_allocated": bits, "bits_stored": bits,
            "photometric_interpretation": "MONOCHROME2", "pixel_representation": 0}


def test_the_expected_calls_are_answered_from_the_encoding_done_ahead():
    planes = planes_with_an_empty_one()
    non_empty = [k for k in range(len(planes)) if planes[k].any()]
    with FramePool(planes, arguments(), omit_empty=True, workers=2, slab_frames=3) as pool:
        futures = [pool.take(planes[k].copy(), arguments()) for k in non_empty]
        results = [future.result() for future in futures]
    assert pool.frames_encoded_ahead == len(non_empty) == 8
    assert results == [encode_frame(planes[k], **arguments()) for k in non_empty]


def test_empty_planes_are_expected_too_when_they_are_kept():
    planes = planes_with_an_empty_one()
    with FramePool(planes, arguments(), omit_empty=False, workers=2, slab_frames=4) as pool:
        results = [pool.take(plane, arguments()).result() for plane in planes]
    assert pool.frames_encoded_ahead == len(planes)
    assert results == [encode_frame(plane, **arguments()) for plane in planes]


@pytest.mark.parametrize("surprise", ["another order", "other arguments"])
def test_a_frame_that_was_not_expected_is_encoded_as_handed_over(surprise):
    planes = planes_with_an_empty_one()
    order = [0, 1, 2, 4, 5, 6, 7, 8]
    given = arguments()
    if surprise == "another order":
        order = [0, 2, 1, 4, 5, 6, 7, 8]
    elif surprise == "other arguments":
        given = arguments(JPEG2000Lossless)
    with FramePool(planes, arguments(), omit_empty=True, workers=2, slab_frames=2) as pool:
        results = [pool.take(planes[k], given).result() for k in order]
    assert results == [encode_frame(planes[k], **given) for k in order]
    assert pool.frames_encoded_ahead == {"another order": 1, "other arguments": 0}[surprise]


def test_a_frame_that_fails_to_encode_ahead_fails_its_call():
    planes = planes_with_an_empty_one()
    wrong = arguments(bits=16)  # 8-bit frames declared 16-bit: the encoder refuses them
    with FramePool(planes, wrong, omit_empty=True, workers=2, slab_frames=4) as pool:
        future = pool.take(planes[0], wrong)
        with pytest.raises(ValueError):
            future.result()
    assert pool.frames_encoded_ahead == 1
