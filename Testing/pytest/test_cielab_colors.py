"""Segment colours read without highdicom are highdicom's, to the last component, over the whole CIELab range."""

from __future__ import annotations

import itertools

from highdicom.color import CIELabColor

from DicomManager.core.segments.cielab_colors import CIELAB_MAX, rgb_from_cielab

STEPS = range(0, CIELAB_MAX + 1, 1409)  # 47 values per component, the ends and the middle of a* and b* below
EDGES = (0, 1, 0x8080 - 1, 0x8080, 0x8080 + 1, CIELAB_MAX - 1, CIELAB_MAX)


def _highdicom_rgb(value: tuple[int, int, int]) -> tuple[int, int, int]:
    red, green, blue = CIELabColor.from_dicom_value(value).to_rgb(clip=True)
    return int(red), int(green), int(blue)


def test_every_sampled_cielab_value_gives_highdicoms_rgb() -> None:
    values = [*itertools.product(STEPS, repeat=3), *itertools.product(EDGES, repeat=3)]
    differing = [value for value in values if rgb_from_cielab(value) != _highdicom_rgb(value)]
    assert differing == []


def test_colours_written_from_rgb_read_back_as_highdicom_reads_them() -> None:
    for rgb in itertools.product(range(0, 256, 15), repeat=3):
        value = CIELabColor.from_rgb(*rgb).value
        assert rgb_from_cielab(value) == _highdicom_rgb(value)
