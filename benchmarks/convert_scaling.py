"""How ``convert`` scales with workers: planning, worker start-up and per-item times, measured apart.

    python benchmarks/convert_scaling.py [--case B] [--items 16] [--workers 1,2] [--work DIR]

Builds a tree of ``--items`` classic BINARY SEGs, each with a CT series of its
own (the case's size and segments, see cases.py), converts it with each
worker count, and prints, for each: the wall time, the planning time (every
header read once, by the pool's workers), the slowest worker start-up (its
imports), the mean time of an item in its worker, and items per second. From
the one-worker run it predicts the speed-up at 16 workers:
start-up + header reading / N + items x item time / N.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES, TISSUE, _organs  # noqa: E402


def build_tree(case: str, items: int, folder: Path) -> Path:
    """``items`` folders, each a CT series and its BINARY SEG (reused when complete)."""
    import highdicom as hd

    from DicomManager import read_source_series
    from DicomManager.core.writing.synthetic_series import SyntheticSeriesInfo, write_ct_series

    tree = folder / f"tree_{case}_{items}"
    if (tree / "complete").is_file():
        return tree
    spec = CASES[case]
    labels, voxels = _organs(spec)
    grid = hd.VolumeGeometry.from_attributes(
        image_position=(-200.0, -180.0, -300.0), image_orientation=(1, 0, 0, 0, 1, 0), rows=spec.shape[1],
        columns=spec.shape[2], pixel_spacing=(400 / spec.shape[1], 400 / spec.shape[2]),
        spacing_between_slices=600 / spec.shape[0], number_of_frames=spec.shape[0], coordinate_system="PATIENT",
    )
    descriptions = [
        hd.seg.SegmentDescription(n, f"Organ {n}", TISSUE.to_coded_concept(), TISSUE.to_coded_concept(), "MANUAL")
        for n in range(1, spec.segments + 1)
    ]
    for index in range(items):
        item = tree / f"patient{index:03d}"
        paths = write_ct_series(voxels, grid, item / "ct", SyntheticSeriesInfo(patient_id=f"P{index}"))
        source = read_source_series(paths)
        seg = hd.seg.Segmentation(
            source_images=source.datasets, pixel_array=labels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=400,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="bench", manufacturer_model_name="bench",
            software_versions="0", device_serial_number="1", omit_empty_frames=True,
        )
        seg.save_as(item / "seg.dcm")
        print(f"built {item.name}", file=sys.stderr, flush=True)
    (tree / "complete").write_text("")
    return tree


def run(tree: Path, workers: int, output: Path) -> dict:
    from DicomManager.batch.conversion import ConversionStatus, convert_tree

    shutil.rmtree(output, ignore_errors=True)
    started = time.perf_counter()
    summary = convert_tree(tree, output, workers=workers)
    wall = time.perf_counter() - started
    converted = summary.count(ConversionStatus.CONVERTED)
    if converted != len(summary.item_seconds) or summary.count(ConversionStatus.FAILED):
        raise SystemExit(f"not every item converted: {[o.reason for o in summary.outcomes if o.reason]}")
    return {
        "workers": workers, "wall": wall, "planning": summary.planning_seconds, "start": summary.worker_start_seconds,
        "item": statistics.mean(summary.item_seconds), "items": converted,
    }


def predicted_wall(one: dict, workers: int) -> float:
    """The wall time at ``workers`` predicted from the one-worker run's parts."""
    headers = max(one["planning"] - one["start"], 0.0)
    rest = one["wall"] - one["planning"] - one["items"] * one["item"]  # pool shutdown, outcome handling: serial
    return one["start"] + headers / workers + math.ceil(one["items"] / workers) * one["item"] + rest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="B", choices=sorted(CASES))
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--work", type=Path, help="keep the tree here between runs (default: a temporary folder)")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = arguments.work or Path(temporary)
        tree = build_tree(arguments.case, arguments.items, root)
        print("| workers | wall (s) | planning (s) | worker start-up (s) | item, in its worker (s) | items/s |")
        print("|---|---|---|---|---|---|")
        results = []
        for workers in (int(n) for n in arguments.workers.split(",")):
            result = run(tree, workers, root / f"out_{workers}")
            results.append(result)
            print(f"| {workers} | {result['wall']:.2f} | {result['planning']:.2f} | {result['start']:.2f} "
                  f"| {result['item']:.2f} | {result['items'] / result['wall']:.2f} |", flush=True)
    one = next(result for result in results if result["workers"] == 1)
    for result in results[1:]:
        print(f"{result['workers']} workers: measured speed-up {one['wall'] / result['wall']:.2f}, "
              f"predicted {one['wall'] / predicted_wall(one, result['workers']):.2f}")
    print(f"predicted at 16 workers: speed-up {one['wall'] / predicted_wall(one, 16):.1f} "
          f"({one['items'] / predicted_wall(one, 16):.1f} items/s), if the disk keeps up")


if __name__ == "__main__":
    main()
