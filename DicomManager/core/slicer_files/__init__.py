"""Slicer's own files without Slicer: the segmentation file (``.seg.nrrd``) and NRRD headers."""
