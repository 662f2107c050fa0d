"""The project's exceptions: one hierarchy, each error naming what is wrong.

Every failure that a user can cause (a bad file, a bad segmentation, a missing
codec) is raised as a subclass of :class:`DicomLabelMapSegError`, so that the
module panel, the DICOM browser plugin and the command line can catch one type
and show its message as it is.
"""

from __future__ import annotations


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
