"""What a SEG file holds, as every reader returns it, and the parts of a SEG dataset every reader takes from it.

The LABELMAP reader (:mod:`.labelmap_reader`) and the BINARY/FRACTIONAL
reader (:mod:`.binary_reader`) both return :class:`SegContents`; their
frames are decoded by :mod:`.frames`.
"""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import highdicom as hd
from pydicom import Dataset
from pydicom.errors import BytesLengthException

from ...errors import GeometryMismatchError, SegFileError, cause, shown
from ..geometry.grids import match_to_grid
from ..segments.layered_segmentation import LayeredSegmentation
from ..segments.segment_metadata import SegmentMetadata, segment_metadata_from_dataset
from ..segments.sop_classes import SegmentationType
from ..writing.export_options import SeriesAttributes


@dataclass(frozen=True)
class SegInfo:
    """Identifiers and series attributes of a SEG, as a browser or report shows them.

    The source images it references one by one are not here: listing them
    parses an item per image
    that loading never uses; :func:`.seg_references.read_seg_references`
    lists them.
    """

    path: Path
    sop_instance_uid: str
    series_instance_uid: str
    study_instance_uid: str
    series_description: str
    series_number: int | None
    content_label: str
    content_description: str
    content_creator_name: str
    transfer_syntax_uid: str
    bits_allocated: int
    number_of_frames: int
    pixel_padding_value: int | None
    photometric_interpretation: str
    frame_of_reference_uid: str | None
    referenced_series_uid: str | None
    segmentation_type: SegmentationType = SegmentationType.LABELMAP
    clinical_trial_series_id: str = ""
    clinical_trial_time_point_id: str = ""
    clinical_trial_coordinating_center_name: str = ""

    def series_attributes(self) -> SeriesAttributes:
        """The content and clinical trial attributes to write again when this SEG is converted or re-exported."""
        return SeriesAttributes(
            series_description=self.series_description or None,
            series_number=self.series_number,
            content_label=self.content_label or None,
            content_description=self.content_description or None,
            content_creator_name=self.content_creator_name or None,
            clinical_trial_series_id=self.clinical_trial_series_id or None,
            clinical_trial_time_point_id=self.clinical_trial_time_point_id or None,
            clinical_trial_coordinating_center_name=self.clinical_trial_coordinating_center_name or None,
        )


@dataclass
class SegContents(LayeredSegmentation):
    """What a SEG file holds, read as Slicer holds segmentations: label layers on one grid, and more.

    A LABELMAP (or a BINARY SEG without overlaps) gives one layer, so
    :attr:`labels` is its label volume. Besides the layers: ``info`` (the
    SEG's identity and series attributes), ``background`` (a described
    segment 0, as dcmqi writes in LABELMAPs) and ``notes`` (what could not be
    kept exactly, for example fractional values thresholded at 0.5).
    """

    info: SegInfo
    background: SegmentMetadata | None = None
    notes: list[str] = field(default_factory=list)


def placed_on_grid(contents: SegContents, grid: hd.VolumeGeometry) -> SegContents:
    """The layers of a SEG already decoded, moved onto ``grid`` without decoding its frames again.

    The voxels are carried over as they are (:func:`~..geometry.grids.match_to_grid`):
    the result is what reading the SEG onto ``grid`` gives where the SEG's own
    grid lies on ``grid``'s voxels, voxels it does not cover 0.

    Raises
    ------
    GeometryMismatchError
        Another frame of reference, or layers whose voxels do not sit on
        ``grid``'s (such as frames on every other slice of ``grid``, whose own
        grid has twice its spacing).
    """
    seg_uid, grid_uid = contents.info.frame_of_reference_uid, grid.frame_of_reference_uid
    if seg_uid and grid_uid and seg_uid != grid_uid:
        raise GeometryMismatchError(
            f"{contents.info.path}: the SEG is in frame of reference {shown(seg_uid)}, the reference series in "
            f"{shown(grid_uid)}."
        )
    return replace(contents, layers=[match_to_grid(layer, grid, str(contents.info.path)) for layer in contents.layers])


MALFORMED_CONTENT = (ValueError, struct.error, OSError, NotImplementedError, OverflowError, EOFError, zlib.error,
                     BytesLengthException, sqlite3.Error)
"""What pydicom and highdicom raise for a malformed value: pydicom converts values lazily, where they are first used.

TypeError, AttributeError, KeyError and IndexError are not here: they are
what a bug raises, and the readers check explicitly what a file can lack.
"""


@contextmanager
def malformed_content_refused(path: Path) -> Iterator[None]:
    """A malformed value that pydicom or highdicom trips over, as a :class:`SegFileError` naming the file.

    The readers' own checks name most defects; this catches the values that
    only fail when converted, with the cause chained.
    """
    try:
        yield
    except MALFORMED_CONTENT as error:
        raise SegFileError(f"{path}: malformed or unsupported content ({type(error).__name__}: {cause(error)}).") from error


def segments_of(dataset: Dataset, path: Path) -> list[SegmentMetadata]:
    """The segments a SEG describes, background segment 0 left out."""
    items = [segment_metadata_from_dataset(item, source=str(path)) for item in dataset.SegmentSequence]
    return [segment for segment in items if segment.number != 0]


def background_of(dataset: Dataset, path: Path) -> SegmentMetadata | None:
    """The described background segment (number 0, as dcmqi writes in LABELMAPs), if any."""
    items = [item for item in dataset.SegmentSequence if item.get("SegmentNumber") == 0]
    return segment_metadata_from_dataset(items[0], source=str(path)) if items else None


def seg_info(dataset: Dataset, path: Path) -> SegInfo:
    """Identifiers and series attributes of a SEG dataset read from ``path``."""
    referenced_series = dataset.get("ReferencedSeriesSequence") or []
    series_item = referenced_series[0] if referenced_series else None
    padding = dataset.get("PixelPaddingValue")  # these two checked by seg_header to be one whole number if there
    series_number = dataset.get("SeriesNumber")
    return SegInfo(
        path=path,
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        series_instance_uid=str(dataset.get("SeriesInstanceUID", "")),
        study_instance_uid=str(dataset.get("StudyInstanceUID", "")),
        series_description=str(dataset.get("SeriesDescription", "")),
        series_number=int(series_number) if series_number not in (None, "") else None,
        content_label=str(dataset.get("ContentLabel", "")),
        content_description=str(dataset.get("ContentDescription", "")),
        content_creator_name=str(dataset.get("ContentCreatorName", "")),
        transfer_syntax_uid=str(dataset.file_meta.get("TransferSyntaxUID", "")),
        bits_allocated=int(dataset.BitsAllocated),
        number_of_frames=int(dataset.get("NumberOfFrames", 1)),
        pixel_padding_value=int(padding) if padding is not None else None,
        photometric_interpretation=str(dataset.get("PhotometricInterpretation", "")),
        frame_of_reference_uid=dataset.get("FrameOfReferenceUID"),
        referenced_series_uid=str(series_item.get("SeriesInstanceUID", "")) or None if series_item else None,
        segmentation_type=SegmentationType(dataset.SegmentationType),  # checked by seg_header
        clinical_trial_series_id=str(dataset.get("ClinicalTrialSeriesID", "")),
        clinical_trial_time_point_id=str(dataset.get("ClinicalTrialTimePointID", "")),
        clinical_trial_coordinating_center_name=str(dataset.get("ClinicalTrialCoordinatingCenterName", "")),
    )
