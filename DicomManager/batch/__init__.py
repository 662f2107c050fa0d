"""Whole trees at once: migrating optimization runs and gold standards to DICOM, converting SEG archives."""
