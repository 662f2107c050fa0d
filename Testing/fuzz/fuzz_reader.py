"""Mutation fuzzing of the SEG reader: only the project's own errors or a correct load, ever.

    python Testing/fuzz/fuzz_reader.py --count 10000 [--seed 1] [--crashes DIR]

Each input is one real SEG (see mutations.SEEDS) with one random defect
(bytes flipped, cut, chunk duplicated, or an attribute removed, emptied or
given a strange value). ``read_seg`` must load it or raise a
``DicomLabelMapSegError``; anything else, or taking longer than
``--timeout`` seconds, is a failure, and the input is kept in ``--crashes``.
A mutation pydicom will not make or write is counted as such, not replaced
by the unmutated seed.
Prints how many inputs were tried, how they ended and how long it took.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutations import SEEDS, TESTDATA, random_mutation  # noqa: E402

from DicomManager import read_seg  # noqa: E402
from DicomManager.errors import DicomLabelMapSegError  # noqa: E402


class _Timeout(Exception):
    pass


def fuzz(count: int, seed: int, timeout: float, crashes: Path | None) -> tuple[Counter, list[str]]:
    """Try ``count`` inputs; return how they ended and a description of each failure."""
    rng = random.Random(seed)
    seeds = [(TESTDATA / name).read_bytes() for name in SEEDS]
    datasets = [pydicom.dcmread(TESTDATA / name) for name in SEEDS]
    outcomes: Counter = Counter()
    failures: list[str] = []
    previous = signal.signal(signal.SIGALRM, _raise_timeout)
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "input.dcm"
            for number in range(count):
                which = rng.randrange(len(seeds))
                data = random_mutation(seeds[which], datasets[which], rng)
                if data is None:
                    outcomes["mutation not made"] += 1
                    continue
                path.write_bytes(data)
                signal.setitimer(signal.ITIMER_REAL, timeout)
                try:
                    read_seg(path)
                    outcomes["loaded"] += 1
                except DicomLabelMapSegError:
                    outcomes["refused"] += 1
                except _Timeout:
                    outcomes["timeout"] += 1
                    failures.append(_keep(crashes, number, data, f"took over {timeout} s ({SEEDS[which]})"))
                except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
                    outcomes["crash"] += 1
                    failures.append(_keep(crashes, number, data, f"{SEEDS[which]}: {traceback.format_exc(limit=3)}"))
                finally:
                    signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    return outcomes, failures


def _raise_timeout(signum, frame) -> None:
    raise _Timeout()


def _keep(crashes: Path | None, number: int, data: bytes, description: str) -> str:
    if crashes is not None:
        crashes.mkdir(parents=True, exist_ok=True)
        (crashes / f"input_{number:06d}.dcm").write_bytes(data)
    return f"input {number}: {description}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--crashes", type=Path, help="keep failing inputs here")
    arguments = parser.parse_args()
    started = time.perf_counter()
    outcomes, failures = fuzz(arguments.count, arguments.seed, arguments.timeout, arguments.crashes)
    seconds = time.perf_counter() - started
    print(f"{sum(outcomes.values())} inputs in {seconds:.0f} s: {dict(outcomes)}")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
