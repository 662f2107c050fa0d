"""A classic SEG written again without its source series: its own frames give the grid, its references go on as they are.

dcmqi's ``bin2labelsegimage`` converts a BINARY SEG by itself; so does
``convert`` when the source series is not in the tree. The SEG's frames
(their positions, orientation and pixel measures) give the grid
(:func:`~..geometry.frame_geometry.own_grid`: sparse frames are fine where
every gap is a whole number of slices). highdicom builds a SEG from source
image headers, so it is given stand-ins: one header per slice of that grid,
holding the SEG's patient, study and frame of reference, made up UIDs and
the slice's plane. Those UIDs never reach the file: the SEG written is then
given the references of the SEG read (:func:`refer_as_the_seg_did`): its
Referenced Series Sequence and Source Image Sequence, and on each frame the
Derivation Image Sequence of the frame read at the same position.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset
from pydicom.uid import CTImageStorage
from pydicom.valuerep import format_number_as_ds

from ...errors import GeometryMismatchError, SegFileError
from ..garbage_collection import garbage_collection_paused
from ..geometry.frame_geometry import frames_on_grid
from ..geometry.source_series import SourceSeries
from ..library_output import reading_output_at_debug
from ..reading.binary_reader import read_binary_seg_dataset
from ..reading.functional_groups import FunctionalGroups
from ..reading.header_reading import malformed_content_refused
from ..reading.seg_contents import SegContents
from ..reading.seg_header import check_decodable, is_tiled, read_seg_dataset
from ..segments.sop_classes import SegmentationType

STAND_IN_SOP_CLASS_UID = CTImageStorage
"""The stand-ins' class: a single-frame image in patient coordinates, so highdicom takes them as the slices of a volume."""

_NOT_FROM_THE_SOURCE = frozenset({
    "ImageType", "SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "ReferencedSeriesSequence", "SourceImageSequence",
    "Manufacturer", "ManufacturerModelName", "DeviceSerialNumber", "SoftwareVersions",
    "DimensionOrganizationSequence", "DimensionIndexSequence", "DimensionOrganizationType",
})
"""Header attributes before the Image Pixel group that are the SEG's own, not what it copied from its source images."""
_IMAGE_PIXEL_GROUP = 0x0028


@dataclass(frozen=True)
class ReferencedSource(SourceSeries):
    """Stand-in headers on a SEG's own grid, and the references of that SEG, which a SEG written over them carries.

    ``derivations`` holds, for each slice of ``geometry``, the Derivation
    Image Sequence items of the first frame read there that has any (none
    for a slice without frames, or whose frames name no source).
    """

    referenced_series: tuple[Dataset, ...] = ()
    source_images: tuple[Dataset, ...] | None = None
    derivations: tuple[tuple[Dataset, ...], ...] = ()


def read_seg_with_its_references(path: Path) -> tuple[SegContents, ReferencedSource]:
    """A BINARY or FRACTIONAL SEG read onto its own grid, and the stand-in source to write it again over.

    Raises
    ------
    SegFileError
        Not a classic SEG in patient coordinates, or broken (as :func:`~..reading.seg_reader.read_seg`).
    SegFileError, GeometryMismatchError
        Frames that do not give one regular grid (a frame without a position, frames shifted in their planes,
        slices at no common spacing): one line naming the file and why.
    """
    path = Path(path)
    with reading_output_at_debug(), malformed_content_refused(path), garbage_collection_paused():
        dataset = read_seg_dataset(path)
        check_decodable(dataset, path)
        if is_tiled(dataset) or dataset.SegmentationType == SegmentationType.LABELMAP:
            raise SegFileError(f"{path}: only a classic SEG of volume frames is converted without its source series.")
        try:
            grid, indices = frames_on_grid(dataset, path, None, None)
        except (GeometryMismatchError, SegFileError) as error:
            raise type(error)(f"{error} Without its source series the grid comes from the frames alone, "
                              "and these give none.") from error
        source = _referenced_source(dataset, path, grid, indices[:, 0])
        return read_binary_seg_dataset(dataset, path, grid), source


def refer_as_the_seg_did(seg: hd.seg.Segmentation, source: SourceSeries) -> None:
    """Give a SEG built over stand-ins the references of the SEG they stand in for (nothing for another source).

    The items are the SEG read's own, not copies: neither that SEG nor the one written changes them
    afterwards, and copying the thousands of items of a large SEG would cost a tenth of its conversion.
    """
    if not isinstance(source, ReferencedSource):
        return
    slice_of = {str(dataset.SOPInstanceUID): index for index, dataset in enumerate(source.datasets)}
    for frame in seg.PerFrameFunctionalGroupsSequence:
        stand_in = _first_source_named(frame)
        frame.DerivationImageSequence = list(source.derivations[slice_of[stand_in]] if stand_in else ())
    if source.referenced_series:
        seg.ReferencedSeriesSequence = list(source.referenced_series)
    elif "ReferencedSeriesSequence" in seg:
        del seg.ReferencedSeriesSequence
    if source.source_images is not None:
        seg.SourceImageSequence = list(source.source_images)
    elif "SourceImageSequence" in seg:
        del seg.SourceImageSequence


def _first_source_named(frame: Dataset) -> str | None:
    """The SOP Instance UID of the first source image a frame's Derivation Image Sequence names (a stand-in's)."""
    for derivation in frame.get("DerivationImageSequence") or []:
        for item in derivation.get("SourceImageSequence") or []:
            return str(item.ReferencedSOPInstanceUID)
    return None


def _referenced_source(dataset: Dataset, path: Path, grid: hd.VolumeGeometry, slice_of_frame: np.ndarray) -> ReferencedSource:
    """Stand-ins for the slices of ``grid``, with the SEG's references; ``slice_of_frame``: each frame's slice."""
    groups = FunctionalGroups(dataset, path)
    derivations: list[tuple[Dataset, ...]] = [()] * grid.spatial_shape[0]
    for index, slice_index in enumerate(slice_of_frame):
        if not derivations[slice_index]:
            derivations[slice_index] = _derivation_items(dataset, index)
    referenced_series = tuple(dataset.get("ReferencedSeriesSequence") or [])
    series_uid = str(referenced_series[0].get("SeriesInstanceUID", "")) if referenced_series else ""
    affine = np.asarray(grid.affine, dtype=float)
    template = _stand_in_template(dataset, series_uid or hd.UID(), groups, float(np.linalg.norm(affine[:3, 0])))
    stand_ins = [_stand_in(template, affine[:3, 3] + affine[:3, 0] * index) for index in range(grid.spatial_shape[0])]
    return ReferencedSource(
        datasets=stand_ins,
        paths=[],
        geometry=grid,
        referenced_series=referenced_series,
        source_images=tuple(dataset.SourceImageSequence) if "SourceImageSequence" in dataset else None,
        derivations=tuple(derivations),
    )


def _derivation_items(dataset: Dataset, index: int) -> tuple[Dataset, ...]:
    """The items of frame ``index``'s Derivation Image Sequence, its own or else the shared one."""
    for group in (dataset.PerFrameFunctionalGroupsSequence[index], *(dataset.get("SharedFunctionalGroupsSequence") or [])):
        if "DerivationImageSequence" in group:
            return tuple(group.DerivationImageSequence)
    return ()


def _stand_in_template(dataset: Dataset, series_uid: str, groups: FunctionalGroups, slice_spacing: float) -> Dataset:
    """What every stand-in holds: the SEG's header before its Image Pixel group, less its own attributes; the plane's measures.

    highdicom requires a slice thickness of single-frame sources: a SEG whose pixel measures lack it gets the slice spacing.
    """
    template = Dataset()
    for element in dataset:
        if element.tag.group >= _IMAGE_PIXEL_GROUP:
            break
        if element.keyword not in _NOT_FROM_THE_SOURCE:
            template.add(element)
    template.SOPClassUID = STAND_IN_SOP_CLASS_UID
    template.SeriesInstanceUID = series_uid
    template.Rows, template.Columns = int(dataset.Rows), int(dataset.Columns)
    measures = groups.item(0, "PixelMeasuresSequence") or Dataset()
    for keyword in ("PixelSpacing", "SliceThickness", "SpacingBetweenSlices"):
        if keyword in measures:
            setattr(template, keyword, measures[keyword].value)
    if "SliceThickness" not in template:
        template.SliceThickness = format_number_as_ds(slice_spacing)
    template.ImageOrientationPatient = groups.required_item(0, "PlaneOrientationSequence").ImageOrientationPatient
    return template


def _stand_in(template: Dataset, position: np.ndarray) -> Dataset:
    stand_in = Dataset(dict(template.items()))
    stand_in.SOPInstanceUID = hd.UID()
    stand_in.ImagePositionPatient = [format_number_as_ds(float(value)) for value in position]
    return stand_in
