"""Where the files of DICOM instances are, by SOP Instance UID.

An export finds its source images from the UIDs a volume node carries. In
Slicer the DICOM database answers that; outside it (command line, tests) an
index of the folders read so far does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .source_series import SourceSeries


class InstanceLocator(Protocol):
    """Anything that can say which file holds a DICOM instance."""

    def file_for_instance(self, sop_instance_uid: str) -> Path | None:
        """The file of the instance, or None when it is not known."""


class InstanceFileIndex:
    """An in-memory :class:`InstanceLocator` filled from source series that were read."""

    def __init__(self) -> None:
        self._files: dict[str, Path] = {}

    def add_series(self, source: SourceSeries) -> None:
        """Remember the file of every instance of ``source``."""
        self._files.update(zip(source.sop_instance_uids, source.paths, strict=True))

    def file_for_instance(self, sop_instance_uid: str) -> Path | None:
        return self._files.get(sop_instance_uid)
