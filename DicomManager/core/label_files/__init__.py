"""Label volumes (NRRD, NIfTI, MetaImage), as dcmqi takes and gives them, read and written without Slicer."""
