"""Glue to the Slicer application: its DICOM database and its Python package installer.

Only this package, the module panel and the DICOM plugin need the running
Slicer application; everything they decide is decided in ``core`` and
``mrml``.
"""
