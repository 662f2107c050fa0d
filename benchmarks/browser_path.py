"""The DICOM browser's path, examine and load of a SEG and its CT, by this checkout and by a baseline, side by side.

    python benchmarks/browser_path.py [--cases B,D] [--slices 750] [--baseline REV] [--orders ct-first,seg-first]
                                      [--compression rle] [--repeat N] [--work DIR]

For each case (cases.py; D and E over ``--slices``) the case's segmentation is written as a
LABELMAP SEG by this checkout's CLI, and the DICOM browser examines the SEG and the CT series and
loads what it preselects, as Slicer runs it (``browser_session.py``: our plugin's module file and
its ``DicomManager``, slicer-core's scene and a Qt event loop). Two orders: ``ct-first`` (the CT's
plugin loads first, the SEG goes onto its grid) and ``seg-first`` (the SEG loads on its own grid and
moves onto the CT when that arrives). Each session is a process of its own, this checkout's and the
baseline's in turn, ``--repeat`` times (default 5 for A and B, 3 for larger cases). The baseline,
by default main before the merge that reads a SEG once per browser step, is taken from git into
``--work``.

The table shows, per case and order, medians of the examine step, the SEG's share of the load (the
load of the batch less the CT's own load, the move included), their sum, how often each step opened
the SEG file, and the process's peak memory, each as current / baseline. Results go to
``benchmarks/browser_path.json``, with the memory each step added (measure.py's ``measured``).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from browser_session import ORDERS  # noqa: E402
from cases import CASES, CaseSpec, build_case, scaled  # noqa: E402
from cli_peers import SMALL_CASES, tool  # noqa: E402
from run import machine, run_process  # noqa: E402

SEG_ONCE_BASELINE = "b7a14ec7598bf38b368c3ba12eee3b9d66eb3e8c^1"
"""main before the merge of seg-once, which made the browser read a SEG once per step."""
MEASURED_FOLDERS = ("DicomManager", "DICOMLabelMapSegPlugin")
"""What a baseline checkout needs: the library and the plugin's module file."""
TIMES = ("examine_s", "load_s", "ct_load_s", "seg_s")
MOST = ("peak_mb", "examine_mb", "load_mb", "seg_opens_examine", "seg_opens_load")
"""Of a session's figures, those summed up by their largest: memory, and the opens of the SEG."""


def commit_of(revision: str) -> str:
    """The full hash of ``revision`` in this repository."""
    return _git("rev-parse", "--verify", f"{revision}^{{commit}}").strip()


def baseline_checkout(revision: str, work: Path) -> Path:
    """The measured folders of ``revision``, taken from git into ``work`` (reused when there)."""
    commit = commit_of(revision)
    folder = work / f"checkout_{commit[:12]}"
    if not (folder / "DicomManager" / "__init__.py").is_file():
        archive = subprocess.run(["git", "-C", str(PROJECT_ROOT), "archive", "--format=tar", commit, *MEASURED_FOLDERS],
                                 capture_output=True, check=True).stdout
        partial = folder.with_name(folder.name + ".partial")
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        partial.rename(folder)
    return folder


def this_checkout() -> str:
    """This working tree, as ``git describe`` names it (``-dirty`` where it has changes)."""
    return _git("describe", "--always", "--dirty").strip()


def _git(*arguments: str) -> str:
    return subprocess.run(["git", "-C", str(PROJECT_ROOT), *arguments], capture_output=True, text=True, check=True).stdout


def written_seg(case: Path, work: Path, compression: str) -> Path:
    """The case's segmentation as a LABELMAP SEG written by this checkout's CLI (reused when there)."""
    seg = work / f"seg_{compression}.dcm"
    if not seg.is_file():
        run_process("dicomlabelmapseg export", [
            tool("dicomlabelmapseg"), "export", "--reference", str(case / "ct"),
            "--segmentation", str(case / "segmentation.seg.nrrd"), "--output", str(seg), "--compression", compression,
        ])
    return seg


def session(checkout: Path, case: Path, seg: Path, order: str, result: Path) -> dict:
    """One browser session in a process of its own: what it measured, with the process's wall time and peak memory."""
    process = run_process(f"browser session ({checkout})", [
        sys.executable, str(HERE / "browser_session.py"), str(checkout), str(case), str(seg), order, str(result),
    ])
    measured = json.loads(result.read_text())
    if Path(measured["dicom_manager"]).resolve() != (checkout / "DicomManager").resolve():
        raise SystemExit(f"the session of {checkout} measured the DicomManager of {measured['dicom_manager']}")
    return measured | {"seg_s": measured["load_s"] - measured["ct_load_s"],
                       "process_s": process["wall"], "peak_mb": process["peak_rss_mb"]}


def summary(runs: list[dict]) -> dict:
    """Median times; the most memory, and the most opens of the SEG (the same in every run), of any run."""
    return {
        **{key: statistics.median(run[key] for run in runs) for key in (*TIMES, "process_s")},
        **{key: max(run[key] for run in runs) for key in MOST},
    }


def run_case(spec: CaseSpec, checkouts: dict[str, Path], orders: list[str], compression: str, repeat: int | None,
             root: Path) -> list[dict]:
    """Each order of one case: the sessions of the checkouts run in turn, ``repeat`` times."""
    case = build_case(spec, root / f"case_{spec.name}")
    work = root / f"browser_{spec.name}"
    work.mkdir(parents=True, exist_ok=True)
    seg = written_seg(case, work, compression)
    repeat = repeat or (5 if spec.name in SMALL_CASES else 3)
    rows = []
    for order in orders:
        runs: dict[str, list[dict]] = {side: [] for side in checkouts}
        for _ in range(repeat):
            for side, checkout in checkouts.items():
                runs[side].append(session(checkout, case, seg, order, work / f"{side}.json"))
        rows.append({"case": spec.name, "order": order, **{side: summary(runs[side]) for side in checkouts}})
        print(row_line(rows[-1]), flush=True)
    return rows


def row_line(row: dict) -> str:
    """One case and order: each figure as current / baseline, the times' ratios in bold."""
    current, baseline = row["current"], row["baseline"]

    def seconds(key: str, add: str | None = None) -> str:
        mine, theirs = (side[key] + (side[add] if add else 0.0) for side in (current, baseline))
        return f"{mine:.3f} / {theirs:.3f} = **{mine / theirs:.2f}**"

    def opens(side: dict) -> str:
        return f"{side['seg_opens_examine']} + {side['seg_opens_load']}"

    return (f"| {row['case']} | {row['order']} | {seconds('examine_s')} | {seconds('seg_s')} "
            f"| {seconds('examine_s', 'seg_s')} | {opens(current)} / {opens(baseline)} "
            f"| {current['ct_load_s']:.2f} / {baseline['ct_load_s']:.2f} "
            f"| {current['peak_mb']:.0f} / {baseline['peak_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="B,D")
    parser.add_argument("--slices", type=int, default=750, help="run D and E over this many slices (default 750)")
    parser.add_argument("--baseline", default=SEG_ONCE_BASELINE,
                        help="the git revision compared with this working tree (default: main before seg-once)")
    parser.add_argument("--orders", default=",".join(ORDERS))
    parser.add_argument("--compression", default="rle", help="of the SEG the browser loads")
    parser.add_argument("--repeat", type=int, help="sessions of each checkout (default 5 for A and B, 3 for larger cases)")
    parser.add_argument("--work", type=Path, help="keep cases and the baseline here between runs (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=HERE / "browser_path.json")
    arguments = parser.parse_args()
    orders = arguments.orders.split(",")
    if unknown := set(orders) - set(ORDERS):
        parser.error(f"--orders: {', '.join(sorted(unknown))} (known: {', '.join(ORDERS)})")
    info = machine() | {"current": this_checkout(), "baseline": commit_of(arguments.baseline)}
    print(f"Machine: {info}")
    print(f"Current: this working tree ({info['current']}); baseline: {arguments.baseline} ({info['baseline'][:12]})")
    print("| case | order | examine (s) | SEG's load (s) | examine + SEG's load (s) | SEG opened, examine + load "
          "| the CT's load (s) | process peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        root = arguments.work or Path(temporary)
        root.mkdir(parents=True, exist_ok=True)
        checkouts = {"current": PROJECT_ROOT, "baseline": baseline_checkout(arguments.baseline, root)}
        specs = [scaled(CASES[name], arguments.slices) for name in arguments.cases.split(",")]
        rows = [row for spec in specs
                for row in run_case(spec, checkouts, orders, arguments.compression, arguments.repeat, root)]
    print("\nEach figure is current / baseline; every session ended with the case's labels on the CT's grid.")
    arguments.json.write_text(json.dumps({"machine": info, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
