"""Voxel grids in patient space: conversions and checks, SEG frame positions, and the source image series."""
