"""The benchmark script still runs end to end (on the tiny case S), on the right data; its timings are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
from conftest import PROJECT_ROOT, on_grid

from DicomManager import read_source_series_folder
from DicomManager.core.label_files.label_volume_files import read_label_volume


def run_benchmark(script: str, tmp_path: Path, *arguments: str) -> tuple[subprocess.CompletedProcess, dict]:
    """``benchmarks/<script>`` run once on the smoke case S as a process; its output and the JSON it wrote."""
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / script), "--cases", "S", "--repeat", "1",
         "--work", str(tmp_path / "work"), "--json", str(results), *arguments],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    return completed, json.loads(results.read_text())


def test_benchmark_runs_every_operation_on_the_smoke_case(tmp_path, scene):
    _completed, document = run_benchmark("run.py", tmp_path, "--compressions", "rle,deflate")
    operations = {row["operation"] for row in document["rows"]}
    assert operations == {
        "ours_export", "ours_export_all_cores", "highdicom_export", "ours_load", "highdicom_load", "cli_export", "cli_import",
        "ours_export_cropped", "ours_load_cropped", "cli_export_cropped",
        "ours_load_binary", "today_export", "today_load", "today_load_binary", "segnrrd_write", "segnrrd_read",
    }
    assert all(row["seconds"] > 0 and row["output_bytes"] > 0 for row in document["rows"])
    assert any("export ours, all cores / highdicom" in line for line in document["ratios"])
    assert any("memory ours_export adds" in line for line in document["ratios"])
    assert any("frames cropped to the segments) / .seg.nrrd" in line for line in document["ratios"])

    # What it measured is what it says: the CLI's SEGs hold the case's labels (read by highdicom, against the
    # label volume the case was built from, read by slicer-core), and each row's size is its file's.
    work, case = tmp_path / "work" / "work_S", tmp_path / "work" / "case_S"
    labels = read_label_volume(case / "labels.nrrd")
    grid = read_source_series_folder(case / "ct").geometry
    for compression in ("rle", "deflate"):
        seg = work / f"cli_{compression}.dcm"
        np.testing.assert_array_equal(on_grid(hd.seg.segread(seg).get_volume(combine_segments=True), grid), on_grid(labels, grid))
        (row,) = [r for r in document["rows"] if r["operation"] == "cli_export" and r["compression"] == compression]
        assert row["output_bytes"] == seg.stat().st_size


def test_growth_and_ratios_read_several_cases_and_unfinished_baselines():
    sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
    import run

    def row(case, operation, seconds, compression="rle", *, wall=None, mb=None, output=1000):
        return {"case": case, "operation": operation, "compression": compression, "seconds": seconds,
                "wall": wall if wall is not None else seconds, "peak_rss_mb": None, "operation_mb": mb,
                "output_bytes": output, "label_mb": {"B": 75.0, "C": 150.0}[case]}

    rows = [
        row("B", "ours_export", 1.0, mb=150), row("B", "ours_export_all_cores", 0.8), row("B", "highdicom_export", 2.0),
        row("B", "ours_load", 0.1, mb=75), row("B", "highdicom_load", 0.2), row("B", "cli_export", 1.5),
        row("B", "cli_import", 0.5), row("B", "today_export", 1.0, "none", wall=4.0),
        row("B", "today_load", 1.0, "none", wall=3.0),
        row("B", "segnrrd_write", 0.1, "none", output=500),
        row("C", "ours_export", 3.0, mb=450), row("C", "highdicom_export", 6.0), row("C", "ours_load", 0.2, mb=150),
        {**row("C", "today_export", None, "none"), "wall": None, "output_bytes": None, "timed_out": 300},
    ]
    growth = run.growth(rows)
    assert "labels: B 75 MB -> C 150 MB" in growth
    assert "ours_export rle: B 1.00 s -> C 3.00 s (x3.0)" in growth
    lines = run.ratios(rows)
    assert "B rle: export ours, all cores / highdicom (one core) = 0.40 [B: <= 0.5]" in lines
    assert "B rle: CLI export ours / today (one process each) = 0.50 [<= 0.7; B: <= 0.6]" in lines
    assert "C rle: CLI export ours / today (one process each) = n/a [<= 0.7; B: <= 0.6]" in lines
    assert "C: today_export did not finish within 300 s" in lines
    assert any(line.startswith("C rle: memory ours_export adds = 450 MB = 3.0 x labels") for line in lines)


def test_browser_path_benchmark_compares_this_checkout_with_a_baseline_checkout(tmp_path):
    """The browser benchmark runs both orders for this checkout and a baseline; what it counts is what was opened.

    The baseline is HEAD, so that a clone without the history before seg-once runs it too.
    """
    completed, document = run_benchmark("browser_path.py", tmp_path, "--baseline", "HEAD")
    ratio_rows = [line for line in completed.stdout.splitlines() if line.startswith("| S |")]
    assert [row.split(" | ")[1] for row in ratio_rows] == ["ct-first", "seg-first"]
    assert all(row.count("**") == 6 for row in ratio_rows)  # examine, the SEG's load and their sum: current / baseline
    assert document["machine"]["baseline"] == subprocess.run(
        ["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    for row in document["rows"]:
        current, baseline = row["current"], row["baseline"]
        for side in (current, baseline):  # as test_dicom_browser_loop counts: the baseline is this code, committed
            assert (side["seg_opens_examine"], side["seg_opens_load"]) == (1, 1)
        assert all(side[key] > 0 for side in (current, baseline) for key in ("examine_s", "load_s", "ct_load_s"))
