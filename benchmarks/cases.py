"""The benchmark's inputs: a CT-like series with real geometry and an organ-like segmentation, in every form compared.

A case folder holds::

    ct/IMG0001.dcm ...       single-frame CT images (what SEGs reference)
    labels.nrrd              the label volume (dcmqi's input)
    dcmqi.json               dcmqi's segment metadata for it
    segmentation.seg.nrrd    the same as a Slicer segmentation file
    binary.dcm               the same as a classic BINARY SEG (highdicom), for loading from BINARY
    case.json                what the case is

Segments are non-overlapping ellipsoids of varied size inside a body
ellipse, like organs, not noise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom

from DicomManager import Code, SegmentMetadata, read_source_series
from DicomManager.core.writing.synthetic_series import SyntheticSeriesInfo, write_ct_series


@dataclass(frozen=True)
class CaseSpec:
    name: str
    shape: tuple[int, int, int]  # slices, rows, columns
    segments: int
    axial_extent: tuple[float, float] = (0.25, 0.75)
    """Where along the slices organ centres lie, as fractions of the length."""
    binary: bool = True
    """Whether a classic BINARY SEG of the case is written, to measure loading one (up to C: highdicom
    builds it from one mask per segment, too slow for hundreds of segments over a whole body)."""

    def with_slices(self, slices: int) -> CaseSpec:
        """The same case over ``slices`` slices (organs scaled with it), to fit a smaller machine."""
        return replace(self, name=f"{self.name}{slices}" if slices != self.shape[0] else self.name,
                       shape=(slices, *self.shape[1:]))

    @property
    def label_dtype(self) -> np.dtype:
        """8-bit labels up to 255 segments, else 16-bit."""
        return np.dtype(np.uint8 if self.segments <= np.iinfo(np.uint8).max else np.uint16)

    @property
    def label_bytes(self) -> int:
        """Bytes of the label volume."""
        return int(np.prod(self.shape)) * self.label_dtype.itemsize


CASES = {
    "S": CaseSpec("S", (20, 64, 64), 5),  # smoke test size
    "A": CaseSpec("A", (100, 256, 256), 10),
    "B": CaseSpec("B", (300, 512, 512), 10),
    "C": CaseSpec("C", (600, 512, 512), 100),
    # A whole-body CT in TotalSegmentator's 117 classes, organs along the whole body: 393 MB of 8-bit labels.
    "D": CaseSpec("D", (1500, 512, 512), 117, axial_extent=(0.05, 0.95), binary=False),
    # More than 255 classes: 16-bit labels, 315 MB.
    "E": CaseSpec("E", (600, 512, 512), 320, axial_extent=(0.05, 0.95), binary=False),
}


def scaled(spec: CaseSpec, slices: int | None) -> CaseSpec:
    """D and E over at most ``slices`` slices when asked; the other cases as they are."""
    return spec.with_slices(min(slices, spec.shape[0])) if slices and spec.name in ("D", "E") else spec


TISSUE = Code("85756007", "SCT", "Tissue")
LARGE_ORGANS = 5
"""The first segments are twice as large, as livers and lungs are beside small structures."""


def build_case(spec: CaseSpec, folder: Path) -> Path:
    """Write every input of ``spec`` into ``folder`` (reused when it is already complete)."""
    folder = Path(folder)
    if (folder / "case.json").is_file():
        return folder
    from DicomManager.core.label_files.label_volume_files import write_label_volume
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.segmentation_nodes import create_segmentation_node
    from DicomManager.mrml.storage import write_segmentation_file

    folder.mkdir(parents=True, exist_ok=True)
    grid = hd.VolumeGeometry.from_attributes(
        image_position=(-200.0, -180.0, -300.0),
        image_orientation=(1, 0, 0, 0, 1, 0),
        rows=spec.shape[1],
        columns=spec.shape[2],
        pixel_spacing=(400 / spec.shape[1], 400 / spec.shape[2]),
        spacing_between_slices=600 / spec.shape[0],
        number_of_frames=spec.shape[0],
        coordinate_system="PATIENT",
        frame_of_reference_uid=hd.UID(),
    )
    labels, voxels = _organs(spec)
    write_ct_series(voxels, grid, folder / "ct", SyntheticSeriesInfo(patient_id=f"BENCH{spec.name}", series_description="CT"))
    segments = [
        SegmentMetadata(number=n, label=f"Organ {n}", category=TISSUE, type=TISSUE,
                        color=((53 * n) % 256, (97 * n) % 256, (193 * n) % 256))
        for n in range(1, spec.segments + 1)
    ]
    volume = hd.Volume(labels, grid.affine, "PATIENT", grid.frame_of_reference_uid)
    session = start_session()
    write_label_volume(volume, folder / "labels.nrrd")
    write_segmentation_file(create_segmentation_node(session.scene, volume, segments, "bench"), folder / "segmentation.seg.nrrd")
    (folder / "dcmqi.json").write_text(json.dumps(_dcmqi_metadata(segments)))
    if spec.binary:
        _write_binary_seg(volume, segments, folder)
    (folder / "case.json").write_text(json.dumps({"name": spec.name, "shape": spec.shape, "segments": spec.segments}))
    return folder


def _write_binary_seg(volume: hd.Volume, segments: list[SegmentMetadata], folder: Path) -> None:
    """The case as a classic BINARY SEG written by highdicom, to measure loading one."""
    source = read_source_series(sorted((folder / "ct").glob("*.dcm")))
    binary = hd.seg.Segmentation(
        source_images=source.datasets,
        pixel_array=volume.match_geometry(source.geometry),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[
            hd.seg.SegmentDescription(s.number, s.label, TISSUE.to_coded_concept(), TISSUE.to_coded_concept(), "MANUAL")
            for s in segments
        ],
        series_instance_uid=hd.UID(), series_number=400, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="bench", manufacturer_model_name="bench", software_versions="0", device_serial_number="1",
        omit_empty_frames=True,
    )
    binary.save_as(folder / "binary.dcm")


def _organs(spec: CaseSpec) -> tuple[np.ndarray, np.ndarray]:
    """Label array of non-overlapping ellipsoids inside a body, and CT-like values (int16) around them."""
    rng = np.random.default_rng(7)
    shape = np.array(spec.shape)
    labels = np.zeros(spec.shape, dtype=spec.label_dtype)
    k, j, i = np.ogrid[: spec.shape[0], : spec.shape[1], : spec.shape[2]]
    body = ((j - shape[1] / 2) / (0.45 * shape[1])) ** 2 + ((i - shape[2] / 2) / (0.42 * shape[2])) ** 2 <= 1
    body = np.broadcast_to(body, spec.shape)
    low, high = spec.axial_extent
    for number in range(1, spec.segments + 1):
        radii = shape * rng.uniform(0.03, 0.12, 3) * (2.0 if number <= LARGE_ORGANS else 1.0)
        centre = shape * rng.uniform(0.25, 0.75, 3)
        if (low, high) != (0.25, 0.75):
            centre[0] = shape[0] * (low + (high - low) * (centre[0] / shape[0] - 0.25) / 0.5)
        # Evaluated over the ellipsoid's bounding box only: the same voxels, without a float volume per organ.
        box = tuple(
            slice(max(int(np.floor(c - r)), 0), min(int(np.ceil(c + r)) + 1, size))
            for c, r, size in zip(centre, radii, shape, strict=True)
        )
        axes = (k[box[0]], j[:, box[1]], i[:, :, box[2]])
        inside = sum(((axis - c) / r) ** 2 for axis, c, r in zip(axes, centre, radii, strict=True)) <= 1.0
        region = labels[box]
        region[inside & body[box] & (region == 0)] = number
    voxels = np.where(body, 40, -1000).astype(np.int16)
    voxels += (labels.astype(np.int16) % 50) * 3
    return labels, voxels


def _dcmqi_metadata(segments: list[SegmentMetadata]) -> dict:
    def code(c: Code) -> dict:
        return {"CodeValue": c.value, "CodingSchemeDesignator": c.scheme, "CodeMeaning": c.meaning}

    return {
        "ContentCreatorName": "Bench^Mark", "SeriesDescription": "Segmentation", "SeriesNumber": "300",
        "InstanceNumber": "1", "BodyPartExamined": "", "ClinicalTrialSeriesID": "1",
        "ClinicalTrialTimePointID": "1", "ClinicalTrialCoordinatingCenterName": "bench",
        "segmentAttributes": [[
            {"labelID": s.number, "SegmentLabel": s.label, "SegmentAlgorithmType": "MANUAL",
             "SegmentedPropertyCategoryCodeSequence": code(s.category),
             "SegmentedPropertyTypeCodeSequence": code(s.type),
             "recommendedDisplayRGBValue": list(s.color)}
            for s in segments
        ]],
    }


def source_headers(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted((Path(folder) / "ct").glob("*.dcm"))]
