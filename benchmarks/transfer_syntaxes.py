"""Which readers open our SEG in each transfer syntax, and how big it is: the README's table.

Writes the built-in demo case (10 segments, 96x96x40) in every compression, then
reads each file with highdicom and with dcmqi's segimage2itkimage and prints a
Markdown table. Run: python benchmarks/transfer_syntaxes.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import highdicom as hd
import numpy as np

from DicomManager import Compression, ExportOptions, read_source_series, write_labelmap_seg
from DicomManager.cli.demo import make_demo_case


def dcmqi_opens(path: Path, work: Path) -> bool:
    tool = shutil.which("segimage2itkimage", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    output = work / f"dcmqi-{path.stem}"
    output.mkdir()
    completed = subprocess.run(
        [tool, "--inputDICOM", str(path), "--outputDirectory", str(output), "--mergeSegments"],
        capture_output=True, check=False,
    )
    return completed.returncode == 0 and any(output.glob("*.nrrd"))


def highdicom_reads(path: Path, labels: hd.Volume) -> str:
    """'yes' when highdicom reads back ``labels``, 'NO' when it reads others, 'no' when it refuses the file."""
    try:
        volume = hd.seg.segread(path).get_volume(combine_segments=True)
    except ValueError:  # a transfer syntax the installed pydicom does not know
        return "no"
    return "yes" if np.array_equal(volume.match_geometry(labels.get_geometry()).array, labels.array) else "NO"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        case = make_demo_case(work / "ct")
        source = read_source_series(case.series_files)
        print("| compression | transfer syntax | size (kB) | highdicom reads it | dcmqi 1.5.7 reads it |")
        print("|---|---|---|---|---|")
        for compression in Compression:
            path = work / f"{compression.value}.dcm"
            write_labelmap_seg(case.labels, case.segments, source, path.parent, ExportOptions(file_name=path.name,
                compression=compression))
            print(
                f"| `{compression.value}` | {compression.transfer_syntax_uid.name} | {path.stat().st_size / 1e3:.1f} "
                f"| {highdicom_reads(path, case.labels)} | {'yes' if dcmqi_opens(path, work) else 'no'} |"
            )


if __name__ == "__main__":
    main()
