"""Which DICOM algorithm family (CID 7162, Surface Processing Algorithm Families) an algorithm belongs to.

SegmentationAlgorithmIdentificationSequence needs a family code. Runs name
their algorithm in free text (``watershed``, ``otsu_threshold``, ``nnunet``),
so the family is looked up from words in the name; a run's record may give
the code itself as ``algorithm_family``. Names that match no word get
Neighborhood Analysis, the broadest family for algorithms that decide a
voxel from its surroundings.
"""

from __future__ import annotations

from ..core.segments.segment_metadata import Code

_FAMILIES = [
    (("nnunet", "unet", "totalsegmentator", "monai", "deep", "neural", "cnn", "model"),
     Code("123110", "DCM", "Artificial Intelligence")),
    (("level_set", "levelset", "level-set", "snake", "active_contour", "deformable", "geodesic"),
     Code("123111", "DCM", "Deformable Models")),
    (("watershed", "morpholog", "erode", "erosion", "dilate", "dilation", "opening", "closing"),
     Code("123104", "DCM", "Morphological Operations")),
    (("threshold", "otsu", "histogram"), Code("123105", "DCM", "Histogram Analysis")),
    (("kmeans", "k-means", "k_means", "cluster", "fuzzy"), Code("123107", "DCM", "Cluster Analysis")),
    (("edge", "canny", "sobel", "gradient"), Code("123103", "DCM", "Edge Detection")),
    (("manual", "paint", "draw", "scissors"), Code("123109", "DCM", "Manual Processing")),
]
NEIGHBORHOOD_ANALYSIS = Code("123101", "DCM", "Neighborhood Analysis")


def algorithm_family(algorithm_name: str) -> Code:
    """The family code for an algorithm named in free text."""
    name = algorithm_name.lower()
    for words, code in _FAMILIES:
        if any(word in name for word in words):
            return code
    return NEIGHBORHOOD_ANALYSIS
