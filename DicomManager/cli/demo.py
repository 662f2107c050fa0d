"""The built-in example: a small CT-like series and a 10-segment segmentation, exported and reloaded.

It exercises the whole path a Slicer user takes (volume node from DICOM,
segmentation node, export, load) on Slicer's own MRML classes, and checks that
the round trip is exact.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np

from ..core.geometry.source_series import SourceSeries, read_source_series
from ..core.segments.segment_metadata import Code, SegmentMetadata
from ..core.writing.export_options import ExportOptions
from ..core.writing.file_output import refuse_existing
from ..core.writing.labelmap_writer import write_labelmap_seg
from ..core.writing.seg_file import WrittenSeg
from ..core.writing.synthetic_series import SyntheticSeriesInfo, write_ct_series

DEMO_SHAPE = (40, 96, 96)  # slices, rows, columns
DEMO_SPACING = (2.5, 0.8, 0.8)  # mm: slice, row, column
DEMO_SEG_NAME = "demo_seg.dcm"

# Ten organ-like ellipsoids: label, SNOMED CT type code, RGB, centre and radii (fraction of the field of view).
DEMO_ORGANS = [
    ("Liver", Code("10200004", "SCT", "Liver"), (221, 130, 101), (0.55, 0.55, 0.32), (0.30, 0.20, 0.16)),
    ("Spleen", Code("78961009", "SCT", "Spleen"), (157, 108, 162), (0.55, 0.50, 0.78), (0.18, 0.10, 0.07)),
    ("Left kidney", Code("64033007", "SCT", "Left kidney"), (185, 102, 83), (0.40, 0.70, 0.70), (0.16, 0.07, 0.05)),
    ("Right kidney", Code("9846003", "SCT", "Right kidney"), (185, 102, 83), (0.40, 0.70, 0.30), (0.16, 0.07, 0.05)),
    ("Aorta", Code("15825003", "SCT", "Aorta"), (224, 97, 76), (0.50, 0.60, 0.52), (0.45, 0.03, 0.03)),
    ("Stomach", Code("69695003", "SCT", "Stomach"), (216, 132, 105), (0.70, 0.35, 0.68), (0.14, 0.09, 0.10)),
    ("Pancreas", Code("15776009", "SCT", "Pancreas"), (249, 180, 111), (0.50, 0.45, 0.55), (0.06, 0.04, 0.14)),
    ("Gallbladder", Code("28231008", "SCT", "Gallbladder"), (139, 150, 98), (0.45, 0.42, 0.25), (0.07, 0.04, 0.04)),
    ("Urinary bladder", Code("89837001", "SCT", "Urinary bladder"), (222, 154, 132), (0.12, 0.40, 0.50), (0.08, 0.08, 0.09)),
    ("Vertebra", Code("51282000", "SCT", "Vertebral column"), (241, 214, 145), (0.50, 0.80, 0.50), (0.48, 0.06, 0.06)),
]
TISSUE_CATEGORY = Code("123037004", "SCT", "Anatomical Structure")


@dataclass(frozen=True)
class DemoCase:
    """The demo's source series on disk and its segmentation in memory."""

    series_files: list[Path]
    labels: hd.Volume
    segments: list[SegmentMetadata]


def make_demo_case(folder: Path, overwrite: bool = False) -> DemoCase:
    """Write the CT-like series to ``folder`` and return it with its 10-segment labels.

    ``overwrite``: replace the images of an earlier run instead of refusing.
    """
    grid = hd.VolumeGeometry.from_attributes(
        image_position=(-38.4, -60.0, -50.0),
        image_orientation=(1, 0, 0, 0, 1, 0),
        rows=DEMO_SHAPE[1],
        columns=DEMO_SHAPE[2],
        pixel_spacing=DEMO_SPACING[1:],
        spacing_between_slices=DEMO_SPACING[0],
        number_of_frames=DEMO_SHAPE[0],
        coordinate_system="PATIENT",
        frame_of_reference_uid=hd.UID(),
    )
    fractions = [(np.arange(n) + 0.5) / n for n in DEMO_SHAPE]
    k, j, i = np.meshgrid(*fractions, indexing="ij")
    body = ((j - 0.55) / 0.42) ** 2 + ((i - 0.5) / 0.46) ** 2 <= 1.0
    labels = np.zeros(DEMO_SHAPE, dtype=np.uint8)
    voxels = np.where(body, 40, -1000).astype(np.int16)
    segments = []
    for number, (name, code, color, centre, radii) in enumerate(DEMO_ORGANS, start=1):
        inside = sum(((axis - c) / r) ** 2 for axis, c, r in zip((k, j, i), centre, radii, strict=True)) <= 1.0
        labels[inside & body] = number
        voxels[inside & body] = 60 + 10 * number
        segments.append(SegmentMetadata(number=number, label=name, category=TISSUE_CATEGORY, type=code, color=color))
    files = write_ct_series(
        voxels,
        grid,
        folder,
        SyntheticSeriesInfo(patient_id="DEMO", patient_name="Demo^Patient", series_description="Demo CT"),
        overwrite=overwrite,
    )
    return DemoCase(files, hd.Volume(labels, grid.affine, "PATIENT", grid.frame_of_reference_uid), segments)


@dataclass(frozen=True)
class DemoFiles:
    """The demo case on disk: its CT series and a LABELMAP SEG of it, written by the core alone."""

    case: DemoCase
    source: SourceSeries
    seg: WrittenSeg


def write_demo_files(folder: Path) -> DemoFiles:
    """Write the demo CT to ``folder/ct`` and its segmentation to ``folder/seg/demo_seg.dcm``.

    Needs no MRML: the Slicer self-tests use it to have DICOM files to import.
    """
    folder = Path(folder)
    case = make_demo_case(folder / "ct")
    source = read_source_series(case.series_files)
    options = ExportOptions(file_name=DEMO_SEG_NAME).with_series(series_description="Demo segmentation")
    seg = write_labelmap_seg(case.labels, case.segments, source, folder / "seg", options)
    return DemoFiles(case=case, source=source, seg=seg)


def run_demo(output_dir: Path, report: Callable[[str], None] = print, *, overwrite: bool = False) -> bool:
    """Build the case in ``output_dir``, export it, reload it and report; True when the round trip is exact.

    The series goes to ``output_dir/ct`` and the SEG to ``output_dir/demo_seg.dcm``; the files of an
    earlier run there are replaced with ``overwrite``, else refused before anything is written.
    """
    from ..mrml.manager import DicomManager
    from ..mrml.scene_setup import start_session
    from ..mrml.segmentation_nodes import create_segmentation_node, labels_from_segmentation_node, segment_metadata_from_node
    from ..mrml.volume_nodes import grid_of_volume_node

    output_dir = Path(output_dir)
    for earlier in (output_dir / DEMO_SEG_NAME, output_dir / "ct" / "IMG0001.dcm"):
        refuse_existing(earlier, overwrite)
    case = make_demo_case(output_dir / "ct", overwrite)
    session = start_session()
    scene = session.scene
    manager = DicomManager(scene)
    volume = manager.load_reference_volume(output_dir / "ct")
    segmentation = create_segmentation_node(scene, case.labels, case.segments, "Demo segmentation")

    started = time.perf_counter()
    (written,) = manager.export_segmentation(
        segmentation, volume, output_dir, ExportOptions(file_name=DEMO_SEG_NAME, overwrite=overwrite)
    ).instances
    export_seconds = time.perf_counter() - started
    started = time.perf_counter()
    loaded = manager.load_segmentation(written.path, volume)
    load_seconds = time.perf_counter() - started

    reloaded, numbers = labels_from_segmentation_node(loaded, grid_of_volume_node(volume))
    voxels_equal = np.array_equal(reloaded, case.labels.array)
    metadata_equal = [segment_metadata_from_node(loaded, i, n) for i, n in numbers.items()] == case.segments
    series_bytes = sum(path.stat().st_size for path in case.series_files)
    report(f"Source series: {len(case.series_files)} CT images, {series_bytes / 1e6:.1f} MB in {output_dir / 'ct'}")
    report(
        f"Exported {len(case.segments)} segments over {'x'.join(map(str, DEMO_SHAPE[::-1]))} voxels to {written.path}: "
        f"{written.path.stat().st_size / 1e3:.1f} kB, {written.number_of_frames} frames, {export_seconds:.2f} s"
    )
    report(f"Reloaded in {load_seconds:.2f} s: voxels {'identical' if voxels_equal else 'DIFFERENT'}, "
           f"segment metadata {'identical' if metadata_equal else 'DIFFERENT'}")
    return voxels_equal and metadata_equal
