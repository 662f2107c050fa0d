"""DICOMLabelMapSeg's DicomManager: Slicer segmentations <-> DICOM Label Map Segmentation."""

__version__ = "0.1.0"
