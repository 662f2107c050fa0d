"""Which image series a SEG file segments, read from its header alone.

The database operations ask this of many files, so
:func:`read_seg_references` parses only the few attributes needed: no pixel
data, no per-frame functional groups, no highdicom. The DICOM browser, which
also judges the whole header, reads it once with
:func:`read_header_with_references`.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydicom import FileDataset
from pydicom.errors import BytesLengthException, InvalidDicomError

from ...errors import SegFileError
from ..segments.sop_classes import SEGMENTATION_SOP_CLASS_UIDS
from .deflated_dataset import read_dicom_file

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
    """The whole header of the SEG at ``path`` (no pixel data, unchecked) and its references, from one read.

    For a caller that goes on to judge the header
    (:func:`~.seg_header.header_problem`); :class:`SegFileError` when the file
    is not a SEG.
    """
    path = Path(path)
    header = _read_header(path, None)
    return header, references_of_header(header, path)


def _read_header(path: Path, specific_tags: list[int | str] | None) -> FileDataset:
    try:
        return read_dicom_file(path, stop_before_pixels=True, specific_tags=specific_tags)
    except FileNotFoundError:
        raise SegFileError(f"{path}: no such file.") from None
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError, AttributeError,
            struct.error, NotImplementedError, OverflowError, BytesLengthException) as error:
        raise SegFileError(f"{path}: not a readable DICOM file ({error}).") from error


def references_of_header(dataset: FileDataset, path: Path) -> SegReferences:
    """The references in a SEG header read from ``path``; :class:`SegFileError` when it is not a SEG's."""
    sop_class_uid = str(dataset.get("SOPClassUID", ""))
    if sop_class_uid not in SEGMENTATION_SOP_CLASS_UIDS:
        raise SegFileError(f"{path}: SOPClassUID {sop_class_uid or '(missing)'} is not a Segmentation Storage class.")
    series_uids: list[str] = []
    instance_uids: list[str] = []
    try:
        for series_item in dataset.get("ReferencedSeriesSequence") or []:
            series_uids.append(str(series_item.SeriesInstanceUID))
            instance_uids.extend(
                str(item.ReferencedSOPInstanceUID) for item in series_item.get("ReferencedInstanceSequence") or []
            )
    except (AttributeError, ValueError, TypeError) as error:
        raise SegFileError(f"{path}: ReferencedSeriesSequence (0008,1115) is malformed ({error}).") from error
    return SegReferences(
        path=path,
        sop_class_uid=sop_class_uid,
        transfer_syntax_uid=str(getattr(dataset, "file_meta", {}).get("TransferSyntaxUID", "")),
        sop_instance_uid=str(dataset.get("SOPInstanceUID", "")),
        series_instance_uid=str(dataset.get("SeriesInstanceUID", "")),
        referenced_series_uids=tuple(series_uids),
        referenced_instance_uids=tuple(dict.fromkeys(instance_uids)),
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
