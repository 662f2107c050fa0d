"""Label layers: the values found in label arrays larger than the slabs they are walked in."""

from __future__ import annotations

import numpy as np
import pytest

from DicomManager.core.segments.label_layers import label_values


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32])
def test_label_values_are_found_in_every_slab_of_a_large_array(dtype):
    labels = np.zeros((70, 256, 256), dtype=dtype)  # 4.6 Mi voxels: more than one slab
    labels[0, 0, 0], labels[33, 100, 6], labels[69, 255, 255], labels[69, 3, 3] = 5, 2, 9, 2
    expected = [2, 5, 9]
    np.testing.assert_array_equal(label_values(labels), expected)
    np.testing.assert_array_equal(label_values(labels[::-1, :, ::3]), expected)  # a strided view, not a copy
    assert label_values(labels).dtype == labels.dtype


def test_label_values_of_empty_boolean_and_single_voxel_arrays():
    assert label_values(np.zeros((3, 4, 4), np.uint8)).size == 0
    np.testing.assert_array_equal(label_values(np.ones((2, 2), bool)), [1])
    np.testing.assert_array_equal(label_values(np.array(7, np.uint16)), [7])
    np.testing.assert_array_equal(label_values(np.array([0.0, 2.5, 1.0])), [1.0, 2.5])
