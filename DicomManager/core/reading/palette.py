"""Segment colours from a PALETTE COLOR LABELMAP's lookup table, for segments without a recommended colour.

A LABELMAP may carry a Palette Color Lookup Table (PS3.3 C.7.6.3.1.5,
C.7.9) that maps each segment number to its display colour instead of, or
as well as, each segment's Recommended Display CIELab Value. pydicom's
:func:`~pydicom.pixels.apply_color_lut` applies it as the standard says:
plain or segmented tables, 8 or 16 bits per entry, the first mapped value
of the descriptor, values beyond the table taking its last entry.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
from pydicom import Dataset
from pydicom.pixels import apply_color_lut

from ...errors import cause
from ..segments.segment_metadata import RGB_MAX, SegmentMetadata
from .seg_header import PALETTE_COLOR

logger = logging.getLogger(__name__)


def with_palette_colors(dataset: Dataset, segments: list[SegmentMetadata], path: Path) -> list[SegmentMetadata]:
    """``segments``, each without a recommended colour given the palette's colour of its number.

    Segments of a SEG that is not PALETTE COLOR, and those with a colour of
    their own, are returned as they are. A palette pydicom cannot apply
    changes nothing but is named in a warning: it colours, it does not say
    which voxel is which segment.
    """
    uncoloured = [segment.number for segment in segments if segment.color is None]
    if dataset.get("PhotometricInterpretation") != PALETTE_COLOR or not uncoloured:
        return segments
    dtype = np.uint16 if int(dataset.BitsAllocated) > np.iinfo(np.uint8).bits else np.uint8
    try:
        colors = apply_color_lut(np.array(uncoloured, dtype=dtype), dataset)
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as error:
        logger.warning("%s: its palette colour lookup table cannot be applied (%s); segments keep no colour", path, cause(error))
        return segments
    full_scale = np.iinfo(colors.dtype).max  # 8-bit entries up to 255, 16-bit ones up to 65535
    rgb = {number: tuple(round(int(value) * RGB_MAX / full_scale) for value in color)
           for number, color in zip(uncoloured, colors, strict=True)}
    return [replace(segment, color=rgb[segment.number]) if segment.number in rgb else segment for segment in segments]
