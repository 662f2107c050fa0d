"""Label volumes -> a layered segmentation: one layer per volume, as dcmqi takes one file per segment group."""

from __future__ import annotations

from collections.abc import Sequence

import highdicom as hd

from ...errors import LabelFileError
from ..segments.label_layers import label_values
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.segment_metadata import SegmentMetadata


def segmentation_from_label_volumes(
    volumes: Sequence[hd.Volume], segments: Sequence[SegmentMetadata] | None
) -> LayeredSegmentation:
    """The segments of ``volumes``, each volume a layer, each non-zero value a segment of that number.

    Segments are described by ``segments`` where it lists their number
    (dcmqi's metadata); without ``segments`` each value present becomes a
    segment named ``Segment_<number>``. Segments of different volumes may
    overlap; one number in two volumes is an error, and so is a value
    ``segments`` does not describe. A described segment no volume holds is
    kept, empty.

    Raises
    ------
    LabelFileError
        A segment number in two volumes, or a value without a description.
    """
    layer_of_segment: dict[int, int] = {}
    for index, labels in enumerate(volumes):
        for value in map(int, label_values(labels.array)):
            if value in layer_of_segment:
                raise LabelFileError(
                    f"Label value {value} appears in label volumes {layer_of_segment[value] + 1} and {index + 1}; "
                    "each segment number must come from one volume."
                )
            layer_of_segment[value] = index
    if segments is None:
        segments = [SegmentMetadata(number=number, label=f"Segment_{number}") for number in sorted(layer_of_segment)]
    undescribed = sorted(set(layer_of_segment) - {segment.number for segment in segments})
    if undescribed:
        raise LabelFileError(f"Label values {undescribed} have no segment metadata.")
    for segment in segments:
        layer_of_segment.setdefault(segment.number, 0)  # described but absent: an empty segment
    return LayeredSegmentation(list(volumes), list(segments), layer_of_segment)
