"""The quantities a measurement report holds, coded as Slicer and QuantitativeReporting code them.

The codes and units are those of Slicer's ``ScalarVolumeSegmentStatisticsPlugin.getMeasurementInfo``
(v5.12.3), which QuantitativeReporting writes into its TID 1500 reports and its
``DICOMTID1500Plugin`` reads back: volume as SCT 118565006 in mm3, the voxel count under QIICR's
private 99QIICR ``nvoxels``, and the image statistics as the volume's voxel value quantity (what
``DICOMPlugin.mapSOPClassUIDToDICOMQuantityAndUnits`` gives a CT or MR volume) with a derivation
modifier naming the statistic.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ..segments.segment_metadata import Code


class Statistic(StrEnum):
    """The statistics a report can hold; the values are Slicer's Segment Statistics keys."""

    VOXEL_COUNT = "voxel_count"
    VOLUME_MM3 = "volume_mm3"
    MINIMUM = "min"
    MAXIMUM = "max"
    MEAN = "mean"
    MEDIAN = "median"
    STANDARD_DEVIATION = "stdev"


@dataclass(frozen=True)
class Quantity:
    """How one statistic is coded in a TID 1500 measurement: concept name, unit, derivation modifier."""

    statistic: Statistic
    name: Code
    unit: Code
    derivation: Code | None = None


VOXEL_COUNT = Quantity(Statistic.VOXEL_COUNT, Code("nvoxels", "99QIICR", "Number of voxels"), Code("voxels", "UCUM", "voxels"))
VOLUME_MM3 = Quantity(Statistic.VOLUME_MM3, Code("118565006", "SCT", "Volume"), Code("mm3", "UCUM", "cubic millimeter"))

DERIVATIONS = {
    Statistic.MINIMUM: Code("255605001", "SCT", "Minimum"),
    Statistic.MAXIMUM: Code("56851009", "SCT", "Maximum"),
    Statistic.MEAN: Code("373098007", "SCT", "Mean"),
    Statistic.MEDIAN: Code("373099004", "SCT", "Median"),
    Statistic.STANDARD_DEVIATION: Code("386136009", "SCT", "Standard Deviation"),
}
"""The derivation modifier of each image statistic (Slicer's ``getMeasurementInfo``)."""

VOXEL_VALUE_QUANTITIES = {
    "CT": (Code("112031", "DCM", "Attenuation Coefficient"), Code("[hnsf'U]", "UCUM", "Hounsfield unit")),
    "MR": (Code("110852", "DCM", "MR signal intensity"), Code("1", "UCUM", "no units")),
}
"""What a voxel of a CT or MR volume measures, and in which unit (Slicer's ``DICOMPlugin``)."""


def image_quantities(modality: str) -> list[Quantity] | None:
    """The coded image statistics over a series of ``modality``; None where Slicer knows no voxel quantity."""
    coded = VOXEL_VALUE_QUANTITIES.get(modality)
    if coded is None:
        return None
    name, unit = coded
    return [Quantity(statistic, name, unit, derivation) for statistic, derivation in DERIVATIONS.items()]
