"""The frames of one enhanced (multi-frame) image: the volumes they form, and the header highdicom is given for one.

Enhanced CT, MR and PET images and their Legacy Converted Enhanced forms put
each frame's position, orientation and pixel spacing in functional groups:
shared by every frame or in each frame's own item. One file may also hold
several volumes at the same positions (two image types, several echoes or
time points), told apart by the frames' Dimension Index Values, which may
point at private attributes.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.datadict import keyword_for_tag
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from ...errors import GeometryMismatchError, SourceSeriesError
from .grids import check_same_voxel_grid, holds_grid

SPATIAL_DIMENSIONS = frozenset(Tag(keyword) for keyword in ("ImagePositionPatient", "InStackPositionNumber", "SliceLocation"))
"""Dimensions that step along a volume's slices; the other dimensions of an image tell its volumes apart."""
PLANE_ATTRIBUTES = (
    ("PlanePositionSequence", "ImagePositionPatient"),
    ("PlaneOrientationSequence", "ImageOrientationPatient"),
    ("PixelMeasuresSequence", "PixelSpacing"),
)
"""Where a frame's position, orientation and pixel spacing are, in that order."""
DISTINGUISHING_ATTRIBUTES = (
    ("FrameContentSequence", "StackID"),
    ("FrameContentSequence", "TemporalPositionIndex"),
    ("MRImageFrameTypeSequence", "FrameType"),
    ("CTImageFrameTypeSequence", "FrameType"),
    ("PETFrameTypeSequence", "FrameType"),
    ("MREchoSequence", "EffectiveEchoTime"),
)
"""Frame attributes that tell volumes at the same positions apart where the Dimension Index does not."""
DECIMALS = 4
"""Orientation and pixel spacing are compared to this many decimals (DICOM writes them as decimal strings)."""
FRAMES_NAMED = 6
"""How many frame numbers a description lists before it shortens the list."""


@dataclass(frozen=True)
class FrameStack:
    """Frames of one image that form a regularly spaced volume."""

    frame_numbers: tuple[int, ...]
    """1-based frame numbers, in slice order."""
    geometry: hd.VolumeGeometry
    traits: tuple[tuple[str, str], ...]
    """What the frames share that may set them apart from other frames of the image: (name, value) pairs."""

    def describe(self, differing: Sequence[str] = ()) -> str:
        """The frames, and those of their traits named in ``differing``."""
        traits = ", ".join(f"{name} {value}" for name, value in self.traits if name in differing)
        return f"frames {_frame_list(self.frame_numbers)}" + (f" ({traits})" if traits else "")


def is_enhanced(header: Dataset) -> bool:
    """Whether the image keeps its plane attributes in functional groups (an enhanced or legacy-converted image)."""
    return "PerFrameFunctionalGroupsSequence" in header or "SharedFunctionalGroupsSequence" in header


def frame_stacks(header: Dataset, name: str) -> list[FrameStack]:
    """The volumes the frames of ``header`` form, in the order of their first frames.

    Frames that share a position and nothing tells apart, or that lie on no
    regular grid, belong to no volume. ``name`` identifies the image in errors.

    Raises
    ------
    SourceSeriesError
        No Rows or Columns, a frame without a position, orientation or pixel spacing, or frames that form no volume.
    """
    if "Rows" not in header or "Columns" not in header:
        raise SourceSeriesError(f"{name}: the multi-frame image has no Rows or Columns.")
    groups: dict[tuple, list[int]] = defaultdict(list)
    frames = list(_frames(header, name))
    for index, frame in enumerate(frames):
        groups[_stack_key(header, index, frame)].append(index + 1)
    stacks = [
        stack for key, numbers in groups.items() if (stack := _regular_stack(header, frames, numbers, key)) is not None
    ]
    if not stacks:
        raise SourceSeriesError(f"{name}: the frames of the multi-frame image do not form a regularly spaced volume.")
    return sorted(stacks, key=lambda stack: min(stack.frame_numbers))


def stack_for_grid(stacks: Sequence[FrameStack], grid: hd.VolumeGeometry | None, name: str) -> FrameStack:
    """The one stack ``grid`` chooses: the stack on that grid, else the one that holds it.

    One stack is chosen whatever ``grid`` is (whether the segmentation fits
    it is checked where the labels are placed on it); ``grid`` None chooses
    among several stacks none. A grid held by a stack is a segmentation
    cropped to its segments, as Slicer writes a ``.seg.nrrd``.

    Raises
    ------
    SourceSeriesError
        No stack, or several, chosen by ``grid``: the message names each stack.
    """
    if len(stacks) == 1:
        return stacks[0]
    matching = [] if grid is None else [stack for stack in stacks if _same_grid(grid, stack.geometry)]
    if not matching and grid is not None:
        matching = [stack for stack in stacks if holds_grid(stack.geometry, grid)]
    if len(matching) == 1:
        return matching[0]
    named = matching or list(stacks)
    choices = "; ".join(stack.describe(_differing_traits(named)) for stack in named)
    if grid is None:
        raise SourceSeriesError(
            f"{name}: the multi-frame image holds {len(named)} volumes ({choices}); give a file that holds one of them."
        )
    if not matching:
        raise SourceSeriesError(f"{name}: no volume of the multi-frame image has the segmentation's grid ({choices}).")
    raise SourceSeriesError(
        f"{name}: {len(named)} volumes of the multi-frame image have the segmentation's grid and nothing chooses "
        f"between them ({choices}); give a file that holds one of them."
    )


def header_for_highdicom(header: Dataset, frame_numbers: Sequence[int]) -> Dataset:
    """A copy of ``header`` with the frames ``frame_numbers`` (1-based, of one stack) only, as highdicom takes a source.

    highdicom reads Pixel Measures and Plane Orientation from the shared
    functional groups and Plane Position from each frame's own; here they are
    where it reads them. Frame k of the copy is the k-th of the frames in
    file order, ``sorted(frame_numbers)[k - 1]``.
    """
    moved = ("PixelMeasuresSequence", "PlaneOrientationSequence", "PlanePositionSequence")
    shared = _without(header.get("SharedFunctionalGroupsSequence", [Dataset()])[0], moved)
    first = frame_numbers[0] - 1
    # Copies: highdicom completes the Pixel Measures it is given (Spacing Between Slices).
    shared.PixelMeasuresSequence = copy.deepcopy(_macro(header, first, "PixelMeasuresSequence"))
    shared.PlaneOrientationSequence = copy.deepcopy(_macro(header, first, "PlaneOrientationSequence"))
    per_frame = header.get("PerFrameFunctionalGroupsSequence", [])
    items = []
    for number in sorted(frame_numbers):
        item = _without(per_frame[number - 1] if per_frame else Dataset(), moved)
        item.PlanePositionSequence = copy.deepcopy(_macro(header, number - 1, "PlanePositionSequence"))
        items.append(item)
    arranged = _without(header, ("NumberOfFrames", "SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"))
    arranged.NumberOfFrames = len(items)
    arranged.SharedFunctionalGroupsSequence = [shared]
    arranged.PerFrameFunctionalGroupsSequence = items
    return arranged


def _without(dataset: Dataset, keywords: Sequence[str]) -> Dataset:
    """A new dataset holding ``dataset``'s elements (not copies of them) but those of ``keywords``.

    Setting an attribute the new dataset lacks adds an element of its own;
    ``dataset`` is never changed.
    """
    kept = Dataset()
    for element in dataset:
        if element.keyword not in keywords:
            kept.add(element)
    if hasattr(dataset, "file_meta"):
        kept.file_meta = dataset.file_meta
    return kept


def _frames(header: Dataset, name: str) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each frame's (position, orientation, pixel spacing), from its own functional groups or the shared ones."""
    for index in range(int(header.get("NumberOfFrames", 1))):
        values = []
        for macro, keyword in PLANE_ATTRIBUTES:
            try:
                values.append(np.array(_macro(header, index, macro)[0][keyword].value, dtype=float))
            except (KeyError, IndexError, TypeError, ValueError) as error:
                raise SourceSeriesError(
                    f"{name}: frame {index + 1} has no {keyword} in its own or the shared {macro}."
                ) from error
        yield values[0], values[1], values[2]


def _macro(header: Dataset, index: int, keyword: str) -> Sequence[Dataset]:
    """A functional group macro of frame ``index`` (0-based): the frame's own, else the shared one."""
    per_frame = header.get("PerFrameFunctionalGroupsSequence", [])
    if index < len(per_frame) and keyword in per_frame[index]:
        return per_frame[index][keyword].value
    shared = header.get("SharedFunctionalGroupsSequence", [])
    if shared and keyword in shared[0]:
        return shared[0][keyword].value
    raise KeyError(keyword)


def _stack_key(header: Dataset, index: int, frame: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[tuple[str, str], ...]:
    """What frame ``index`` (0-based) shares with the other frames of its volume: (name, value) pairs."""
    _, orientation, spacing = frame
    key = [
        ("orientation", str(np.round(orientation, DECIMALS).tolist())),
        ("pixel spacing", str(np.round(spacing, DECIMALS).tolist())),
    ]
    content = _optional_macro(header, index, "FrameContentSequence")
    values = content.get("DimensionIndexValues", []) if content is not None else []
    values = [values] if isinstance(values, int) else list(values)
    dimensions = header.get("DimensionIndexSequence", [])
    pointers = {Tag(dimension.DimensionIndexPointer) for dimension in dimensions}
    for dimension, value in zip(dimensions, values, strict=False):
        pointer = Tag(dimension.DimensionIndexPointer)
        if pointer not in SPATIAL_DIMENSIONS:
            label = dimension.get("DimensionDescriptionLabel") or keyword_for_tag(pointer) or str(pointer)
            key.append((str(label), f"index {value}"))
    for sequence, keyword in DISTINGUISHING_ATTRIBUTES:
        item = _optional_macro(header, index, sequence)
        if item is not None and keyword in item and Tag(keyword) not in pointers:
            value = item[keyword].value
            key.append((keyword, "\\".join(str(v) for v in value) if isinstance(value, list | MultiValue) else str(value)))
    return tuple(key)


def _optional_macro(header: Dataset, index: int, keyword: str) -> Dataset | None:
    """The first item of a functional group macro of frame ``index``, or None when the frame has none."""
    try:
        items = _macro(header, index, keyword)
    except KeyError:
        return None
    return items[0] if items else None


def _regular_stack(
    header: Dataset,
    frames: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
    numbers: list[int],
    traits: tuple[tuple[str, str], ...],
) -> FrameStack | None:
    """The volume of the frames ``numbers`` (1-based), or None when they lie on no regular grid."""
    positions = [frames[n - 1][0].tolist() for n in numbers]
    orientation, pixel_spacing = frames[numbers[0] - 1][1:]
    spacing, indices = hd.spatial.get_volume_positions(positions, orientation.tolist())
    if spacing is None:
        return None
    order = sorted(range(len(numbers)), key=lambda i: indices[i])
    if len(numbers) == 1:
        measures = _macro(header, numbers[0] - 1, "PixelMeasuresSequence")[0]
        spacing = float(measures.get("SpacingBetweenSlices") or measures.get("SliceThickness") or 1.0)
    geometry = hd.VolumeGeometry.from_attributes(
        image_position=positions[order[0]],
        image_orientation=orientation.tolist(),
        rows=int(header.Rows),
        columns=int(header.Columns),
        pixel_spacing=pixel_spacing.tolist(),
        spacing_between_slices=spacing,
        number_of_frames=len(numbers),
        coordinate_system="PATIENT",
        frame_of_reference_uid=header.get("FrameOfReferenceUID"),
    )
    return FrameStack(tuple(numbers[i] for i in order), geometry, traits)


def _same_grid(grid: hd.VolumeGeometry, reference: hd.VolumeGeometry) -> bool:
    try:
        check_same_voxel_grid(grid, reference, "The grid")
    except GeometryMismatchError:
        return False
    return True


def _differing_traits(stacks: Sequence[FrameStack]) -> list[str]:
    """The names of the traits whose values are not the same in every stack."""
    values: dict[str, set[str]] = defaultdict(set)
    for stack in stacks:
        for name, value in stack.traits:
            values[name].add(value)
    return [name for name, seen in values.items() if len(seen) > 1]


def _frame_list(numbers: Sequence[int]) -> str:
    ordered = sorted(numbers)
    if len(ordered) > 1 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    if len(ordered) <= FRAMES_NAMED:
        return ", ".join(str(n) for n in ordered)
    return ", ".join(str(n) for n in ordered[:FRAMES_NAMED - 1]) + f", ... {ordered[-1]} ({len(ordered)} frames)"
