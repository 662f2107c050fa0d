"""Side-by-side benchmark: ours vs highdicom directly vs today's dcmqi path vs .seg.nrrd.

    python benchmarks/run.py [--quick] [--cases A,B,C,D,E] [--slices 750] [--compressions rle,jpegls,deflate] [--repeat 3]

Cases (see cases.py): A 256x256x100 with 10 segments, B 512x512x300 with 10,
C 512x512x600 with 100, D 512x512x1500 with 117 (a whole body in TotalSegmentator's
classes), E 512x512x600 with 320 (16-bit labels); ``--slices`` runs D and E over
fewer slices, to fit a smaller machine; ``--quick`` runs A only. Today's path
is given ``--today-timeout`` seconds and reported as not finishing beyond that. Every operation runs in a
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

from cases import CASES, CaseSpec, build_case, scaled  # noqa: E402

PER_COMPRESSION = ["ours_export", "ours_export_all_cores", "highdicom_export", "ours_load", "highdicom_load"]
CROPPED = ["ours_export_cropped", "ours_load_cropped"]
"""Run with deflate, the syntax whose cropped files are the smallest."""
TWO_CASES = 2
"""Growth is shown for an operation measured in at least two cases."""
PER_CASE = ["ours_load_binary", "today_export", "today_load", "today_load_binary", "segnrrd_write", "segnrrd_read"]


def measure(operation: str, case: Path, work: Path, compression: str, repeat: int, timeout: float | None = None) -> dict:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            completed = subprocess.run(
                [sys.executable, str(HERE / "measure.py"), operation, str(case), str(work), "--compression", compression],
                capture_output=True, text=True, check=False, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return {"operation": operation, "compression": compression, "seconds": None, "wall": None,
                    "peak_rss_mb": None, "operation_mb": None, "output_bytes": None, "timed_out": timeout}
        wall = time.perf_counter() - started
        if completed.returncode != 0:
            raise SystemExit(f"{operation} failed:\n{completed.stderr[-3000:]}")
        result = json.loads(completed.stdout.strip().splitlines()[-1])
        result["wall"] = wall
        runs.append(result)
    return _summary(operation, compression, runs)


def measure_cli(name: str, command: list[str], output: Path, compression: str, repeat: int) -> dict:
    runs = [run_process(name, command) | {"output_bytes": output.stat().st_size} for _ in range(repeat)]
    return _summary(name, compression, runs)


def run_process(name: str, command: list[str]) -> dict:
    """Run ``command`` once as a whole process: its wall time, CPU time and peak memory.

    Measured by GNU time (``/usr/bin/time``): user + system seconds of the process and of the
    processes it waited for, and the resident high-water mark of the largest of them (MiB). Not
    ``os.wait4`` here: a child exec'd from this process starts with this process's high-water mark.
    """
    with tempfile.NamedTemporaryFile("r") as usage, tempfile.TemporaryFile() as errors:
        completed = subprocess.run(["/usr/bin/time", "-f", "%e %U %S %M", "-o", usage.name, *command],
                                   stdout=subprocess.DEVNULL, stderr=errors, check=False)
        if completed.returncode != 0:
            errors.seek(0)
            raise SystemExit(f"{name} failed ({completed.returncode}):\n{errors.read()[-3000:].decode(errors='replace')}")
        wall, user, system, peak_kb = usage.read().split()[-4:]
    return {"seconds": float(wall), "wall": float(wall), "cpu": float(user) + float(system),
            "peak_rss_mb": int(peak_kb) / 1024, "operation_mb": None}


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


def run_case(spec: CaseSpec, root: Path, compressions: list[str], repeat: int, today_timeout: float) -> list[dict]:
    name = spec.name
    case = build_case(spec, root / f"case_{name}")
    work = root / f"work_{name}"
    work.mkdir(exist_ok=True)
    cli = shutil.which("dicomlabelmapseg", path=str(Path(sys.executable).parent)) or "dicomlabelmapseg"
    rows = []

    def add(row: dict) -> None:
        rows.append(row | {"case": name, "label_mb": spec.label_bytes / 2**20})
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
        if "binary" in operation and not spec.binary:
            continue
        timeout = today_timeout if operation.startswith("today") else None
        add(measure(operation, case, work, "none", repeat, timeout))
    return rows


def ratios(rows: list[dict]) -> list[str]:
    """The ratios the project is held to, one line each (targets in brackets; n/a where a figure is missing)."""
    def get(case, operation, compression=None, key="seconds"):
        for row in rows:
            same = row["case"] == case and row["operation"] == operation
            if same and (compression is None or row["compression"] == compression):
                return row[key]
        return None

    def one_process(case, operation):
        # measure.py runs an operation twice in one process; without the second, timed run its wall
        # time is what one process doing the work once takes, start-up included.
        wall, seconds = get(case, operation, key="wall"), get(case, operation)
        return wall - seconds if wall is not None and seconds is not None else None

    def ratio(numerator, denominator, digits=2):
        return f"{numerator / denominator:.{digits}f}" if numerator is not None and denominator else "n/a"

    lines = []
    for case in _cases_in_order(rows):
        compressions = sorted({row["compression"] for row in rows if row["case"] == case and row["operation"] == "ours_export"})
        for compression in compressions:
            highdicom_export = get(case, "highdicom_export", compression)
            lines.append(f"{case} {compression}: export ours, one core / highdicom (one core) = "
                         f"{ratio(get(case, 'ours_export', compression), highdicom_export)} [<= 1.1]")
            lines.append(f"{case} {compression}: export ours, all cores / highdicom (one core) = "
                         f"{ratio(get(case, 'ours_export_all_cores', compression), highdicom_export)} [B: <= 0.5]")
            lines.append(f"{case} {compression}: load ours / highdicom get_volume = "
                         f"{ratio(get(case, 'ours_load', compression), get(case, 'highdicom_load', compression))} [<= 0.6]")
            lines.append(f"{case} {compression}: CLI export ours / today (one process each) = "
                         f"{ratio(get(case, 'cli_export', compression, 'wall'), one_process(case, 'today_export'))}"
                         " [<= 0.7; B: <= 0.6]")
            lines.append(f"{case} {compression}: CLI load ours / today (one process each) = "
                         f"{ratio(get(case, 'cli_import', compression, 'wall'), one_process(case, 'today_load'))} [<= 0.7]")
        default = "rle" if "rle" in compressions else compressions[0]
        load = get(case, "ours_load", default)
        lines.append(f"{case}: load into node, LABELMAP ({default}): {load:.3f} s, ours / today = "
                     f"{ratio(load, get(case, 'today_load'), 3)} [C: <= 0.1; D: <= 0.05 and < 1 s]")
        if get(case, "ours_load_binary") is not None:
            lines.append(f"{case}: load into node, BINARY, ours / today = "
                         f"{ratio(get(case, 'ours_load_binary'), get(case, 'today_load_binary'), 3)} [C: <= 0.1]")
        seg_nrrd = get(case, "segnrrd_write", key="output_bytes")
        full_frames = min(get(case, "ours_export", c, "output_bytes") for c in compressions)
        lines.append(f"{case}: smallest SEG with full frames (OHIF reads it) / .seg.nrrd = {ratio(full_frames, seg_nrrd)}")
        if "deflate" in compressions:
            cropped = get(case, "ours_export_cropped", "deflate", "output_bytes")
            lines.append(f"{case}: smallest SEG (deflate, frames cropped to the segments) / .seg.nrrd = "
                         f"{ratio(cropped, seg_nrrd)} [<= 1]")
        if "rle" in compressions and get(case, "ours_load_binary") is not None:
            binary = get(case, "ours_load_binary", key="output_bytes")
            lines.append(f"{case}: uncompressed BINARY SEG / RLE LABELMAP = "
                         f"{ratio(binary, get(case, 'ours_export', 'rle', 'output_bytes'), 1)}x [C: >= 15x]")
        label_mb = _label_mb(rows, case)
        budget = 2 * label_mb + 300
        for row in rows:
            if row["case"] == case and row["operation"] in ("ours_export", "ours_load") and row["operation_mb"] is not None:
                lines.append(f"{case} {row['compression']}: memory {row['operation']} adds = {row['operation_mb']:.0f} MB = "
                             f"{row['operation_mb'] / label_mb:.1f} x labels [<= 2 x labels + 300 = {budget:.0f} MB]")
        for row in rows:
            if row["case"] == case and row.get("timed_out"):
                lines.append(f"{case}: {row['operation']} did not finish within {row['timed_out']:.0f} s")
    return lines


def growth(rows: list[dict]) -> list[str]:
    """How each operation's time grows from case to case, beside the growth of the label volume."""
    cases = _cases_in_order(rows)
    lines = []
    if len(cases) < TWO_CASES:
        return lines
    sizes = " -> ".join(f"{case} {_label_mb(rows, case):.0f} MB" for case in cases)
    lines.append(f"labels: {sizes}")
    keys = sorted({(row["operation"], row["compression"]) for row in rows}, key=lambda key: (key[0], key[1]))
    for operation, compression in keys:
        times = []
        for case in cases:
            match = [row for row in rows if (row["case"], row["operation"], row["compression"]) == (case, operation, compression)]
            times.append(match[0]["seconds"] if match else None)
        if sum(time is not None for time in times) < TWO_CASES:
            continue
        steps = []
        for case, previous, now in zip(cases, [None, *times[:-1]], times, strict=True):
            shown = f"{now:.2f} s" if now is not None else "-"
            factor = f" (x{now / previous:.1f})" if now is not None and previous else ""
            steps.append(f"{case} {shown}{factor}")
        lines.append(f"{operation} {compression}: " + " -> ".join(steps))
    return lines


def _cases_in_order(rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(row["case"] for row in rows))


def _label_mb(rows: list[dict], case: str) -> float:
    return next(row["label_mb"] for row in rows if row["case"] == case)


def _line(row: dict) -> str:
    def megabytes(value: float | None) -> str:
        return f"{value:.0f}" if value is not None else "-"

    if row.get("timed_out"):
        unfinished = f"did not finish in {row['timed_out']:.0f} s"
        return f"| {row['case']} | {row['compression']} | {row['operation']} | {unfinished} | | | | |"
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
    parser.add_argument("--slices", type=int, help="run D and E over this many slices (default: their full length)")
    parser.add_argument("--today-timeout", type=float, default=600, help="seconds today's path may take per process")
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
        specs = [scaled(CASES[name], arguments.slices) for name in names]
        rows = [row for spec in specs for row in run_case(spec, root, compressions, arguments.repeat, arguments.today_timeout)]
    print()
    for line in [*ratios(rows), "", *growth(rows)]:
        print(line)
    arguments.json.write_text(json.dumps({"machine": info, "rows": rows, "ratios": ratios(rows), "growth": growth(rows)},
                                         indent=2))


if __name__ == "__main__":
    main()
