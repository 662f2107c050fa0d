"""Layer 2, the MRML bridge: segmentation and volume nodes <-> the core's arrays, grids and metadata (slicer-core, no Qt)."""
