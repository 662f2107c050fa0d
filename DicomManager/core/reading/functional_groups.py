"""The functional group macros of a SEG's frames, each found in the frame's own item or in the shared one.

PS3.3 C.7.6.16 lets a writer put any functional group macro either in each
item of the Per-Frame Functional Groups Sequence or once in the Shared
Functional Groups Sequence. highdicom 0.28, for example, shares the Segment
Identification of a single-segment SEG. Readers ask here, so that every
macro is looked for in both places: the frame's own item first. A TILED_FULL
slide may leave the per-frame groups out altogether (PS3.3 C.7.6.17.3): its
tiles fill the total pixel matrix in order, and every macro is shared.
"""

from __future__ import annotations

from pathlib import Path

from pydicom import Dataset

from ...errors import SegFileError

TILED_FULL = "TILED_FULL"


class FunctionalGroups:
    """Where each frame's functional group macros are, in a SEG dataset read by :func:`.seg_header.read_seg_dataset`.

    That reading has checked NumberOfFrames already.
    """

    def __init__(self, dataset: Dataset, path: Path) -> None:
        self.number_of_frames = int(dataset.get("NumberOfFrames", 1))
        self._shared = _only_item(dataset, "SharedFunctionalGroupsSequence", path)
        per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
        if not per_frame and dataset.get("DimensionOrganizationType") == TILED_FULL:
            per_frame = [Dataset()] * self.number_of_frames  # each frame's place follows from its number
        if len(per_frame) != self.number_of_frames:
            raise SegFileError(
                f"{path}: PerFrameFunctionalGroupsSequence (5200,9230) has {len(per_frame)} items "
                f"for {self.number_of_frames} frames."
            )
        self._per_frame = list(per_frame)
        self._path = path

    def shared_item(self, sequence: str) -> Dataset | None:
        """The macro's item when the shared group holds it and no frame's own item does."""
        if any(sequence in group for group in self._per_frame):
            return None
        return _first(self._shared, sequence)

    def item(self, frame_index: int, sequence: str) -> Dataset | None:
        """The macro's item for the frame at 0-based ``frame_index``: its own, else the shared one, else None."""
        own = _first(self._per_frame[frame_index], sequence)
        return own if own is not None else _first(self._shared, sequence)

    def required_item(self, frame_index: int, sequence: str) -> Dataset:
        """As :meth:`item`, raising :class:`SegFileError` naming the frame when neither place has the macro."""
        found = self.item(frame_index, sequence)
        if found is None:
            raise SegFileError(
                f"{self._path}: frame {frame_index + 1} has no {sequence}, "
                "neither in its own functional groups nor in the shared ones."
            )
        return found


def _only_item(dataset: Dataset, sequence: str, path: Path) -> Dataset:
    items = dataset.get(sequence) or []
    if len(items) > 1:
        raise SegFileError(f"{path}: {sequence} has {len(items)} items; it has at most one.")
    return items[0] if items else Dataset()


def _first(group: Dataset, sequence: str) -> Dataset | None:
    items = group.get(sequence)
    return items[0] if items else None
