"""The benchmark script still runs end to end (on the tiny case S); its numbers are not judged here."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import PROJECT_ROOT


def test_benchmark_runs_every_operation_on_the_smoke_case(tmp_path):
    results = tmp_path / "results.json"
    completed = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "benchmarks" / "run.py"), "--cases", "S", "--compressions", "rle,deflate",
         "--repeat", "1", "--work", str(tmp_path / "work"), "--json", str(results)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    document = json.loads(results.read_text())
    operations = {row["operation"] for row in document["rows"]}
    assert operations == {
        "ours_export", "highdicom_export", "ours_load", "highdicom_load", "cli_export", "cli_import",
        "ours_export_cropped", "ours_load_cropped", "cli_export_cropped",
        "ours_load_binary", "today_export", "today_load", "today_load_binary", "segnrrd_write", "segnrrd_read",
    }
    assert all(row["seconds"] > 0 and row["output_bytes"] > 0 for row in document["rows"])
    assert any("export ours / highdicom" in line for line in document["ratios"])
    assert any("frames cropped to the segments) / .seg.nrrd" in line for line in document["ratios"])
