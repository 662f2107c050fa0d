"""Mutation fuzzing of the SEG reader: only the project's own errors, in one line, or a correct load, ever.

    python Testing/fuzz/fuzz_reader.py --count 16000 [--seed 1] [--workers 2] [--crashes DIR]

Each input is one seed (see mutations.seed_files: real SEGs of every type,
tiled and palette ones included, and copies in every transfer syntax) with one random defect of one of
mutations.MUTATION_CLASSES. Each input is read three ways: ``read_seg``;
``header_problem``, the DICOM browser's verdict; and what the ``info``
command reads (``read_seg_header``, ``seg_info``, ``segments_of``,
``read_seg_references``); and, for a seed whose frames name source images
of a series here (mutations.reference_series), ``read_seg`` onto that series,
each frame placed by the image it names. A failure is any exception that is not a
``DicomLabelMapSegError`` (a MemoryError included: each worker may allocate
only MEMORY_ALLOWANCE beyond what it holds at start), a refusal whose message
is not one line of at most MESSAGE_CHARACTERS naming the file, a library
warning or pydicom log record that reaches the caller, a
``header_problem`` that says a file ``read_seg`` loads would be refused, a
header that it passes and ``info`` refuses, or an input that takes longer than
``--timeout`` seconds. Failing inputs are kept in ``--crashes``. A mutation
pydicom will not make or write is counted as such, not replaced by the
unmutated seed. Prints how many inputs were tried, how they ended and how long
it took.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import random
import resource
import signal
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutations import random_mutation, reference_series, seed_files  # noqa: E402

from DicomManager import read_seg  # noqa: E402
from DicomManager.core.geometry.source_series import ReferenceGrid, reference_of_folder  # noqa: E402
from DicomManager.core.reading.seg_info import seg_info, segments_of  # noqa: E402
from DicomManager.core.reading.seg_reader import header_problem, read_seg_header  # noqa: E402
from DicomManager.core.reading.seg_references import read_seg_references  # noqa: E402
from DicomManager.errors import DicomLabelMapSegError  # noqa: E402

MEMORY_ALLOWANCE = 2**30
"""What a worker may allocate beyond its size at start: every seed's labels are a few MB, a bomb's gigabytes."""
MESSAGE_CHARACTERS = 400
PROGRESS_EVERY = 500


class _Timeout(Exception):
    pass


class _Failure(Exception):
    """A verdict the fuzzer refuses: a message of more than one line, a browser verdict that disagrees."""


_seeds: list[tuple[str, bytes, pydicom.Dataset, ReferenceGrid | None]] = []
_folder: Path | None = None


def fuzz(count: int, seed: int, timeout: float, crashes: Path | None, workers: int = 1,
         progress: Callable[[Counter, list[str]], None] | None = None) -> tuple[Counter, list[str]]:
    """Try ``count`` inputs on ``workers`` processes; return how they ended and a description of each failure.

    Input ``number`` is the same for a given ``seed`` whatever the number of workers. ``progress`` is
    called with the counts so far after every PROGRESS_EVERY inputs.
    """
    outcomes: Counter = Counter()
    failures: list[str] = []
    files = seed_files()
    references = {folder: reference_of_folder(folder) for folder in {reference_series(name) for name in files}
                  if folder is not None}
    seeds = [(name, data, pydicom.dcmread(BytesIO(data)), references.get(reference_series(name)))
             for name, data in files.items() if data is not None]
    context = multiprocessing.get_context("fork")  # the workers share the seeds made here
    with context.Pool(workers, initializer=_start_worker, initargs=(seeds, timeout)) as pool:
        for kind, outcome, failure, number, data in pool.imap_unordered(
                _try_input, ((seed, number) for number in range(count)), chunksize=8):
            outcomes[outcome] += 1
            outcomes[f"{kind}: {outcome}"] += 1
            if failure is not None:
                failures.append(_keep(crashes, number, data, failure))
            if progress is not None and outcomes.total() % (2 * PROGRESS_EVERY) == 0:  # each input counted twice
                progress(outcomes, failures)
    return outcomes, failures


def _start_worker(seeds: list[tuple[str, bytes, pydicom.Dataset, ReferenceGrid | None]], timeout: float) -> None:
    global _folder, _timeout
    _seeds[:] = seeds
    _folder = Path(tempfile.mkdtemp(prefix="fuzz-"))
    _timeout = timeout
    signal.signal(signal.SIGALRM, _raise_timeout)
    size = _virtual_memory_bytes()
    resource.setrlimit(resource.RLIMIT_AS, (size + MEMORY_ALLOWANCE, resource.getrlimit(resource.RLIMIT_AS)[1]))


_timeout = 20.0


def _virtual_memory_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _try_input(task: tuple[int, int]) -> tuple[str, str, str | None, int, bytes | None]:
    seed, number = task
    rng = random.Random(f"{seed}:{number}")
    name, seed_bytes, seed_dataset, reference = _seeds[rng.randrange(len(_seeds))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom's warnings and log records on the strange values the mutation sets
        logging.disable(logging.WARNING)
        try:
            kind, data = random_mutation(seed_bytes, seed_dataset, rng)
        finally:
            logging.disable(logging.NOTSET)
    if data is None:
        return kind, "mutation not made", None, number, None
    path = _folder / f"input-{number}.dcm"
    path.write_bytes(data)
    signal.setitimer(signal.ITIMER_REAL, _timeout)
    try:
        outcome = _read_three_ways(path, reference)
        return kind, outcome, None, number, None
    except _Timeout:
        return kind, "timeout", f"took over {_timeout} s ({name}, {kind})", number, data
    except _Failure as failure:
        return kind, "wrong verdict", f"{name}, {kind}: {failure}", number, data
    except Exception:  # noqa: BLE001 - exactly what the fuzzer looks for
        return kind, "crash", f"{name}, {kind}: {traceback.format_exc(limit=-4)}", number, data
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        path.unlink()


def _read_three_ways(path: Path, reference: ReferenceGrid | None) -> str:
    """'loaded' or 'refused', after checking that the three verdicts agree and that no library spoke to the caller.

    A seed's mutation is also read onto the series its frames name, where it is here.
    """
    library_records = _LibraryRecords()
    logging.getLogger().addHandler(library_records)  # where an application's handlers are
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            outcome = _verdicts(path)
            if reference is not None:
                _read_onto(path, reference)
    finally:
        logging.getLogger().removeHandler(library_records)
    if caught or library_records.messages:
        said = [str(warning.message) for warning in caught] + library_records.messages
        raise _Failure(f"a library's warning reached the caller: {said[0][:200]!r}")
    return outcome


class _LibraryRecords(logging.Handler):
    """pydicom's and highdicom's log records at WARNING and above that reach the application's handlers."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in ("pydicom", "highdicom"):
            self.messages.append(record.getMessage())


def _verdicts(path: Path) -> str:
    problem = header_problem(path)
    if problem is not None:
        _check_message(problem, path)
    try:
        read_seg(path)
    except DicomLabelMapSegError as error:
        _check_message(str(error), path)
        outcome = "refused"
    else:
        if problem is not None:
            raise _Failure(f"header_problem refuses a file read_seg loads: {problem}")
        outcome = "loaded"
    if problem is None:
        try:
            header = read_seg_header(path)
            seg_info(header, path)
            segments_of(header, path)
            read_seg_references(path)
        except DicomLabelMapSegError as error:
            raise _Failure(f"info refuses a header that header_problem passes: {error}") from error
    return outcome


def _read_onto(path: Path, reference: ReferenceGrid) -> None:
    """Read onto the source series, frames placed by the images they name: a load, or our own error in one line."""
    try:
        read_seg(path, reference.geometry, image_positions=reference.image_positions)
    except DicomLabelMapSegError as error:
        _check_message(str(error), path)


def _check_message(message: str, path: Path) -> None:
    if not message.startswith(f"{path}: "):
        raise _Failure(f"the message does not start with the file: {message[:200]!r}")
    if not message.isprintable():
        raise _Failure(f"the message holds control characters: {message[:200]!r}")
    if len(message) > MESSAGE_CHARACTERS:
        raise _Failure(f"the message has {len(message)} characters: {message[:200]!r}...")


def _raise_timeout(signum, frame) -> None:
    raise _Timeout()


def _keep(crashes: Path | None, number: int, data: bytes | None, description: str) -> str:
    if crashes is not None and data is not None:
        crashes.mkdir(parents=True, exist_ok=True)
        (crashes / f"input_{number:06d}.dcm").write_bytes(data)
    return f"input {number}: {description}"


def _summary(outcomes: Counter, seconds: float) -> str:
    totals = {key: value for key, value in outcomes.items() if ":" not in key}
    return f"{sum(totals.values())} inputs in {seconds:.0f} s: {totals}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--crashes", type=Path, help="keep failing inputs here")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the readers' warnings about what they fill in, for every input
    started = time.perf_counter()

    def progress(outcomes: Counter, failures: list[str]) -> None:
        print(f"... {_summary(outcomes, time.perf_counter() - started)}, {len(failures)} failures", flush=True)

    outcomes, failures = fuzz(arguments.count, arguments.seed, arguments.timeout, arguments.crashes, arguments.workers,
                              progress)
    print(_summary(outcomes, time.perf_counter() - started))
    for key in sorted(key for key in outcomes if ":" in key):
        print(f"  {key}: {outcomes[key]}")
    for failure in failures:
        print(failure)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
