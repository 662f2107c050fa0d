"""Where the frames of a SEG lie: their plane positions, the grid they form, and their place on a target grid.

Frames are placed by their Image Position (Patient), never by their order,
so frames omitted for empty slices, frames stored in any order and frames of
many segments at the same position all land where they belong. A frame that
falls between slices or voxels of the target grid is an error: nothing is
silently shifted, with one exception. A frame that names its source image
(Derivation Image, Source Image Sequence) among the reference series' images
goes on that image's slice when it lies within :data:`SOURCE_IMAGE_TOLERANCE`
of it: writers that compute positions again leave them a little off the
images they name, and the name says which slice is meant.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.multival import MultiValue

from ...errors import GeometryMismatchError, SegFileError, cause, quoted, shown
from ..reading.functional_groups import FunctionalGroups
from .grids import DIRECTION_TOLERANCE, INDEX_TOLERANCE, SPACING_TOLERANCE

logger = logging.getLogger(__name__)

MAX_GRID_SLICES = 65536
"""A SEG whose frames would need a grid of more slices than this is refused rather than allocated."""
SOURCE_IMAGE_TOLERANCE = 0.25
"""Largest distance, in slice spacings, of a frame from the source image it names, for it to go on that image's slice.

Iowa2DICOM's PET SEGs, for example, place their frames 2 % of a slice from
the images each frame names. Below half a slice a frame cannot be taken for
its neighbour; a quarter keeps well clear of that. Frames that name no image
of the reference are held to :data:`~.grids.INDEX_TOLERANCE`.
"""
SHOWN_FRAMES = 10
"""Frame numbers named in an error at most."""


@dataclass(frozen=True)
class FrameGeometry:
    """The plane of every frame: positions, and the orientation and pixel spacing they all share."""

    positions: np.ndarray  # (frames, 3) Image Position (Patient) of each frame, LPS mm
    orientation: np.ndarray  # (6,) shared Image Orientation (Patient)
    pixel_spacing: np.ndarray  # (2,) row spacing, column spacing
    spacing_between_slices: float | None  # as the SEG declares it (Pixel Measures), if it does


def frame_geometry(dataset: Dataset, path: Path) -> FrameGeometry:
    """Read every frame's plane from its functional groups, its own or the shared ones."""
    groups = FunctionalGroups(dataset, path)

    def every_frame(sequence: str, keyword: str) -> np.ndarray:
        shared = groups.shared_item(sequence)
        if shared is not None and keyword in shared:  # read once, not once per frame
            return np.array([_decimal_values(shared, keyword)] * groups.number_of_frames)
        values = []
        for index in range(groups.number_of_frames):
            item = groups.required_item(index, sequence)
            if keyword not in item:
                raise SegFileError(f"{path}: frame {index + 1} has no {keyword} in its {sequence}.")
            values.append(_decimal_values(item, keyword))
        return np.array(values)

    try:
        positions = every_frame("PlanePositionSequence", "ImagePositionPatient")
        orientations = every_frame("PlaneOrientationSequence", "ImageOrientationPatient")
        spacings = every_frame("PixelMeasuresSequence", "PixelSpacing")
    except (ValueError, TypeError) as error:
        raise SegFileError(f"{path}: a frame's position, orientation or pixel spacing is malformed ({cause(error)}).") from error
    if positions.shape != (groups.number_of_frames, 3) or orientations.shape[1:] != (6,) or spacings.shape[1:] != (2,):
        raise SegFileError(f"{path}: frame positions, orientations or pixel spacings have the wrong number of values.")
    if not (np.isfinite(positions).all() and np.isfinite(orientations).all() and (spacings > 0).all()):
        raise SegFileError(f"{path}: a frame's position, orientation or pixel spacing is not a finite, positive value.")
    _check_direction_cosines(orientations[0], path)
    if np.ptp(orientations, axis=0).max() > DIRECTION_TOLERANCE or np.ptp(spacings, axis=0).max() > SPACING_TOLERANCE:
        raise GeometryMismatchError(f"{path}: frames differ in orientation or pixel spacing; they do not form a volume.")
    between = (groups.item(0, "PixelMeasuresSequence") or Dataset()).get("SpacingBetweenSlices")
    return FrameGeometry(
        positions=positions,
        orientation=orientations[0],
        pixel_spacing=spacings[0],
        spacing_between_slices=_positive_or_none(between, path),
    )


def _check_direction_cosines(orientation: np.ndarray, path: Path) -> None:
    """Image Orientation (Patient) must give two orthogonal unit vectors, or no plane is defined."""
    row, column = orientation[:3], orientation[3:]
    lengths = np.array([np.linalg.norm(row), np.linalg.norm(column)])
    if np.abs(lengths - 1).max() > DIRECTION_TOLERANCE or abs(float(row @ column)) > DIRECTION_TOLERANCE:
        raise SegFileError(
            f"{path}: ImageOrientationPatient (0020,0037) {np.round(orientation, 6).tolist()} is not two orthogonal "
            "unit vectors, so the frames' planes are undefined."
        )


def _positive_or_none(value: object, path: Path) -> float | None:
    """A declared SpacingBetweenSlices, or None where it is absent, malformed or not positive (it is only a hint)."""
    try:
        spacing = float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        logger.warning("%s: SpacingBetweenSlices %s is not a number; the slice spacing is taken from the frames",
                       path, quoted(value))
        return None
    if spacing is not None and not math.isfinite(spacing):
        raise SegFileError(f"{path}: SpacingBetweenSlices (0018,0088) is {quoted(value)}, not a finite number.")
    return spacing if spacing is not None and spacing > 0 else None


def _decimal_values(dataset: Dataset, keyword: str) -> list[float]:
    """The numbers of a Decimal String attribute, read from its text while pydicom has not converted it.

    pydicom turns every value into a validated DSfloat, which costs a third
    of the time spent on the thousands of per-frame positions of a large SEG;
    the element's text is read as floats instead.
    """
    value = dataset.get_item(keyword).value
    if isinstance(value, bytes):
        return [float(text) for text in value.decode("ascii").split("\\")]
    return [float(number) for number in (value if isinstance(value, (list, tuple, MultiValue)) else [value])]


def own_grid(dataset: Dataset, frames: FrameGeometry, path: Path) -> hd.VolumeGeometry:
    """The regular grid the SEG's frames lie on, when no reference series is given (see :func:`regular_grid`)."""
    return regular_grid(frames, int(dataset.Rows), int(dataset.Columns), dataset.get("FrameOfReferenceUID"), str(path))


def grid_choosing_the_volume(dataset: Dataset, path: Path) -> hd.VolumeGeometry | None:
    """The grid of the SEG's own frames, which chooses among the volumes of a multi-frame reference; None if there is none.

    A reference read from its files may be one enhanced image holding several
    volumes (echoes, image types, stacks): the one the SEG was drawn on holds
    the SEG's frames. Frames on no regular grid choose nothing; reading the SEG
    onto the reference says what is wrong with them.
    """
    try:
        return own_grid(dataset, frame_geometry(dataset, path), path)
    except GeometryMismatchError:
        return None


def regular_grid(
    frames: FrameGeometry, rows: int, columns: int, frame_of_reference_uid: str | None, name: str
) -> hd.VolumeGeometry:
    """The regular grid through planes at ``frames.positions``.

    Slices run along column direction x row direction, so that the (slice,
    row, column) axes are right-handed, as highdicom makes its volumes.
    Planes with gaps between them (omitted empty slices, or a series with a
    gap in it) get the regular grid whose slice spacing divides every gap
    exactly: the declared SpacingBetweenSlices if it does, else the smallest
    gap. Planes that fit no such grid are reported, not shifted. ``name``
    says whose planes they are in errors.
    """
    along_row, along_column = frames.orientation[:3], frames.orientation[3:]
    normal = np.cross(along_column, along_row)
    distances = frames.positions @ normal
    in_plane = frames.positions - np.outer(distances, normal)
    if np.abs(in_plane - in_plane[0]).max() > INDEX_TOLERANCE * frames.pixel_spacing.min():
        raise GeometryMismatchError(f"{name}: frames are shifted within their planes; they do not form one volume.")
    slices = _unique_within(np.sort(distances), INDEX_TOLERANCE * frames.pixel_spacing.min())
    spacing = _common_spacing(slices, frames.spacing_between_slices, name)
    count = int(round((slices[-1] - slices[0]) / spacing)) + 1
    if count > MAX_GRID_SLICES:
        raise GeometryMismatchError(f"{name}: the frames span {count} slices of {spacing:g} mm; refusing so large a grid.")
    if count > len(slices):
        logger.info("%s: frames lie on %d of the %d slices of a %g mm grid", name, len(slices), count, spacing)
    affine = np.eye(4)
    affine[:3, 0] = normal * spacing
    affine[:3, 1] = along_column * frames.pixel_spacing[0]
    affine[:3, 2] = along_row * frames.pixel_spacing[1]
    affine[:3, 3] = in_plane[0] + slices[0] * normal
    return hd.VolumeGeometry(affine, (count, rows, columns), "PATIENT", frame_of_reference_uid=frame_of_reference_uid)


def _unique_within(sorted_values: np.ndarray, tolerance: float) -> np.ndarray:
    keep = np.concatenate([[True], np.diff(sorted_values) > tolerance])
    return sorted_values[keep]


def _common_spacing(slices: np.ndarray, declared: float | None, name: str) -> float:
    """A slice spacing of which every offset from the first slice is a whole multiple."""
    if len(slices) == 1:
        return declared or 1.0
    offsets = slices - slices[0]
    for spacing in (declared, float(np.diff(slices).min())):
        if spacing and np.abs(offsets / spacing - np.round(offsets / spacing)).max() <= INDEX_TOLERANCE:
            return spacing
    raise GeometryMismatchError(
        f"{name}: the frames' slice positions {np.round(slices, 3).tolist()} share no common spacing, so they "
        "cannot be placed on a regular grid without shifting some of them."
    )


def check_frame_of_reference(dataset: Dataset, grid: hd.VolumeGeometry, path: Path) -> None:
    """The SEG and the target grid must be in the same frame of reference (when both say)."""
    seg_uid, grid_uid = dataset.get("FrameOfReferenceUID"), grid.frame_of_reference_uid
    if seg_uid and grid_uid and seg_uid != grid_uid:
        raise GeometryMismatchError(
            f"{path}: the SEG is in frame of reference {shown(seg_uid)}, the reference series in {shown(grid_uid)}."
        )


def check_in_plane_geometry(frames: FrameGeometry, grid: hd.VolumeGeometry, path: Path) -> None:
    """Frames must be parallel to the grid's planes, rows along rows, with the grid's pixel spacing."""
    affine = np.asarray(grid.affine, dtype=float)
    along_row, along_column = affine[:3, 2], affine[:3, 1]  # column index step, row index step
    expected = np.concatenate([along_row / np.linalg.norm(along_row), along_column / np.linalg.norm(along_column)])
    if np.max(np.abs(frames.orientation - expected)) > DIRECTION_TOLERANCE:
        raise GeometryMismatchError(
            f"{path}: frame orientation {np.round(frames.orientation, 6).tolist()} differs from the reference "
            f"grid's {np.round(expected, 6).tolist()}."
        )
    grid_spacing = np.array([np.linalg.norm(along_column), np.linalg.norm(along_row)])
    if np.max(np.abs(frames.pixel_spacing - grid_spacing) / grid_spacing) > SPACING_TOLERANCE:
        raise GeometryMismatchError(
            f"{path}: pixel spacing {frames.pixel_spacing.tolist()} differs from the reference grid's "
            f"{np.round(grid_spacing, 6).tolist()}."
        )


def frames_on_grid(
    dataset: Dataset, path: Path, reference: hd.VolumeGeometry | None, image_positions: Mapping[str, Sequence[float]] | None
) -> tuple[hd.VolumeGeometry, np.ndarray]:
    """The grid to read the SEG onto (``reference``, else its own) and each frame's (slice, row, column) on it.

    ``image_positions``: Image Position (Patient) of the reference series'
    single-frame images by SOP Instance UID; frames that name one of them as
    their source are placed on its slice (see :data:`SOURCE_IMAGE_TOLERANCE`).
    """
    frames = frame_geometry(dataset, path)
    grid = reference if reference is not None else own_grid(dataset, frames, path)
    check_frame_of_reference(dataset, grid, path)
    named = _named_slices(dataset, path, grid, image_positions) if reference is not None and image_positions else None
    return grid, frame_indices(frames, grid, int(dataset.Rows), int(dataset.Columns), path, named)


def _named_slices(
    dataset: Dataset, path: Path, grid: hd.VolumeGeometry, image_positions: Mapping[str, Sequence[float]]
) -> list[set[int]]:
    """For every frame, the slices of ``grid`` that the source images it names lie on (empty when it names none there)."""
    uids = list(image_positions)
    exact = grid.map_reference_to_indices(np.array([image_positions[uid] for uid in uids], dtype=float), round_output=False)
    on_slice = np.abs(exact[:, 0] - np.round(exact[:, 0])) <= INDEX_TOLERANCE
    slice_of_image = {uid: int(round(index)) for uid, index, on in zip(uids, exact[:, 0], on_slice, strict=True) if on}
    groups = FunctionalGroups(dataset, path)
    named = []
    for index in range(groups.number_of_frames):
        derivation = groups.item(index, "DerivationImageSequence")
        sources = (derivation.get("SourceImageSequence") or []) if derivation is not None else []
        found = (slice_of_image.get(str(source.get("ReferencedSOPInstanceUID", ""))) for source in sources)
        named.append({slice_index for slice_index in found if slice_index is not None})
    return named


def frame_indices(
    frames: FrameGeometry,
    grid: hd.VolumeGeometry,
    rows: int,
    columns: int,
    path: Path,
    named_slices: Sequence[set[int]] | None = None,
) -> np.ndarray:
    """(slice, row, column) of every frame's first pixel on ``grid``, each frame checked to fit.

    A frame fits when it lies on a slice and a voxel of the grid, or, off the
    slices, where ``named_slices`` gives the slices of the source images it
    names, within :data:`SOURCE_IMAGE_TOLERANCE` of one of them: it goes on
    that slice, and one warning gives the largest such offset. Every frame
    that fits nowhere is named in one error.
    """
    check_in_plane_geometry(frames, grid, path)
    exact = grid.map_reference_to_indices(frames.positions, round_output=False)
    rounded = np.round(exact).astype(int)
    fits = np.abs(exact - rounded).max(axis=1) <= INDEX_TOLERANCE
    offsets = np.zeros(len(exact))
    for index, slices in enumerate(named_slices or []):
        if fits[index] or not slices or np.abs(exact[index, 1:] - rounded[index, 1:]).max() > INDEX_TOLERANCE:
            continue  # on a slice already (its position decides), or naming no slice, or between voxels
        nearest = min(slices, key=lambda slice_index: abs(exact[index, 0] - slice_index))
        offsets[index] = abs(exact[index, 0] - nearest)
        fits[index] = offsets[index] <= SOURCE_IMAGE_TOLERANCE
        rounded[index, 0] = nearest
    if not fits.all():
        misplaced = np.flatnonzero(~fits)
        shown = ", ".join(str(index + 1) for index in misplaced[:SHOWN_FRAMES])
        shown += " ..." if len(misplaced) > SHOWN_FRAMES else ""
        where = np.round(frames.positions[misplaced[0]], 3).tolist()
        raise GeometryMismatchError(
            f"{path}: {len(misplaced)} frame(s) lie between the slices or voxels of the grid"
            f"{', or away from the source images they name' if named_slices else ''}: frame(s) {shown} "
            f"(frame {misplaced[0] + 1} at {where})."
        )
    shifted = offsets > INDEX_TOLERANCE
    if shifted.any():
        spacing = float(np.linalg.norm(np.asarray(grid.affine)[:3, 0]))
        logger.warning(
            "%s: %d frame(s) lie up to %.3g mm (%.1f %% of a slice) from the source images they name; "
            "each is placed on its image's slice",
            path, int(shifted.sum()), offsets.max() * spacing, 100 * offsets.max(),
        )
    for frame_number, (slice_index, row, column) in enumerate(rounded, start=1):
        if (
            not 0 <= slice_index < grid.spatial_shape[0]
            or row < 0 or row + rows > grid.spatial_shape[1]
            or column < 0 or column + columns > grid.spatial_shape[2]
        ):
            where = np.round(frames.positions[frame_number - 1], 3).tolist()
            raise GeometryMismatchError(
                f"{path}: frame {frame_number} at {where} falls outside the grid of shape {list(grid.spatial_shape)}."
            )
    return rounded
