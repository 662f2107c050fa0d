"""What segments are: their metadata and terminology, dcmqi metadata files, and label layers that hold their voxels."""
