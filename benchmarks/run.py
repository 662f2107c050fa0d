"""Side-by-side benchmark: ours vs highdicom directly vs today's dcmqi path vs .seg.nrrd.

    python benchmarks/run.py [--quick] [--cases A,B,C] [--compressions rle,jpegls,deflate] [--repeat 3]

Cases (see cases.py): A 256x256x100 with 10 segments, B 512x512x300 with 10,
C 512x512x600 with 100; ``--quick`` runs A only. Every operation runs in a
process of its own (measure.py), ``--repeat`` times; the table shows the
median operation time, the median wall time of the whole process (start-up
included: what a command-line user waits), the peak memory and the output
size, then the ratios the project is held to. Results go to
``benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES, build_case  # noqa: E402

PER_COMPRESSION = ["ours_export", "highdicom_export", "ours_load", "highdicom_load"]
CROPPED = ["ours_export_cropped", "ours_load_cropped"]
"""Run with deflate, the syntax whose cropped files are the smallest."""
PER_CASE = ["ours_load_binary", "today_export", "today_load", "today_load_binary", "segnrrd_write", "segnrrd_read"]


def measure(operation: str, case: Path, work: Path, compression: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, str(HERE / "measure.py"), operation, str(case), str(work), "--compression", compression],
            capture_output=True, text=True, check=False,
        )
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise SystemExit(f"{operation} failed:\n{completed.stderr[-3000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        result["wall"] = wall
        runs.append(result)
    return _summary(operation, compression, runs)


def measure_cli(name: str, command: list[str], output: Path, compression: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise SystemExit(f"{name} failed:\n{completed.stderr[-3000:]}")
        runs.append({"seconds": wall, "wall": wall, "peak_rss_mb": None, "operation_mb": None,
                     "output_bytes": output.stat().st_size})
    return _summary(name, compression, runs)


def _summary(operation: str, compression: str, runs: list[dict]) -> dict:
    peaks = [run["peak_rss_mb"] for run in runs if run["peak_rss_mb"] is not None]
    extras = [run["operation_mb"] for run in runs if run.get("operation_mb") is not None]
    return {
        "operation": operation,
        "compression": compression,
        "seconds": statistics.median(run["seconds"] for run in runs),
        "wall": statistics.median(run["wall"] for run in runs),
        "peak_rss_mb": max(peaks) if peaks else None,
        "operation_mb": max(extras) if extras else None,
        "output_bytes": runs[-1]["output_bytes"],
    }


def run_case(name: str, root: Path, compressions: list[str], repeat: int) -> list[dict]:
    case = build_case(CASES[name], root / f"case_{name}")
    work = root / f"work_{name}"
    work.mkdir(exist_ok=True)
    cli = shutil.which("dicomlabelmapseg", path=str(Path(sys.executable).parent)) or "dicomlabelmapseg"
    rows = []

    def add(row: dict) -> None:
        rows.append(row | {"case": name})
        print(_line(rows[-1]), flush=True)

    def export_command(output: Path, compression: str, *options: str) -> list[str]:
        return [cli, "export", "--reference", str(case / "ct"), "--segmentation", str(case / "segmentation.seg.nrrd"),
                "--output", str(output), "--compression", compression, *options, "--force"]

    for compression in compressions:
        for operation in PER_COMPRESSION:
            add(measure(operation, case, work, compression, repeat))
        seg, seg_nrrd = work / f"cli_{compression}.dcm", work / f"cli_{compression}.seg.nrrd"
        add(measure_cli("cli_export", export_command(seg, compression), seg, compression, repeat))
        if compression == "deflate":
            for operation in CROPPED:
                add(measure(operation, case, work, compression, repeat))
            cropped = work / "cli_deflate_cropped.dcm"
            add(measure_cli("cli_export_cropped", export_command(cropped, compression, "--crop-to-segments"),
                            cropped, compression, repeat))
        add(measure_cli("cli_import", [cli, "import", str(seg), "--output", str(seg_nrrd), "--force"],
                        seg_nrrd, compression, repeat))
    for operation in PER_CASE:
        add(measure(operation, case, work, "none", repeat))
    return rows


def ratios(rows: list[dict]) -> list[str]:
    """The ratios the project is held to, one line each (targets in brackets)."""
    def get(case, operation, compression=None, key="seconds"):
        for row in rows:
            same = row["case"] == case and row["operation"] == operation
            if same and (compression is None or row["compression"] == compression):
                return row[key]
        return None

    def one_process(case, operation):
        # measure.py runs an operation twice in one process; without the second, timed run its wall
        # time is what one process doing the work once takes, start-up included.
        return get(case, operation, key="wall") - get(case, operation)

    lines = []
    for case in sorted({row["case"] for row in rows}):
        compressions = sorted({row["compression"] for row in rows if row["case"] == case and row["operation"] == "ours_export"})
        for compression in compressions:
            lines.append(f"{case} {compression}: export ours / highdicom = "
                         f"{get(case, 'ours_export', compression) / get(case, 'highdicom_export', compression):.2f} [<= 1.1]")
            lines.append(f"{case} {compression}: load ours / highdicom get_volume = "
                         f"{get(case, 'ours_load', compression) / get(case, 'highdicom_load', compression):.2f} [<= 0.6]")
            lines.append(f"{case} {compression}: CLI export ours / today (one process each) = "
                         f"{get(case, 'cli_export', compression, 'wall') / one_process(case, 'today_export'):.2f} [<= 0.7]")
            lines.append(f"{case} {compression}: CLI load ours / today (one process each) = "
                         f"{get(case, 'cli_import', compression, 'wall') / one_process(case, 'today_load'):.2f} [<= 0.7]")
        default = "rle" if "rle" in compressions else compressions[0]
        lines.append(f"{case}: load into node, LABELMAP, ours ({default}) / today = "
                     f"{get(case, 'ours_load', default) / get(case, 'today_load'):.3f} [C: <= 0.1]")
        lines.append(f"{case}: load into node, BINARY, ours / today = "
                     f"{get(case, 'ours_load_binary') / get(case, 'today_load_binary'):.3f} [C: <= 0.1]")
        seg_nrrd = get(case, "segnrrd_write", key="output_bytes")
        full_frames = min(get(case, "ours_export", c, "output_bytes") for c in compressions)
        lines.append(f"{case}: smallest SEG with full frames (OHIF reads it) / .seg.nrrd = {full_frames / seg_nrrd:.2f}")
        if "deflate" in compressions:
            cropped = get(case, "ours_export_cropped", "deflate", "output_bytes")
            lines.append(f"{case}: smallest SEG (deflate, frames cropped to the segments) / .seg.nrrd = "
                         f"{cropped / seg_nrrd:.2f} [<= 1]")
            lines.append(f"{case} deflate, cropped: export ours / highdicom (full frames) = "
                         f"{get(case, 'ours_export_cropped', 'deflate') / get(case, 'highdicom_export', 'deflate'):.2f}")
            lines.append(f"{case} deflate, cropped: CLI export ours / today (one process each) = "
                         f"{get(case, 'cli_export_cropped', 'deflate', 'wall') / one_process(case, 'today_export'):.2f}")
        if "rle" in compressions:
            binary = get(case, "ours_load_binary", key="output_bytes")
            lines.append(f"{case}: uncompressed BINARY SEG / RLE LABELMAP = "
                         f"{binary / get(case, 'ours_export', 'rle', 'output_bytes'):.1f}x [C: >= 15x]")
        spec = CASES[case]
        label_mb = spec.label_bytes / 2**20
        ours = [row for row in rows if row["case"] == case and row["operation"].startswith("ours")]
        extra = max(row["operation_mb"] or 0 for row in ours)
        budget = 3 * label_mb + 300
        lines.append(f"{case}: memory our export or load adds = {extra:.0f} MB [<= 3 x labels + 300 = {budget:.0f} MB]")
    return lines


def _line(row: dict) -> str:
    def megabytes(value: float | None) -> str:
        return f"{value:.0f}" if value is not None else "-"

    return (f"| {row['case']} | {row['compression']} | {row['operation']} | {row['seconds']:.3f} | {row['wall']:.2f} "
            f"| {megabytes(row.get('operation_mb'))} | {megabytes(row['peak_rss_mb'])} | {row['output_bytes'] / 1e3:.1f} |")


def machine() -> dict:
    packages = {name: _version(name) for name in ("highdicom", "pydicom", "numpy", "slicer-core", "dcmqi", "pyjpegls")}
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(), **packages}


def _version(name: str) -> str:
    try:
        return version(name)
    except Exception:  # noqa: BLE001 - a missing package is reported as such
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="case A only")
    parser.add_argument("--cases", default="A,B,C")
    parser.add_argument("--compressions", default="rle,jpegls,deflate")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, help="keep cases here between runs (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=HERE / "results.json")
    arguments = parser.parse_args()
    names = ["A"] if arguments.quick else arguments.cases.split(",")
    compressions = arguments.compressions.split(",")
    info = machine()
    print(f"Machine: {info}")
    print("| case | compression | operation | seconds | wall (s) | operation MB | process peak MB | output kB |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        root = arguments.work or Path(temporary)
        rows = [row for name in names for row in run_case(name, root, compressions, arguments.repeat)]
    print()
    for line in ratios(rows):
        print(line)
    arguments.json.write_text(json.dumps({"machine": info, "rows": rows, "ratios": ratios(rows)}, indent=2))


if __name__ == "__main__":
    main()
