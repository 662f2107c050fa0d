"""Which image series a SEG file segments, read from its header alone.

The database operations ask this of many files, so
:func:`read_seg_references` parses only the few attributes needed: no pixel
data, no per-frame functional groups, no highdicom. The DICOM browser, which
also judges the whole header, reads it once with
:func:`read_header_with_references`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom import FileDataset

from ...errors import SegFileError, shown
from ..library_output import reading_output_at_debug
from ..segments.sop_classes import SEGMENTATION_SOP_CLASS_UIDS
from .seg_header import convert_elements, read_dicom

logger = logging.getLogger(__name__)

_REFERENCE_TAGS = ["SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "ReferencedSeriesSequence"]


@dataclass(frozen=True)
class SegReferences:
    """A SEG's own identity, its transfer syntax, and the source images it lists in ReferencedSeriesSequence."""

    path: Path
    sop_class_uid: str
    transfer_syntax_uid: str
    sop_instance_uid: str
    series_instance_uid: str
    referenced_series_uids: tuple[str, ...]
    referenced_instance_uids: tuple[str, ...]

    @property
    def referenced_series_uid(self) -> str | None:
        """The first referenced series: the one a SEG over a single image series segments."""
        return self.referenced_series_uids[0] if self.referenced_series_uids else None


def read_seg_references(path: Path) -> SegReferences:
    """Read the references of the SEG at ``path``; :class:`SegFileError` when it is not a SEG."""
    path = Path(path)
    return references_of_header(_read_header(path, _REFERENCE_TAGS), path)


def read_header_with_references(path: Path) -> tuple[FileDataset, SegReferences]:
    """The whole header of the SEG at ``path`` (no pixel data) and its references, from one read.

    For a caller that goes on to judge the header
    (:func:`~.seg_reader.header_problem`); :class:`SegFileError` when the file
    is not a SEG.
    """
    path = Path(path)
    header = _read_header(path, None)
    return header, references_of_header(header, path)


def _read_header(path: Path, specific_tags: list[int | str] | None) -> FileDataset:
    with reading_output_at_debug():
        dataset = read_dicom(path, stop_before_pixels=True, specific_tags=specific_tags)
        convert_elements(dataset, path)
    return dataset


def references_of_header(dataset: FileDataset, path: Path) -> SegReferences:
    """The references in a SEG header read from ``path``; :class:`SegFileError` when it is not a SEG's."""
    sop_class_uid = str(dataset.get("SOPClassUID", ""))
    if sop_class_uid not in SEGMENTATION_SOP_CLASS_UIDS:
        raise SegFileError(f"{path}: SOPClassUID {shown(sop_class_uid) if sop_class_uid else '(missing)'} is not a "
                           "Segmentation Storage class.")
    series_uids: list[str] = []
    instance_uids: list[str] = []
    for number, series_item in enumerate(dataset.get("ReferencedSeriesSequence") or [], 1):
        if not series_item.get("SeriesInstanceUID"):  # read_seg loads such a SEG on its own grid
            logger.warning("%s: ReferencedSeriesSequence (0008,1115) item %d has no SeriesInstanceUID; it is passed over",
                           path, number)
            continue
        series_uids.append(str(series_item.SeriesInstanceUID))
        instance_uids.extend(str(item.get("ReferencedSOPInstanceUID", "")) for item in
                             series_item.get("ReferencedInstanceSequence") or [])
    return SegReferences(
        path=path,
        sop_class_uid=sop_class_uid,
        transfer_syntax_uid=str(getattr(dataset, "file_meta", {}).get("TransferSyntaxUID", "")),
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        series_instance_uid=str(dataset.get("SeriesInstanceUID", "")),
        referenced_series_uids=tuple(series_uids),
        referenced_instance_uids=tuple(uid for uid in dict.fromkeys(instance_uids) if uid),
    )


def find_segmentations_referencing(series_instance_uid: str, paths: Iterable[Path]) -> list[str]:
    """SeriesInstanceUIDs of the SEGs among ``paths`` that reference ``series_instance_uid``.

    Files that are not SEGs, or not DICOM at all, are passed over; the result
    is sorted and has no repeats.
    """
    found: set[str] = set()
    for path in paths:
        try:
            references = read_seg_references(path)
        except SegFileError as error:
            logger.debug("Skipping %s: %s", path, error)
            continue
        if series_instance_uid in references.referenced_series_uids:
            found.add(references.series_instance_uid)
    return sorted(found)
