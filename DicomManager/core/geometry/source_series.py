"""Source image series: find their files, read their headers, work out their grid.

A SEG references the images it was drawn on and, when it is loaded, takes
their grid as its own. Only headers are read here (``stop_before_pixels``):
highdicom needs the source metadata, never the source pixels.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from pydicom import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID

from ...errors import GeometryMismatchError, SourceSeriesError
from ..segments.sop_classes import SEGMENTATION_SOP_CLASS_UIDS
from .frame_geometry import FrameGeometry, regular_grid
from .frame_stacks import frame_stacks, is_enhanced, stack_for_grid

logger = logging.getLogger(__name__)

VOLUME_ATTRIBUTES = ("Rows", "Columns", "PixelSpacing", "ImageOrientationPatient", "ImagePositionPatient")
"""What each single-frame image of a volume has (Image Pixel and Image Plane modules)."""


@dataclass(frozen=True)
class SourceSeries:
    """The headers of one image series, in volume order, with their files and grid.

    The series is single-frame images, one per slice, or one multi-frame
    image, whose frames ``frame_numbers`` (1-based, in slice order) are the
    volume's slices.
    """

    datasets: list[Dataset]
    paths: list[Path]
    geometry: hd.VolumeGeometry
    frame_numbers: tuple[int, ...] = ()

    @property
    def series_instance_uid(self) -> str:
        return str(self.datasets[0].SeriesInstanceUID)

    @property
    def sop_instance_uids(self) -> list[str]:
        return [str(ds.SOPInstanceUID) for ds in self.datasets]


def read_header(path: Path) -> Dataset:
    """Read a DICOM file without its pixel data, or raise :class:`SourceSeriesError`."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise SourceSeriesError(f"{path}: cannot read it as DICOM ({error}).") from error
    # An empty SpecificCharacterSet means the default repertoire, as if it
    # were absent; highdicom 0.28 refuses to copy the empty value.
    if "SpecificCharacterSet" in header and not header.SpecificCharacterSet:
        del header.SpecificCharacterSet
    return header


def read_source_series(paths: Iterable[Path], grid: hd.VolumeGeometry | None = None) -> SourceSeries:
    """Read the headers of one series' files (no pixels) and order them along the slice axis.

    ``grid``, the grid of the segmentation to be written over the series,
    chooses among the volumes of a multi-frame image that holds several
    (echoes, image types, time points, stacks).

    Raises
    ------
    SourceSeriesError
        No files, unreadable files, several series, or images that do not form a volume.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise SourceSeriesError("No source image files were given.")
    return _source_series(paths, [read_header(path) for path in paths], grid)


def _source_series(paths: list[Path], datasets: list[Dataset], grid: hd.VolumeGeometry | None = None) -> SourceSeries:
    series_uids = {str(ds.get("SeriesInstanceUID", "")) for ds in datasets}
    if len(series_uids) != 1:
        raise SourceSeriesError(
            f"The source files belong to {len(series_uids)} series ({', '.join(sorted(series_uids))}); "
            "give the files of one series."
        )
    if len(datasets) == 1 and is_enhanced(datasets[0]):
        stack = stack_for_grid(frame_stacks(datasets[0], str(paths[0])), grid, str(paths[0]))
        return SourceSeries(datasets, paths, stack.geometry, stack.frame_numbers)
    geometry, order = series_geometry(datasets, name=str(paths[0].parent))
    return SourceSeries(
        datasets=[datasets[i] for i in order],
        paths=[paths[i] for i in order],
        geometry=geometry,
    )


def read_source_series_folder(folder: Path, grid: hd.VolumeGeometry | None = None) -> SourceSeries:
    """Read the one image series in ``folder`` (searched recursively), each file's header once.

    ``grid`` as for :func:`read_source_series`.

    Raises
    ------
    SourceSeriesError
        As :func:`read_source_series`, or when the folder holds no series or several.
    """
    return read_series_headers(folder).series(grid)


@dataclass(frozen=True)
class SeriesHeaders:
    """The files and headers of the one image series in a folder, read before the grid that chooses its volume is known.

    A caller reads them while it reads the segmentation, then takes the
    series over the segmentation's grid with :meth:`series`.
    """

    folder: Path
    paths: list[Path]
    headers: list[Dataset]

    @property
    def is_one_multiframe_image(self) -> bool:
        """Whether the series is one enhanced image, whose volumes (echoes, image types, stacks) a grid chooses among."""
        return len(self.headers) == 1 and is_enhanced(self.headers[0])

    def series(self, grid: hd.VolumeGeometry | None = None) -> SourceSeries:
        """The series in volume order; ``grid`` chooses among a multi-frame image's volumes as for :func:`read_source_series`."""
        return _source_series(self.paths, self.headers, grid)

    def reference(self, grid: hd.VolumeGeometry | None = None) -> ReferenceGrid:
        """The grid to load a SEG onto, as :func:`reference_of_folder` gives it."""
        geometry = _reference_geometry(self.folder, self.paths, self.headers, grid)  # checks single-frame images' positions
        return ReferenceGrid(geometry, image_positions(self.headers))


def read_series_headers(folder: Path) -> SeriesHeaders:
    """The headers (no pixels) of the one image series in ``folder``, searched recursively; non-image objects passed over.

    Raises
    ------
    SourceSeriesError
        The folder holds no image series or several.
    """
    folder = Path(folder)
    return SeriesHeaders(folder, *_one_series_headers(folder))


@dataclass(frozen=True)
class ReferenceGrid:
    """A grid to load a SEG onto, and where the series' single-frame images lie, by SOP Instance UID."""

    geometry: hd.VolumeGeometry
    image_positions: dict[str, tuple[float, float, float]]


def reference_of_folder(folder: Path, grid: hd.VolumeGeometry | None = None) -> ReferenceGrid:
    """The grid to load a SEG onto from the image series in ``folder``, with its images' positions.

    A regularly spaced series gives its own grid. Single-frame images with
    gaps between them (a series with slices left out) give the regular grid
    through every image, whose slice spacing divides each gap, as dcmqi builds
    it: the images' slices are among its slices. The positions let frames that
    name their source image go on its slice (see :func:`..reading.seg_reader.read_seg`).
    ``grid``, the SEG's own, chooses among the volumes of a multi-frame image
    as for :func:`read_source_series`.
    """
    return read_series_headers(folder).reference(grid)


def image_positions(headers: Iterable[Dataset]) -> dict[str, tuple[float, float, float]]:
    """Each single-frame image's position by SOP Instance UID: where a SEG frame that names the image belongs."""
    return {
        str(header.SOPInstanceUID): tuple(float(value) for value in header.ImagePositionPatient)
        for header in headers
        if int(header.get("NumberOfFrames", 1) or 1) == 1 and "SOPInstanceUID" in header and "ImagePositionPatient" in header
    }


def _reference_geometry(
    folder: Path, paths: list[Path], headers: list[Dataset], grid: hd.VolumeGeometry | None
) -> hd.VolumeGeometry:
    try:
        return _source_series(paths, headers, grid).geometry
    except SourceSeriesError as irregular:
        if any(is_enhanced(header) for header in headers):
            raise  # frames of a multi-frame image have no gaps to fill
        try:
            frames = FrameGeometry(
                positions=np.array([[float(v) for v in ds.ImagePositionPatient] for ds in headers]),
                orientation=np.array([float(v) for v in headers[0].ImageOrientationPatient]),
                pixel_spacing=np.array([float(v) for v in headers[0].PixelSpacing]),
                spacing_between_slices=None,
            )
            grid = regular_grid(
                frames, int(headers[0].Rows), int(headers[0].Columns), headers[0].get("FrameOfReferenceUID"), str(folder)
            )
        except (AttributeError, TypeError, ValueError, GeometryMismatchError) as error:
            raise SourceSeriesError(f"{irregular} Nor do they lie on one regular grid: {error}") from error
    logger.info("%s: the series has gaps; the SEG is placed on the regular grid through its images", folder)
    return grid


def _one_series_headers(folder: Path) -> tuple[list[Path], list[Dataset]]:
    """The files and headers of the one image series in ``folder``."""
    if not folder.is_dir():
        raise SourceSeriesError(f"{folder}: not a folder.")
    headers: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            header = read_header(path)
        except SourceSeriesError:
            logger.debug("Passing over %s: not a DICOM file", path)
            continue
        if not _is_source_image(header):
            logger.debug("Passing over %s: a %s, not an image a segmentation is drawn on", path, _sop_class_name(header))
            continue
        headers[str(header.SeriesInstanceUID)].append((path, header))
    if not headers:
        raise SourceSeriesError(f"{folder}: no DICOM image series found.")
    if len(headers) > 1:
        raise SourceSeriesError(
            f"{folder}: holds {len(headers)} image series ({', '.join(sorted(headers))}); "
            "point to a folder with one series."
        )
    (pairs,) = headers.values()
    return [path for path, _ in pairs], [header for _, header in pairs]


def _is_source_image(header: Dataset) -> bool:
    """Whether ``header`` is an image with a place in patient space: not a SEG, SR, KO, PR or other non-image object."""
    if "SeriesInstanceUID" not in header or header.get("SOPClassUID") in SEGMENTATION_SOP_CLASS_UIDS:
        return False
    if "Rows" not in header or "Columns" not in header:
        return False
    return is_enhanced(header) or ("ImagePositionPatient" in header and "ImageOrientationPatient" in header)


def _sop_class_name(header: Dataset) -> str:
    uid = header.get("SOPClassUID")
    return f"{uid.name} object" if isinstance(uid, UID) and uid.name != uid else f"object of SOP Class {uid or 'unknown'}"


def series_geometry(datasets: Sequence[Dataset], name: str) -> tuple[hd.VolumeGeometry, list[int]]:
    """The grid of a series and the order of ``datasets`` along its slice axis.

    The images are single-frame images that form a regularly spaced stack
    (one multi-frame image is :func:`.frame_stacks.frame_stacks`' to read).
    ``name`` identifies the series in errors.
    """
    if any(is_enhanced(ds) or int(ds.get("NumberOfFrames", 1)) > 1 for ds in datasets):
        raise SourceSeriesError(
            f"{name}: holds several multi-frame images; give one, or a series of single-frame images."
        )
    # highdicom's get_series_volume_positions would look each image's SOP
    # class up in the standard's tables; the positions and the shared
    # orientation are all it needs.
    for keyword in VOLUME_ATTRIBUTES:
        lacking = [ds for ds in datasets if keyword not in ds]
        if lacking:
            raise SourceSeriesError(
                f"{name}: {len(lacking)} of the {len(datasets)} images have no {keyword} "
                f"(first: SOP Instance {lacking[0].get('SOPInstanceUID', 'without a UID')}); they are not slices of a volume."
            )
    try:
        orientation = datasets[0].ImageOrientationPatient
        parallel = all(ds.ImageOrientationPatient == orientation for ds in datasets[1:])
        positions = [ds.ImagePositionPatient for ds in datasets]
        spacing, indices = hd.spatial.get_volume_positions(positions, orientation) if parallel else (None, None)
    except ValueError as error:
        raise SourceSeriesError(f"{name}: the images' positions and orientation do not form a volume ({error}).") from error
    if spacing is None:
        raise SourceSeriesError(
            f"{name}: the {len(datasets)} images are not a regularly spaced stack of parallel slices"
            f"{_where_the_stack_breaks(datasets, orientation) if parallel else _first_not_parallel(datasets, orientation)}."
        )
    order = sorted(range(len(datasets)), key=lambda i: indices[i])
    first = datasets[order[0]]
    if len(datasets) == 1:
        spacing = float(first.get("SpacingBetweenSlices") or first.get("SliceThickness") or 1.0)
    geometry = hd.VolumeGeometry.from_attributes(
        image_position=first.ImagePositionPatient,
        image_orientation=first.ImageOrientationPatient,
        rows=first.Rows,
        columns=first.Columns,
        pixel_spacing=first.PixelSpacing,
        spacing_between_slices=spacing,
        number_of_frames=len(datasets),
        coordinate_system="PATIENT",
        frame_of_reference_uid=first.get("FrameOfReferenceUID"),
    )
    return geometry, order


SAME_POSITION_MM = 1e-3
"""Slices closer than this along the stack's axis are at one position."""
SPACING_TOLERANCE = 0.01
"""A step between neighbouring slices longer than the shortest by more than this fraction breaks the stack."""


def _where_the_stack_breaks(datasets: Sequence[Dataset], orientation: Sequence[float]) -> str:
    """Which images are at one position, or between which there is a gap; empty when neither explains it."""
    row, column = np.array(orientation[:3], dtype=float), np.array(orientation[3:], dtype=float)
    normal = np.cross(row, column)
    try:
        along = [float(np.dot(normal, np.array(ds.ImagePositionPatient, dtype=float))) for ds in datasets]
    except (TypeError, ValueError):
        return ""
    order = sorted(range(len(datasets)), key=along.__getitem__)
    steps = np.diff([along[i] for i in order])
    same = [k for k, step in enumerate(steps) if step < SAME_POSITION_MM]
    if same:
        k = same[0]
        return (f": {_image_name(datasets[order[k]])} and {_image_name(datasets[order[k + 1]])} are both at "
                f"{_position(datasets[order[k]])}" + (f" ({len(same) - 1} more such pairs)" if len(same) > 1 else ""))
    usual = float(steps.min()) if len(steps) else 0.0  # a slice left out makes a step of two, never a shorter one
    uneven = [k for k, step in enumerate(steps) if step - usual > SPACING_TOLERANCE * usual]
    if not uneven:
        return ""
    k = uneven[0]
    return (f": {steps[k]:.6g} mm between {_image_name(datasets[order[k]])} at {_position(datasets[order[k]])} and "
            f"{_image_name(datasets[order[k + 1]])} at {_position(datasets[order[k + 1]])}, where the other slices are "
            f"{usual:.6g} mm apart" + (f" ({len(uneven) - 1} more uneven steps)" if len(uneven) > 1 else ""))


def _first_not_parallel(datasets: Sequence[Dataset], orientation: Sequence[float]) -> str:
    other = next(ds for ds in datasets if ds.ImageOrientationPatient != orientation)
    return (f": {_image_name(other)} has ImageOrientationPatient {list(map(float, other.ImageOrientationPatient))}, "
            f"{_image_name(datasets[0])} {list(map(float, orientation))}")


def _image_name(dataset: Dataset) -> str:
    """The image's file name, else its InstanceNumber."""
    filename = getattr(dataset, "filename", None)
    return Path(filename).name if isinstance(filename, str) and filename else f"image {dataset.get('InstanceNumber', '?')}"


def _position(dataset: Dataset) -> str:
    return "(" + ", ".join(f"{float(v):g}" for v in dataset.ImagePositionPatient) + ")"


def read_series_voxels(source: SourceSeries) -> hd.Volume:
    """The series' voxel values (modality rescale applied, as float32) on its grid."""
    try:
        datasets = [pydicom.dcmread(path) for path in source.paths]
        if source.frame_numbers:
            volume = _frames_as_volume(datasets[0], source)
        else:
            volume = hd.get_volume_from_series(datasets, dtype=np.float32)
    except (OSError, ValueError, RuntimeError, AttributeError) as error:
        raise SourceSeriesError(f"Series {source.series_instance_uid}: cannot read its voxels ({error}).") from error
    return volume.match_geometry(source.geometry)


def _frames_as_volume(dataset: Dataset, source: SourceSeries) -> hd.Volume:
    """The frames of a multi-frame source's volume, in slice order, with the modality or real-world transform applied.

    highdicom looks up each dimension of the Dimension Index in the standard's
    dictionary, which private attributes (Philips' (2005,106E)) are not in; the
    index is not needed to read frames by number.
    """
    if "DimensionIndexSequence" in dataset:
        del dataset.DimensionIndexSequence
    image = hd.Image.from_dataset(dataset, copy=False)
    frames = np.stack([image.get_frame(number, dtype=np.float32) for number in source.frame_numbers])
    return hd.Volume(frames, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)
