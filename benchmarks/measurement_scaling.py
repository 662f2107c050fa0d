"""How long segment statistics take, and how much memory, over a benchmark case's labels.

    nice python benchmarks/measurement_scaling.py [--case D]

Builds the case's labels and CT-like values in memory (cases.py; no files),
the values as float32 as ``read_series_voxels`` gives them, and measures
every segment once with :func:`segment_statistics`. It prints the labelled
voxels, the wall time of the statistics, the peak of what they allocate
above their inputs (``tracemalloc``, which NumPy reports its arrays to), and
the process's peak resident memory (``resource.getrusage``; the process is
fresh, so this covers building the inputs too).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cases import CASES, _organs  # noqa: E402


def main() -> None:
    import highdicom as hd
    import numpy as np

    from DicomManager import LayeredSegmentation, SegmentMetadata
    from DicomManager.core.measurements.segment_statistics import segment_statistics

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="D", choices=sorted(CASES))
    spec = CASES[parser.parse_args().case]

    labels, voxels = _organs(spec)
    affine = np.diag([400 / spec.shape[1], 400 / spec.shape[2], 600 / spec.shape[0], 1.0])
    image = hd.Volume(voxels.astype(np.float32), affine, "PATIENT", hd.UID())
    del voxels
    numbers = [int(n) for n in np.unique(labels) if n]
    segments = [SegmentMetadata(number=n, label=f"Organ {n}") for n in numbers]
    layer = hd.Volume(labels, affine, "PATIENT", image.frame_of_reference_uid)
    segmentation = LayeredSegmentation([layer], segments, dict.fromkeys(numbers, 0))

    tracemalloc.start()
    started = time.perf_counter()
    statistics = segment_statistics(segmentation, image)
    seconds = time.perf_counter() - started
    _current, extra_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    labelled = sum(s.voxel_count for s in statistics)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
    inputs = labels.nbytes + image.array.nbytes
    print(f"case {spec.name}: {len(statistics)} segments over {'x'.join(map(str, spec.shape))} "
          f"({labelled / labels.size:.0%} of {labels.size} voxels labelled)")
    print(f"segment statistics: {seconds:.1f} s; allocated above the inputs at most {extra_peak / 1e9:.2f} GB "
          f"(inputs {inputs / 1e9:.2f} GB); process peak RSS {peak_rss / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
