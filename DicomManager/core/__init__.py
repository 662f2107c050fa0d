"""Layer 1, no ``slicer`` import: label arrays, grids and segment metadata <-> DICOM SEG files, with pip packages only.

- ``writing``: LABELMAP and BINARY SEGs built by highdicom, export options, saving.
- ``reading``: any SEG's header checked, frames decoded and placed, references listed.
- ``codecs``: transfer syntaxes and the codecs behind them (a new one goes here).
- ``geometry``: voxel grids, frame positions, source image series.
- ``segments``: what a segment is, terminology, label layers.
- ``slicer_files``: Slicer's ``.seg.nrrd`` read and written without Slicer.
"""
