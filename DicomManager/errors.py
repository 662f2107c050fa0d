"""The project's exceptions: one hierarchy, each error naming what is wrong.

Every failure that a user can cause (a bad file, a bad segmentation, a missing
codec) is raised as a subclass of :class:`DicomLabelMapSegError`, so that the
module panel, the DICOM browser plugin and the command line can catch one type
and show its message as it is.
"""

from __future__ import annotations

QUOTED_CHARACTERS = 60
"""The most characters of a value a message quotes: a broken file may hold kilobytes of binary where text belongs."""
CAUSE_CHARACTERS = 200
"""The most characters of a library's own message that one of ours repeats."""


class DicomLabelMapSegError(Exception):
    """Base class of every error raised on purpose by DICOMLabelMapSeg."""


class InvalidSegmentationError(DicomLabelMapSegError):
    """The labels or segment metadata cannot be written as a LABELMAP SEG."""


class GeometryMismatchError(DicomLabelMapSegError):
    """A segmentation grid does not line up with its reference image grid."""


class SourceSeriesError(DicomLabelMapSegError):
    """The source image series is missing, unreadable or not a volume."""


class SegFileError(DicomLabelMapSegError):
    """A SEG file cannot be read: not DICOM, not a supported SEG, or broken."""


class OutputExistsError(DicomLabelMapSegError):
    """The output file exists and replacing it was not asked for."""


class OutputWriteError(DicomLabelMapSegError):
    """An output cannot be written: no space left, a read-only file system, no permission (the ``OSError`` chained)."""


class TerminologyError(DicomLabelMapSegError):
    """A terminology entry string or a code cannot be converted."""


class CodecUnavailableError(DicomLabelMapSegError):
    """The package that encodes or decodes a transfer syntax is not installed."""


class EncodingError(DicomLabelMapSegError):
    """The SEG cannot be encoded as asked: beyond a codec's limits, or refused by highdicom or pydicom (cause chained)."""


class MetadataFileError(DicomLabelMapSegError):
    """A segment metadata file (dcmqi JSON) is unreadable or inconsistent."""


class LabelFileError(DicomLabelMapSegError):
    """A label file cannot be read or written: Slicer's ``.seg.nrrd``, or a label volume (``.nrrd``, ``.nii.gz``).

    :class:`SegFileError` is for DICOM SEG files.
    """


class IncompleteRequestError(DicomLabelMapSegError):
    """An operation was asked for without something it needs: a segmentation, an output folder, a reference volume."""


class DicomDatabaseError(DicomLabelMapSegError):
    """Slicer's DICOM database cannot be opened, or does not hold what was asked for."""


class DependencyError(DicomLabelMapSegError):
    """A Python package this extension needs is missing and was not installed."""


class SendError(DicomLabelMapSegError):
    """Files could not be sent to a DICOMweb or DIMSE destination, or the destination refused them."""


class InputPathError(DicomLabelMapSegError):
    """A path given as input does not exist, cannot be read, is a folder where a file is expected (or the reverse),
    or holds nothing to work on."""


def quoted(value: object, limit: int = QUOTED_CHARACTERS) -> str:
    """A value from a file as a message shows it: ``repr`` (control characters escaped, so one line), cut to ``limit``."""
    text = repr(value.decode("latin-1") if isinstance(value, bytes) else value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def shown(value: object) -> str:
    """A value from a file as a message shows it: as it is where it is one printable word that fits, else :func:`quoted`."""
    text = str(value)
    if text and len(text) <= QUOTED_CHARACTERS and text.isprintable() and not any(c.isspace() or c in "'\"" for c in text):
        return text
    return quoted(value)


def cause(error: BaseException, limit: int = CAUSE_CHARACTERS) -> str:
    """A library's message for ``error`` as part of one of ours: one line, control characters escaped, cut to ``limit``."""
    text = " ".join(str(error).split())
    text = "".join(character if character.isprintable() else repr(character)[1:-1] for character in text)
    return text if len(text) <= limit else f"{text[:limit]}..."
