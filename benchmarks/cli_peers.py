"""Our command line against what a pipeline would run instead: dcmqi's LABELMAP writers and bare start-up.

    python benchmarks/cli_peers.py [--cases A,B] [--slices 750] [--repeat N] [--work DIR]

For each case (cases.py), every command a whole process of its own, the two of a pair run in turn:

- ``dicomlabelmapseg export`` from the label ``.nrrd`` (with dcmqi's metadata JSON) and from the
  ``.seg.nrrd``, against dcmqi's own LABELMAP writer, ``itkimage2segimage --segmentationType
  labelmap --useLabelIDAsSegmentNumber`` from the same label ``.nrrd`` and JSON, for each syntax
  both write (``none``, ``deflate``);
- ``dicomlabelmapseg convert`` of a BINARY SEG written by dcmqi (a tree holding it and its series,
  and one holding it alone, as ``bin2labelsegimage`` takes it) against ``bin2labelsegimage`` of the
  same file, for ``none``, ``rle`` and ``deflate``;
- ``info`` of our uncompressed LABELMAP SEG and of dcmqi's BINARY SEG, each against
  ``pydicom.dcmread(FILE, stop_before_pixels=True)`` in a bare interpreter, and, once per run,
  ``dicomlabelmapseg --help`` and ``dicomlabelmapseg export --help`` against ``python -c pass``.

Each pair is run ``--repeat`` times (default 5 for A and B, 3 for the larger cases); the tables
show median wall and CPU time (user + system, the process's and its workers'), the largest peak
resident memory of one process of the command (its workers' included, as ``/usr/bin/time -f %M``
reports it), and ours / dcmqi. After the timings, every SEG of a pair is read back with
highdicom and the run stops unless ours and dcmqi's hold the same label volume on the same grid.
Results go to ``benchmarks/cli_peers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES, build_case, scaled  # noqa: E402
from run import machine, run_process  # noqa: E402

EXPORT_SYNTAXES = ("none", "deflate")
CONVERT_SYNTAXES = ("none", "rle", "deflate")
SMALL_CASES = ("S", "A", "B")
"""Cases run 5 times by default; larger ones 3 times."""


@dataclass(frozen=True)
class Command:
    """One side of a pair: its argument list, the file it writes and what must go before each run."""

    name: str
    arguments: list[str]
    output: Path
    output_tree: Path | None = None
    """A folder removed before each run (``convert`` skips outputs that exist)."""

    def run(self) -> dict:
        if self.output_tree is not None:
            shutil.rmtree(self.output_tree, ignore_errors=True)
        return run_process(self.name, self.arguments)


def tool(name: str) -> str:
    """A program installed beside this Python (dcmqi's, ours), else on ``PATH``."""
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]))
    if not found:
        raise SystemExit(f"{name} is not installed beside {sys.executable} (pip install dcmqi, pip install -e .)")
    return found


def in_turn(ours: Command, theirs: Command, repeat: int) -> tuple[dict, dict]:
    """Run the two commands alternately ``repeat`` times; the summary of each."""
    runs: dict[str, list[dict]] = {ours.name: [], theirs.name: []}
    for _ in range(repeat):
        for command in (ours, theirs):
            runs[command.name].append(command.run())
    return summary(ours, runs[ours.name]), summary(theirs, runs[theirs.name])


def summary(command: Command, runs: list[dict]) -> dict:
    return {
        "command": command.name,
        "wall": statistics.median(run["wall"] for run in runs),
        "cpu": statistics.median(run["cpu"] for run in runs),
        "peak_mb": max(run["peak_rss_mb"] for run in runs),
        "output_bytes": command.output.stat().st_size,
    }


def dcmqi_binary_seg(case: Path) -> Path:
    """The case as a BINARY SEG written by dcmqi from its label ``.nrrd``: what ``bin2labelsegimage`` converts."""
    path = case / "dcmqi_binary.dcm"
    if not path.is_file():
        run_process("itkimage2segimage (binary)", [
            tool("itkimage2segimage"), "--inputImageList", str(case / "labels.nrrd"),
            "--inputDICOMDirectory", str(case / "ct"), "--inputMetadata", str(case / "dcmqi.json"),
            "--outputDICOM", str(path),
        ])  # numbered from 1 in order: dcmqi's BINARY refuses label IDs with gaps (case A lacks one)
    return path


def convert_tree(case: Path, work: Path, with_series: bool) -> Path:
    """A tree as ``convert`` takes it: the dcmqi BINARY SEG beside its series, or alone (files linked, not copied)."""
    tree = work / ("convert_input" if with_series else "convert_input_alone")
    if not (tree / "seg.dcm").is_file():
        tree.mkdir(parents=True, exist_ok=True)
        for image in (case / "ct").glob("*.dcm") if with_series else ():
            target = tree / "ct" / image.name
            target.parent.mkdir(exist_ok=True)
            if not target.exists():
                os.link(image, target)
        os.link(dcmqi_binary_seg(case), tree / "seg.dcm")
    return tree


def export_pairs(case: Path, work: Path) -> list[tuple[str, str, Command, Command]]:
    """(comparison, syntax, ours, dcmqi) for every export compared."""
    cli, dcmqi = tool("dicomlabelmapseg"), tool("itkimage2segimage")
    pairs = []
    for syntax in EXPORT_SYNTAXES:
        theirs_output = work / f"dcmqi_labelmap_{syntax}.dcm"
        theirs = Command("itkimage2segimage", [
            dcmqi, "--inputImageList", str(case / "labels.nrrd"), "--inputDICOMDirectory", str(case / "ct"),
            "--inputMetadata", str(case / "dcmqi.json"), "--outputDICOM", str(theirs_output),
            "--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber", "--compress", syntax,
        ], theirs_output)
        for stem, source, inputs in (("label", "label .nrrd", ["labels.nrrd", "--metadata", str(case / "dcmqi.json")]),
                                     ("segnrrd", ".seg.nrrd", ["segmentation.seg.nrrd"])):
            output = work / f"ours_{stem}_{syntax}.dcm"
            ours = Command("dicomlabelmapseg export", [
                cli, "export", "--reference", str(case / "ct"), "--segmentation", str(case / inputs[0]), *inputs[1:],
                "--output", str(output), "--compression", syntax, "--force",
            ], output)
            pairs.append((f"export from the {source} / itkimage2segimage", syntax, ours, theirs))
    return pairs


def convert_pairs(case: Path, work: Path) -> list[tuple[str, str, Command, Command]]:
    """(comparison, syntax, ours, dcmqi) for converting the dcmqi BINARY SEG in each syntax."""
    cli, dcmqi = tool("dicomlabelmapseg"), tool("bin2labelsegimage")
    binary = dcmqi_binary_seg(case)
    pairs = []
    for syntax in CONVERT_SYNTAXES:
        theirs_output = work / f"dcmqi_converted_{syntax}.dcm"
        theirs = Command("bin2labelsegimage", [
            dcmqi, "--inputDICOM", str(binary), "--outputDICOM", str(theirs_output), "--compress", syntax,
        ], theirs_output)
        for with_series, where in ((True, "beside its series"), (False, "alone")):
            output_tree = work / f"convert_output_{syntax}_{'series' if with_series else 'alone'}"
            ours = Command("dicomlabelmapseg convert", [
                cli, "convert", str(convert_tree(case, work, with_series)), str(output_tree), "--compression", syntax,
                "--quiet",
            ], output_tree / "seg.dcm", output_tree)
            pairs.append((f"convert a dcmqi BINARY SEG {where} / bin2labelsegimage", syntax, ours, theirs))
    return pairs


def startup_pairs(segs: dict[str, Path] | None) -> list[tuple[str, Command, Command]]:
    """(comparison, ours, baseline): the help once per run when ``segs`` is None, else ``info`` of each SEG named."""
    cli = tool("dicomlabelmapseg")
    if segs is None:
        bare = Command("python -c pass", [sys.executable, "-c", "pass"], Path(sys.executable))
        return [(f"`dicomlabelmapseg {' '.join(help_of)}` / `python -c pass`",
                 Command(f"dicomlabelmapseg {' '.join(help_of)}", [cli, *help_of], Path(cli)), bare)
                for help_of in (["--help"], ["export", "--help"])]
    pairs = []
    for kind, seg in segs.items():
        header_read = f"import pydicom; pydicom.dcmread({str(seg)!r}, stop_before_pixels=True)"
        pairs.append((f"`info` of a {kind} / pydicom header read",
                      Command(f"dicomlabelmapseg info ({kind})", [cli, "info", str(seg)], seg),
                      Command(f"pydicom.dcmread ({kind})", [sys.executable, "-c", header_read], seg)))
    return pairs


def same_labels(ours: Path, theirs: Path) -> None:
    """Stop unless highdicom reads the same label volume, on the same grid, from both SEGs."""
    import highdicom as hd
    import numpy as np

    volumes = [hd.seg.segread(path).get_volume(combine_segments=True) for path in (ours, theirs)]
    ours_volume = volumes[0].match_geometry(volumes[1].get_geometry()) if volumes[0].shape != volumes[1].shape \
        else volumes[0]
    if not np.allclose(ours_volume.affine, volumes[1].affine, atol=1e-4):
        raise SystemExit(f"{ours} and {theirs}: different grids\n{ours_volume.affine}\n{volumes[1].affine}")
    if not np.array_equal(ours_volume.array, volumes[1].array):
        differ = int(np.count_nonzero(ours_volume.array != volumes[1].array))
        raise SystemExit(f"{ours} and {theirs}: {differ} voxels differ")


def run_case(name: str, root: Path, repeat: int | None, slices: int | None) -> tuple[list[dict], list[dict]]:
    """The timed pairs of one case (peer rows, start-up rows), each pair's outputs checked afterwards."""
    spec = scaled(CASES[name], slices)
    case = build_case(spec, root / f"case_{spec.name}")
    work = root / f"peers_{spec.name}"
    work.mkdir(parents=True, exist_ok=True)
    repeat = repeat or (5 if name in SMALL_CASES else 3)
    peers, startup = [], []
    for comparison, syntax, ours, theirs in [*export_pairs(case, work), *convert_pairs(case, work)]:
        mine, dcmqi = in_turn(ours, theirs, repeat)
        same_labels(ours.output, theirs.output)
        peers.append({"case": spec.name, "comparison": comparison, "syntax": syntax, "ours": mine, "dcmqi": dcmqi})
        print(peer_line(peers[-1]), flush=True)
    segs = {"LABELMAP (ours, uncompressed)": work / "ours_label_none.dcm", "BINARY (dcmqi's)": dcmqi_binary_seg(case)}
    for comparison, ours, baseline in startup_pairs(segs):
        mine, theirs = in_turn(ours, baseline, repeat)
        startup.append({"case": spec.name, "comparison": comparison, "ours": mine, "baseline": theirs})
    return peers, startup


def peer_line(row: dict) -> str:
    ours, dcmqi = row["ours"], row["dcmqi"]
    return (f"| {row['case']} | {row['comparison']} | {row['syntax']} | {ours['wall']:.2f} / {dcmqi['wall']:.2f} = "
            f"**{ours['wall'] / dcmqi['wall']:.2f}** | {ours['cpu'] / dcmqi['cpu']:.2f} "
            f"| {ours['peak_mb']:.0f} / {dcmqi['peak_mb']:.0f} = {ours['peak_mb'] / dcmqi['peak_mb']:.2f} "
            f"| {ours['output_bytes'] / 1e3:.1f} / {dcmqi['output_bytes'] / 1e3:.1f} |")


def startup_line(row: dict) -> str:
    ours, baseline = row["ours"], row["baseline"]
    return (f"| {row['case']} | {row['comparison']} | {ours['wall']:.3f} / {baseline['wall']:.3f} "
            f"| {ours['wall'] - baseline['wall']:+.3f} | **{ours['wall'] / baseline['wall']:.2f}** "
            f"| {ours['peak_mb']:.0f} / {baseline['peak_mb']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="A,B")
    parser.add_argument("--slices", type=int, help="run D and E over this many slices (default: their full length)")
    parser.add_argument("--repeat", type=int, help="runs of each pair (default 5 for A and B, 3 for larger cases)")
    parser.add_argument("--work", type=Path, help="keep cases here between runs (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=HERE / "cli_peers.json")
    arguments = parser.parse_args()
    info = machine()
    print(f"Machine: {info}")
    print("| case | ours / dcmqi 1.5.7 | syntax | wall (s) | CPU | peak MB | output kB |")
    print("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as temporary:
        root = arguments.work or Path(temporary)
        peers, startup = [], []
        for name in arguments.cases.split(","):
            case_peers, case_startup = run_case(name, root, arguments.repeat, arguments.slices)
            peers += case_peers
            startup += case_startup
        for comparison, ours, baseline in startup_pairs(None):
            mine, theirs = in_turn(ours, baseline, arguments.repeat or 5)
            startup.append({"case": "-", "comparison": comparison, "ours": mine, "baseline": theirs})
    print("\nEvery pair's SEGs hold the same labels on the same grid (read with highdicom).\n")
    print("| case | start-up | wall (s) | difference (s) | ratio | peak MB |")
    print("|---|---|---|---|---|---|")
    for row in startup:
        print(startup_line(row))
    arguments.json.write_text(json.dumps({"machine": info, "peers": peers, "startup": startup}, indent=2))


if __name__ == "__main__":
    main()
