"""Sending DICOM files to an archive: DICOMweb STOW-RS and DIMSE C-STORE.

Needs the ``network`` extra (``dicomweb-client`` and ``pynetdicom``), imported
only when something is sent.
"""

from .destinations import DicomWebDestination, DimseDestination, parse_destination
from .sending import SentInstances, send_files

__all__ = ["DicomWebDestination", "DimseDestination", "SentInstances", "parse_destination", "send_files"]
