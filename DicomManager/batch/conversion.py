"""Convert a tree of classic SEGs (and ``.seg.nrrd`` files) to LABELMAP SEG on all cores, keeping the folder layout.

What is converted, found anywhere under the input tree:

- classic BINARY/FRACTIONAL SEGs (SOP Class ...66.4): read on their source
  series' grid where that series is in the tree, else on the grid their own
  frames give (their references to the source kept as they are), and
  written as one LABELMAP SEG, or as the overlap policy says when segments
  overlap;
- ``.seg.nrrd`` files: written over a DICOM series in the tree whose voxels
  theirs align with, looking in the nearest folders first.

Each item is one task for a process pool (``spawn``: VTK is not fork-safe),
so memory is bounded by one item per worker. The pool's workers start once,
import what every item needs in their initializer, and first read the tree's
headers (planning, spread over the workers), then convert. With one
worker, or a tree of one item that one worker would plan alone, nothing is
started: the item converts in this process. Any :class:`concurrent.futures.Executor`
can run the same tasks instead: :func:`dask_executor` gives one that sends them
to a Dask cluster, whose workers must see the trees at the same paths (shared
storage) and have this package installed. Outputs go to the same relative
path under the output tree; existing outputs are skipped, so an interrupted
run resumes where it stopped, and so are outputs another process is writing
or wrote meanwhile, so two runs on one tree share it. LABELMAP SEGs already
in the tree are skipped. Local workers end with the process that started them.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pydicom import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag, Tag

from ..core.cores import available_cores
from ..core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UIDS
from ..core.worker_lifetime import end_with_parent
from ..core.writing.export_options import ExportOptions
from ..core.writing.file_output import being_written_elsewhere, describe_os_error
from ..errors import DependencyError, DicomLabelMapSegError, GeometryMismatchError, OutputExistsError, SourceSeriesError

if TYPE_CHECKING:  # imported in the workers, when a task needs them
    from ..core.geometry.source_series import SourceSeries
    from ..core.reading.seg_contents import SegContents
    from ..core.writing.series_writer import WrittenSeries

logger = logging.getLogger(__name__)

_HEADER_TAGS: list[BaseTag | int] = [
    Tag(keyword) for keyword in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "ReferencedSeriesSequence")
]
_LAST_HEADER_TAG = max(_HEADER_TAGS)


class InputKind(StrEnum):
    """What an input file is."""

    SEG = "seg"
    SEG_NRRD = "seg.nrrd"


class ConversionStatus(StrEnum):
    """How one input ended."""

    CONVERTED = "converted"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True)
class ConversionTask:
    """One input file, the source series it is written over (or candidates for it), and where the output goes."""

    input: Path
    source_files: tuple[Path, ...]
    output: Path
    kind: InputKind
    candidate_series: tuple[tuple[Path, ...], ...] = ()


@dataclass
class ConversionOutcome:
    """How one input ended, and what converting it took in its worker."""

    input: str
    status: ConversionStatus
    outputs: list[str] = field(default_factory=list)
    input_bytes: int = 0
    output_bytes: int = 0
    segmentation_type: str | None = None
    reason: str | None = None
    seconds: float | None = None  # converting this item in its worker
    worker_start_seconds: float | None = None  # from the pool's creation to its worker being ready, once per worker


@dataclass
class ConversionSummary:
    """Every outcome, and the times that predict how the conversion scales with workers."""

    outcomes: list[ConversionOutcome]
    peak_worker_mb: float | None = None  # the most memory a local worker held (Linux ru_maxrss), this process when it converted
    planning_seconds: float | None = None  # reading the tree's headers and pairing SEGs with series
    seconds: float | None = None  # the whole conversion, planning included
    workers: int | None = None

    @property
    def item_seconds(self) -> list[float]:
        """Each converted or failed item's time in its worker."""
        return [o.seconds for o in self.outcomes if o.seconds is not None]

    @property
    def worker_start_seconds(self) -> float | None:
        """The longest worker start-up: from the pool's creation to the worker's imports done."""
        starts = [o.worker_start_seconds for o in self.outcomes if o.worker_start_seconds is not None]
        return max(starts) if starts else None

    def count(self, status: ConversionStatus) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    @property
    def bytes_saved(self) -> int:
        return sum(o.input_bytes - o.output_bytes for o in self.outcomes if o.status == ConversionStatus.CONVERTED)


def plan_conversion(
    input_tree: Path, output_tree: Path, executor: Executor | None = None
) -> tuple[list[ConversionTask], list[ConversionOutcome]]:
    """The tasks for a tree, and the files skipped or failed already while planning (with reasons).

    Every file's header is read once; on a local process pool ``executor``,
    by its workers, in chunks.
    """
    input_tree, output_tree = Path(input_tree), Path(output_tree)
    return _plan(input_tree, output_tree, _files_under(input_tree), executor)


def _files_under(tree: Path) -> list[Path]:
    return sorted(path for path in Path(tree).rglob("*") if path.is_file())


def _plan(
    input_tree: Path, output_tree: Path, files: list[Path], executor: Executor | None
) -> tuple[list[ConversionTask], list[ConversionOutcome]]:
    series_files: dict[str, list[Path]] = {}
    segs: list[tuple[Path, _FileHeader]] = []
    nrrds = [path for path in files if path.name.lower().endswith(".seg.nrrd")]
    dicom_files = [path for path in files if not path.name.lower().endswith(".seg.nrrd")]
    for path, header in zip(dicom_files, _read_file_headers(dicom_files, executor), strict=True):
        if header is None:
            continue
        if header.sop_class_uid in SEGMENTATION_SOP_CLASS_UIDS:
            segs.append((path, header))
        elif header.series_instance_uid:
            series_files.setdefault(header.series_instance_uid, []).append(path)
    tasks: list[ConversionTask] = []
    early: list[ConversionOutcome] = []
    for path, header in segs:
        relative = path.relative_to(input_tree)
        if header.sop_class_uid == LABELMAP_SEG_SOP_CLASS_UID:
            early.append(ConversionOutcome(str(relative), ConversionStatus.SKIPPED, reason="already a LABELMAP SEG"))
            continue
        source_files = tuple(series_files.get(header.referenced_series_uid or "", ()))
        tasks.append(ConversionTask(path, source_files, output_tree / relative, InputKind.SEG))
    for path in nrrds:
        relative = path.relative_to(input_tree)
        output = output_tree / relative.with_name(relative.name[: -len(".seg.nrrd")] + ".dcm")
        tasks.append(ConversionTask(path, (), output, InputKind.SEG_NRRD, _volume_series_by_distance(path, series_files)))
    return tasks, early


def convert_tree(
    input_tree: Path,
    output_tree: Path,
    *,
    workers: int | None = None,
    options: ExportOptions = ExportOptions(),
    progress: Callable[[int, int, ConversionOutcome], None] | None = None,
    executor: Executor | None = None,
) -> ConversionSummary:
    """Convert everything :func:`plan_conversion` finds, each output written with ``options``.

    Runs on ``executor`` when given (a Dask cluster's, say: see :func:`dask_executor`),
    else on a local pool of ``workers`` processes (default: all cores), which
    plans and converts. An output's file name and series description come
    from its input; other series attributes of a SEG converted are kept.
    """
    started = time.perf_counter()
    if executor is not None:
        summary = _convert_on(executor, input_tree, output_tree, options, progress)
    else:
        summary = _convert_locally(Path(input_tree), Path(output_tree), max(1, workers or available_cores()), options, progress)
    summary.seconds = time.perf_counter() - started
    return summary


def _convert_locally(
    input_tree: Path,
    output_tree: Path,
    workers: int,
    options: ExportOptions,
    progress: Callable[[int, int, ConversionOutcome], None] | None,
) -> ConversionSummary:
    """Plan and convert on a pool of ``workers`` processes, or in this process where a pool gives nothing.

    Planning runs here when there is one worker, or when the tree's files
    fit in one planning task (:data:`HEADER_CHUNK_FILES`), which one worker
    would read alone; converting runs here when there is one worker, or one
    item to convert. Starting the pool's workers (a new interpreter each,
    and their imports) would then only add to the time.
    """
    files = _files_under(input_tree)
    if workers > 1 and len(files) > HEADER_CHUNK_FILES:
        with _local_pool(workers) as pool:
            summary = _convert_on(pool, input_tree, output_tree, options, progress)
        summary.peak_worker_mb, summary.workers = _peak_mb(children=True), workers
        return summary
    started = time.perf_counter()
    tasks, outcomes = _plan(input_tree, output_tree, files, None)
    planning_seconds = time.perf_counter() - started
    todo = _still_to_do(tasks, input_tree, outcomes)
    if workers == 1 or len(todo) <= 1:
        outcomes += _run_tasks(None, todo, input_tree, options, progress)
        return ConversionSummary(outcomes, _peak_mb(children=False), planning_seconds, workers=1)
    with _local_pool(workers) as pool:
        outcomes += _run_tasks(pool, todo, input_tree, options, progress)
    return ConversionSummary(outcomes, _peak_mb(children=True), planning_seconds, workers=workers)


def _local_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(time.time(), os.getpid()),
    )


def _convert_on(
    executor: Executor,
    input_tree: Path,
    output_tree: Path,
    options: ExportOptions,
    progress: Callable[[int, int, ConversionOutcome], None] | None,
) -> ConversionSummary:
    started = time.perf_counter()
    tasks, outcomes = plan_conversion(input_tree, output_tree, executor)
    planning_seconds = time.perf_counter() - started
    todo = _still_to_do(tasks, input_tree, outcomes)
    outcomes += _run_tasks(executor, todo, input_tree, options, progress)
    return ConversionSummary(outcomes, planning_seconds=planning_seconds)


def _still_to_do(tasks: list[ConversionTask], input_tree: Path, outcomes: list[ConversionOutcome]) -> list[ConversionTask]:
    """The tasks whose output is not there yet; an outcome in ``outcomes`` for each of the others."""
    todo = []
    for task in tasks:
        relative = str(task.input.relative_to(input_tree))
        unfinished = _unfinished_output(task.output)
        if unfinished:
            outcomes.append(ConversionOutcome(relative, ConversionStatus.FAILED, reason=unfinished))
        elif task.output.exists() or any(task.output.parent.glob(f"{task.output.stem}_layer*{task.output.suffix}")):
            outcomes.append(ConversionOutcome(relative, ConversionStatus.SKIPPED, reason="output exists"))
        else:
            todo.append(task)
    return todo


def _unfinished_output(output: Path) -> str | None:
    """Why a file at ``output`` is not a finished output (not a DICOM file: empty, cut short, something else), or None.

    Outputs are moved into place only when complete, so such a file was put there by something else: it is
    neither taken for done nor replaced.
    """
    try:
        with open(output, "rb") as file:
            preamble = file.read(_DICOM_PREFIX_BYTES)
    except OSError:  # no file there (or none that can be read, which writing it will report)
        return None
    if len(preamble) == _DICOM_PREFIX_BYTES and preamble[-4:] == b"DICM":
        return None
    return (f"{output}: exists but is not a DICOM file ({output.stat().st_size} bytes), so not a finished output; "
            "nothing was replaced: remove it to convert this item")


_DICOM_PREFIX_BYTES = 132
"""The 128-byte preamble and ``DICM``, with which every file written here begins."""


@contextmanager
def dask_executor(scheduler_address: str) -> Iterator[Executor]:
    """An executor running tasks on the Dask cluster at ``scheduler_address``, connected while in use.

    Needs the ``dask`` extra. Start the workers with one thread each (``dask
    worker ADDRESS --nthreads 1``): a worker process then holds one Slicer
    scene, as a local pool process does.
    """
    try:
        from distributed import Client
    except ImportError:
        raise DependencyError("running on a Dask cluster needs distributed: pip install 'dicomlabelmapseg[dask]'") from None
    parts = urlsplit(scheduler_address if "://" in scheduler_address else f"tcp://{scheduler_address}")
    try:  # a wrong address fails at once, not after the client's retries
        with socket.create_connection((parts.hostname, parts.port or 8786), timeout=10):
            pass
        client = Client(scheduler_address, timeout="30s")
    except (OSError, ValueError) as error:
        raise DependencyError(f"no Dask scheduler answers at {scheduler_address}: {error}") from error
    try:
        yield client.get_executor(pure=False)
    finally:
        client.close()


def _run_tasks(
    executor: Executor | None,
    tasks: list[ConversionTask],
    input_tree: Path,
    options: ExportOptions,
    progress: Callable[[int, int, ConversionOutcome], None] | None,
) -> list[ConversionOutcome]:
    """Each task's outcome, in the order they finish: on ``executor``, or one after another in this process."""
    if executor is None:
        finished: Iterator[tuple[ConversionTask, Future]] = ((task, _run_here(task, options)) for task in tasks)
    else:
        futures = {executor.submit(convert_one, task, options): task for task in tasks}
        finished = ((futures[future], future) for future in as_completed(futures))
    outcomes = []
    for done, (task, future) in enumerate(finished, start=1):
        try:
            outcome = future.result()
        except OSError as error:  # outside what the item writes (which is ours to report): reading, the worker's files
            outcome = ConversionOutcome(str(task.input), ConversionStatus.FAILED, reason=describe_os_error(error))
        except Exception as error:  # noqa: BLE001 - a dead worker must not end the batch
            outcome = ConversionOutcome(str(task.input), ConversionStatus.FAILED, reason=f"worker failed: {error!r}")
        outcome.input = str(task.input.relative_to(input_tree))
        outcomes.append(outcome)
        if progress:
            progress(done, len(tasks), outcome)
    return outcomes


def _run_here(task: ConversionTask, options: ExportOptions) -> Future:
    """:func:`convert_one` run in this process, its result or exception in a future as a worker's would be."""
    future: Future = Future()
    try:
        future.set_result(convert_one(task, options))
    except Exception as error:  # noqa: BLE001 - reported by _run_tasks as a worker's failure is
        future.set_exception(error)
    return future


def convert_one(task: ConversionTask, options: ExportOptions = ExportOptions()) -> ConversionOutcome:
    """Convert one task (runs in a worker process); our own errors become a failed outcome.

    An output that another process is writing, or wrote meanwhile (two runs on one tree), is skipped.
    """
    started = time.perf_counter()
    outcome = ConversionOutcome(
        str(task.input), ConversionStatus.CONVERTED, input_bytes=task.input.stat().st_size,
        worker_start_seconds=getattr(_WORKER, "start_seconds", None),
    )
    if being_written_elsewhere(task.output):
        outcome.status, outcome.reason = ConversionStatus.SKIPPED, "another process is writing its output"
        return outcome
    options = replace(options, file_name=task.output.name)
    try:
        written = (_convert_seg if task.kind == InputKind.SEG else _convert_seg_nrrd)(task, options)
    except OutputExistsError:
        outcome.status, outcome.reason = ConversionStatus.SKIPPED, "its output was written meanwhile by another process"
    except DicomLabelMapSegError as error:
        outcome.status, outcome.reason = ConversionStatus.FAILED, str(error)
    else:
        outcome.outputs = [str(path) for path in written.paths]
        outcome.output_bytes = sum(path.stat().st_size for path in written.paths)
        outcome.segmentation_type = written.segmentation_type
    outcome.seconds = time.perf_counter() - started
    return outcome


def _start_worker(pool_created: float, parent_pid: int) -> None:
    """A local worker's initializer: end with the parent, import what every item needs once, note how long starting took.

    The start-up counts from the pool's creation (``time.time()`` in the
    parent): the new interpreter, the parent's main module imported again
    (``spawn``), and these imports.
    """
    end_with_parent(parent_pid)
    from ..core.geometry import source_series  # noqa: F401
    from ..core.reading import seg_reader  # noqa: F401
    from ..core.slicer_files import seg_nrrd  # noqa: F401
    from ..core.writing import series_writer  # noqa: F401

    _WORKER.start_seconds = time.time() - pool_created


def _convert_seg(task: ConversionTask, options: ExportOptions) -> WrittenSeries:
    """A classic SEG read onto its source series (or its own grid, without one) and written again, its series attributes kept."""
    from ..core.writing.referenced_source import read_seg_with_its_references
    from ..core.writing.series_writer import write_segmentation

    result, source = _seg_over_source(task) if task.source_files else read_seg_with_its_references(task.input)
    for note in result.notes:
        logger.warning("%s: %s", task.input, note)
    return write_segmentation(result, source, task.output.parent, options.over_series(result.info.series_attributes()))


def _seg_over_source(task: ConversionTask) -> tuple[SegContents, SourceSeries]:
    from ..core.geometry.source_series import read_source_series
    from ..core.reading.seg_reader import read_seg

    source = read_source_series(task.source_files)
    return read_seg(task.input, source.geometry), source


def _convert_seg_nrrd(task: ConversionTask, options: ExportOptions) -> WrittenSeries:
    """Write a .seg.nrrd over the first candidate series (nearest folder first) its voxels align with.

    Files as Slicer writes them are read without slicer-core (:func:`read_seg_nrrd`), so workers need not
    load it; older layouts go through it.
    """
    from ..core.slicer_files.seg_nrrd import read_seg_nrrd
    from ..core.writing.series_writer import write_segmentation

    options = options.with_series(series_description=task.input.name[: -len(".seg.nrrd")])
    segmentation = read_seg_nrrd(task.input)
    if segmentation is None:
        return _convert_seg_nrrd_through_slicer(task, options)
    return _over_first_aligned_series(task, lambda source: write_segmentation(segmentation, source, task.output.parent, options))


def _convert_seg_nrrd_through_slicer(task: ConversionTask, options: ExportOptions) -> WrittenSeries:
    from ..core.writing.series_writer import write_segmentation
    from ..mrml.segmentation_nodes import discard_segmentation_node, layered_segmentation_of_node, series_attributes_of_node
    from ..mrml.storage import read_segmentation_file

    scene = _worker_scene()
    node = None
    try:
        node = read_segmentation_file(scene, task.input)
        options = options.over_series(series_attributes_of_node(node))
        return _over_first_aligned_series(task, lambda source: write_segmentation(
            layered_segmentation_of_node(node, source.geometry), source, task.output.parent, options
        ))
    finally:
        if node is not None:
            discard_segmentation_node(node)
        scene.Clear(0)


def _over_first_aligned_series(task: ConversionTask, write: Callable[[SourceSeries], WrittenSeries]) -> WrittenSeries:
    """``write`` over the first candidate series whose grid the voxels align with (refused before writing)."""
    from ..core.geometry.source_series import read_source_series

    for files in task.candidate_series:
        try:
            return write(read_source_series(files))
        except GeometryMismatchError:
            continue
    raise SourceSeriesError(f"{task.input}: no DICOM series under the input tree has a grid its voxels align with.")


def _peak_mb(children: bool) -> float:
    """The largest resident memory of any finished child process, or of this one, in MB (0 where the system does not say)."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    return resource.getrusage(resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF).ru_maxrss / 1024


_WORKER = threading.local()


def _worker_scene():
    """One Slicer scene per worker (per thread, should a Dask worker run several), converter rules registered once."""
    if not hasattr(_WORKER, "session"):
        from ..mrml.scene_setup import start_session

        _WORKER.session = start_session()
    return _WORKER.session.scene


@dataclass(frozen=True)
class _FileHeader:
    """What planning needs of a DICOM file: small enough to come back from a worker cheaply."""

    sop_class_uid: str
    series_instance_uid: str | None
    referenced_series_uid: str | None


HEADER_CHUNK_FILES = 64
"""Files whose headers a worker reads per task while planning: fewer round trips, still spread evenly."""


def _read_file_headers(paths: list[Path], executor: Executor | None) -> Iterator[_FileHeader | None]:
    """Each file's header, in order; read by the workers of a local process pool, else here."""
    if isinstance(executor, ProcessPoolExecutor):
        return executor.map(_file_header, paths, chunksize=HEADER_CHUNK_FILES)
    return map(_file_header, paths)


def _file_header(path: Path) -> _FileHeader | None:
    """The file's SOP Class, series and referenced series; None for a file that is not DICOM."""
    try:
        with open(path, "rb") as file:  # read no further: a classic SEG's functional groups are most of its header
            header = read_partial(file, stop_when=_past_header_tags, specific_tags=_HEADER_TAGS)
        return _FileHeader(
            sop_class_uid=str(header.get("SOPClassUID", "")),
            series_instance_uid=str(header.SeriesInstanceUID) if "SeriesInstanceUID" in header else None,
            referenced_series_uid=_referenced_series(header),
        )
    except (InvalidDicomError, OSError, ValueError, EOFError, TypeError, AttributeError, KeyError):
        return None


def _past_header_tags(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag > _LAST_HEADER_TAG


def _referenced_series(header: Dataset) -> str | None:
    """The series a SEG references (its ReferencedSeriesSequence), or None when it names none."""
    try:
        items = header.get("ReferencedSeriesSequence") or []
        return str(items[0].SeriesInstanceUID) if items else None
    except (AttributeError, IndexError):
        return None


def _volume_series_by_distance(path: Path, series_files: dict[str, list[Path]]) -> tuple[tuple[Path, ...], ...]:
    """Every image series' files, those in folders nearest to ``path`` first."""

    def distance(files: list[Path]) -> tuple[int, str]:
        common = Path(os.path.commonpath([path.parent, files[0].parent]))
        return (len(path.parent.parts) + len(files[0].parent.parts) - 2 * len(common.parts), str(files[0].parent))

    return tuple(tuple(files) for files in sorted(series_files.values(), key=distance))
