"""The source images as highdicom is given them, and the frame numbers the SEG's references to them carry.

highdicom takes single-frame images as they are. A multi-frame source is
given as a copy that holds the frames of the volume the segmentation was
drawn on, with the plane macros where highdicom reads them (see
:func:`..geometry.frame_stacks.header_for_highdicom`); the SEG's references
to that copy's frames are then given the file's frame numbers.
"""

from __future__ import annotations

import highdicom as hd
from pydicom import Dataset

from ..geometry.frame_stacks import header_for_highdicom
from ..geometry.source_series import SourceSeries


def source_images_for_highdicom(source: SourceSeries) -> list[Dataset]:
    """The headers highdicom builds the SEG's references from."""
    if not source.frame_numbers:
        return source.datasets
    return [header_for_highdicom(source.datasets[0], source.frame_numbers)]


def refer_to_file_frames(seg: hd.seg.Segmentation, source: SourceSeries) -> None:
    """Give the SEG's references to a multi-frame source the frame numbers of the source file.

    Each frame's Derivation Image Sequence names the frames it was derived
    from; where the volume is part of the file's frames, the Source Image
    Sequence names them too (PS3.3 C.10.2: Referenced Frame Number is
    required when a reference does not apply to every frame).
    """
    if not source.frame_numbers:
        return
    in_file = sorted(source.frame_numbers)
    if in_file == list(range(1, int(source.datasets[0].NumberOfFrames) + 1)):
        return  # every frame, in file order: highdicom's numbers are the file's
    # highdicom may share one item between the frames of several segments at one position: each is renumbered once.
    items = {
        id(item): item
        for frame in seg.PerFrameFunctionalGroupsSequence
        for derivation in frame.get("DerivationImageSequence", [])
        for item in derivation.get("SourceImageSequence", [])
        if "ReferencedFrameNumber" in item
    }
    for item in items.values():
        numbers = item.ReferencedFrameNumber
        numbers = [numbers] if isinstance(numbers, int) else list(numbers)
        mapped = [in_file[int(number) - 1] for number in numbers]
        item.ReferencedFrameNumber = mapped[0] if len(mapped) == 1 else mapped
    uid = source.datasets[0].SOPInstanceUID
    for item in seg.get("SourceImageSequence", []):
        if item.ReferencedSOPInstanceUID == uid:
            item.ReferencedFrameNumber = in_file
