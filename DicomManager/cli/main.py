"""``dicomlabelmapseg``: batch export, import and inspection of LABELMAP SEGs outside Slicer.

Heavy modules (Slicer's MRML classes, highdicom) are imported by the commands
that need them, so ``--help`` and ``info`` start fast.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import statistics
import sys
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..core.codecs.compression import DEFAULT_COMPRESSION, Compression
from ..core.codecs.encoding_workers import ALL_CORES
from ..core.garbage_collection import garbage_collection_paused
from ..core.writing.file_output import describe_os_error
from ..core.writing.overlap_policy import DEFAULT_OVERLAP_POLICY, OverlapPolicy
from ..errors import DicomLabelMapSegError, LabelFileError, OutputExistsError, SendError

if TYPE_CHECKING:  # the commands import what they need when they run, so the program starts fast
    from ..core.geometry.source_series import SourceSeries
    from ..core.segments.dcmqi_metadata import DcmqiMetadata
    from ..core.segments.layered_segmentation import LayeredSegmentation
    from ..core.writing.export_options import ExportOptions

logger = logging.getLogger("dicomlabelmapseg")


def main(argv: Sequence[str] | None = None, *, process_ends: bool = False) -> int:
    """Run the command line; returns the process exit code (0 success, 1 failure, 2 usage).

    ``process_ends``: called by :func:`.program.run`, in a process that ends with the
    command and started it with the cyclic garbage collector off.
    """
    arguments = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if arguments.verbose else logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        with _collector_for(arguments.one_file, process_ends):
            return arguments.run(arguments)
    except DicomLabelMapSegError as error:
        replacing = " Give --force to replace it." if isinstance(error, OutputExistsError) and "force" in arguments else ""
        print(f"error: {error}{replacing}", file=sys.stderr)
        return 1
    except OSError as error:  # one the command did not expect: a folder it reads, the temporary folder, ...
        print(f"error: {describe_os_error(error)}.", file=sys.stderr)
        return 1


def _collector_for(one_file: bool, process_ends: bool) -> AbstractContextManager[None]:
    """The cyclic garbage collector while a command runs: off for a command on one file, else on.

    A command on one file makes no reference cycles for the collector to free; left on, it would walk the
    process's objects (VTK's, highdicom's tables of the standard) again and again. Elsewhere it is paused
    for the command and then back on; in a process that ends with the command (see :mod:`.program`) it
    stays off, and a command on many files turns it on.
    """
    if process_ends:
        if not one_file:
            gc.enable()
        return nullcontext()
    return garbage_collection_paused() if one_file else nullcontext()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dicomlabelmapseg",
        description="Convert segmentations to and from DICOM Label Map Segmentation (LABELMAP SEG).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what is done")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    parser.set_defaults(one_file=False)
    for add_command in (
        _add_export_command,
        _add_import_command,
        _add_info_command,
        _add_migrate_command,
        _add_convert_command,
        _add_preview_command,
        _add_send_command,
        _add_demo_command,
    ):
        add_command(commands)
    return parser


def _add_export_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("export", help="segmentation file(s) -> LABELMAP SEG (BINARY SEG when segments overlap)")
    command.add_argument("--reference", required=True, type=Path, help="folder with the source DICOM series")
    command.add_argument(
        "--segmentation",
        required=True,
        type=Path,
        nargs="+",
        help="Slicer .seg.nrrd, or label volumes (.nrrd, .nii.gz), one per dcmqi segmentAttributes group",
    )
    command.add_argument("--output", required=True, type=Path, help="SEG file to write")
    _add_writing_options(command)
    command.add_argument("--metadata", type=Path, help="dcmqi segmentation metadata JSON for the segments")
    command.add_argument("--series-description", help="SeriesDescription of the SEG")
    command.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    command.set_defaults(run=_export, one_file=True)


def _add_import_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("import", help="SEG (LABELMAP, BINARY, FRACTIONAL) -> Slicer segmentation file")
    command.add_argument("seg", type=Path, help="SEG file")
    command.add_argument("--output", required=True, type=Path, help=".seg.nrrd file to write")
    command.add_argument("--labelmap", type=Path, help="also write a label volume (.nrrd, .nii.gz)")
    command.add_argument("--reference", type=Path, help="folder with the referenced series: use its grid")
    command.add_argument("--force", action="store_true", help="replace outputs that exist")
    command.set_defaults(run=_import, one_file=True)


def _add_info_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("info", help="describe a SEG file without decoding its pixels")
    command.add_argument("seg", type=Path, help="SEG file")
    command.add_argument("--json", action="store_true", help="print JSON instead of text")
    command.set_defaults(run=_info, one_file=True)


def _add_migrate_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "migrate", help="a run folder (results.json + segmentations/*.seg.nrrd) or gold standard folder -> DICOM"
    )
    command.add_argument("folder", type=Path, help="run folder (results.json) or GoldStandards/<name> (metadata.json)")
    command.add_argument(
        "--reference", required=True, type=Path, help="DICOM folder of the volume, or its NRRD/NIfTI file"
    )
    command.add_argument("--verify", action="store_true", help="also re-check SEGs written by earlier runs")
    _add_writing_options(command)
    command.set_defaults(run=_migrate)


def _add_convert_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "convert", help="every classic SEG and .seg.nrrd under a tree -> LABELMAP SEG, same layout, all cores"
    )
    command.add_argument("input_tree", type=Path, help="folder searched recursively (SEGs and their source series)")
    command.add_argument("output_tree", type=Path, help="folder the outputs go to, at the same relative paths")
    command.add_argument("--workers", type=int, help="processes (default: one per core)")
    command.add_argument(
        "--dask-scheduler", metavar="ADDRESS", help="run on a Dask cluster instead (tcp://host:8786; trees on shared storage)"
    )
    _add_writing_options(command)
    command.set_defaults(run=_convert)


def _add_preview_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("preview", help="PNG of a SEG: axial, coronal, sagittal slices and a legend")
    command.add_argument("seg", type=Path, help="SEG file")
    command.add_argument("--reference", type=Path, help="folder with the referenced series: drawn under the segments")
    command.add_argument("--output", required=True, type=Path, help="PNG file to write")
    command.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    command.set_defaults(run=_preview, one_file=True)


def _add_send_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("send", help="DICOM files (a SEG and its series) -> a DICOMweb or DIMSE archive")
    command.add_argument("files", type=Path, nargs="+", help="DICOM files or folders (searched recursively)")
    command.add_argument(
        "--to",
        required=True,
        metavar="DESTINATION",
        help="http(s)://host/dicom-web (STOW-RS) or dicom://AE_TITLE@host:port",
    )
    command.add_argument(
        "--header", action="append", default=[], metavar="NAME:VALUE", help="HTTP header for DICOMweb (repeatable)"
    )
    command.add_argument("--calling-ae-title", default="DLMSEG", help="our AE title for DIMSE (default DLMSEG)")
    command.set_defaults(run=_send)


def _add_demo_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("demo", help="export and reload a built-in 10-segment example")
    command.add_argument("--output", type=Path, help="folder to keep the files in (default: a temporary folder)")
    command.set_defaults(run=_demo)


def _export(arguments: argparse.Namespace) -> int:
    from ..core.geometry.source_series import read_source_series_folder
    from ..core.segments.dcmqi_metadata import read_dcmqi_metadata
    from ..core.writing.file_output import refuse_existing
    from ..core.writing.series_writer import write_segmentation

    refuse_existing(arguments.output, arguments.force)
    metadata = read_dcmqi_metadata(arguments.metadata) if arguments.metadata else None
    options = _export_options(arguments, file_name=arguments.output.name, overwrite=arguments.force, workers=ALL_CORES)
    if metadata:
        options = options.over_series(metadata.series)
    if arguments.series_description:
        options = options.with_series(series_description=arguments.series_description)
    with ThreadPoolExecutor(1) as background:
        # zlib lets go of the GIL while it inflates a .seg.nrrd: that overlaps reading the source headers.
        read_without_slicer = background.submit(_read_seg_nrrd_file, arguments.segmentation)
        source = read_source_series_folder(arguments.reference)
        segmentation = read_without_slicer.result()
    if segmentation is None:
        segmentation = _read_through_slicer(arguments.segmentation, source, metadata)
    segmentation = segmentation.with_metadata(metadata.segments if metadata else None)
    written = write_segmentation(segmentation, source, arguments.output.parent, options)
    for path in written.paths:
        print(f"{path}: {written.segmentation_type} SEG, SeriesInstanceUID {written.series_instance_uid}")
    return 0


def _read_seg_nrrd_file(paths: list[Path]) -> LayeredSegmentation | None:
    """The segments of a ``.seg.nrrd`` as Slicer writes it, read without slicer-core (slow to import); else None."""
    from ..core.slicer_files.seg_nrrd import is_segmentation_file, read_seg_nrrd

    first = paths[0]
    if is_segmentation_file(first) and len(paths) > 1:
        raise LabelFileError("Give one .seg.nrrd file, or label volumes only.")
    return read_seg_nrrd(first) if is_segmentation_file(first) else None


def _read_through_slicer(paths: list[Path], source: SourceSeries, metadata: DcmqiMetadata | None) -> LayeredSegmentation:
    """Label volumes (NRRD, NIfTI) and older ``.seg.nrrd`` layouts, read through slicer-core, on the source's grid."""
    from ..core.slicer_files.seg_nrrd import is_segmentation_file
    from ..mrml.scene_setup import start_session
    from ..mrml.segmentation_nodes import discard_segmentation_node, layered_segmentation_of_node
    from ..mrml.storage import read_label_volume, read_segmentation_file, segmentation_node_from_label_volumes

    first = paths[0]
    scene = start_session().scene
    if is_segmentation_file(first):
        node = read_segmentation_file(scene, first)
    else:
        volumes = [read_label_volume(scene, path) for path in paths]
        node = segmentation_node_from_label_volumes(scene, volumes, metadata.segments if metadata else None, first.name)
    try:
        return layered_segmentation_of_node(node, source.geometry)
    finally:
        discard_segmentation_node(node)


def _export_options(arguments: argparse.Namespace, **fields: object) -> ExportOptions:
    """The options :func:`_add_writing_options` adds, with ``fields`` set besides."""
    from ..core.writing.export_options import ExportOptions

    return ExportOptions(
        compression=arguments.compression, overlap=arguments.overlap, crop_to_segments=arguments.crop_to_segments, **fields
    )



def _import(arguments: argparse.Namespace) -> int:
    # Only --labelmap needs Slicer (its volume writers): the .seg.nrrd is written without importing it.
    from ..core.geometry.source_series import reference_grid_of_folder
    from ..core.reading.seg_reader import read_seg
    from ..core.slicer_files.seg_nrrd import write_seg_nrrd
    from ..core.writing.file_output import all_or_none, refuse_existing

    for output in (arguments.output, arguments.labelmap):
        if output is not None:
            refuse_existing(output, arguments.force)
    reference = reference_grid_of_folder(arguments.reference) if arguments.reference else None
    result = read_seg(arguments.seg, reference, workers=ALL_CORES)
    if arguments.labelmap and len(result.layers) > 1:
        raise LabelFileError(
            f"{arguments.seg}: its segments overlap ({len(result.layers)} layers), so they cannot be one label "
            "volume; leave out --labelmap (the .seg.nrrd keeps every layer)."
        )
    for note in result.notes:
        logger.warning("%s: %s", arguments.seg, note)
    with all_or_none() as written:
        write_seg_nrrd(arguments.output, result, overwrite=arguments.force)
        written.append(arguments.output)
        if arguments.labelmap:
            from ..mrml.scene_setup import start_session
            from ..mrml.storage import write_label_volume

            write_label_volume(start_session().scene, result.layers[0], arguments.labelmap, overwrite=arguments.force)
    shape = "x".join(map(str, result.layers[0].spatial_shape[::-1]))
    print(f"{arguments.output}: {len(result.segments)} segments in {len(result.layers)} layer(s), grid {shape}")
    return 0


def _info(arguments: argparse.Namespace) -> int:
    from ..core.reading.seg_contents import seg_info, segments_of
    from ..core.reading.seg_reader import read_seg_header
    from ..core.reading.seg_references import read_seg_references

    header = read_seg_header(arguments.seg)
    info = seg_info(header, arguments.seg)
    segments = segments_of(header, arguments.seg)
    images = read_seg_references(arguments.seg).referenced_instance_uids
    if arguments.json:
        document = {
            "info": asdict(info) | {"referenced_instance_uids": list(images)},
            "segments": [asdict(segment) for segment in segments],
        }
        print(json.dumps(document, indent=2, default=str))
        return 0
    print(f"{info.path}")
    print(f"  {info.series_description!r}, series {info.series_number}, {info.number_of_frames} frames, "
          f"{info.bits_allocated}-bit, {info.transfer_syntax_uid}")
    print(f"  references series {info.referenced_series_uid} ({len(images)} images)")
    for segment in segments:
        print(f"  {segment.number:5d}  {segment.label}  [{segment.type.scheme} {segment.type.value} "
              f"{segment.type.meaning}]  RGB {segment.color}")
    return 0


def _add_writing_options(command: argparse.ArgumentParser) -> None:
    """--compression, --overlap and --crop-to-segments, as every command that writes SEGs takes them."""
    command.add_argument(
        "--compression",
        choices=[c.value for c in Compression],
        default=DEFAULT_COMPRESSION.value,
        help=f"transfer syntax (default {DEFAULT_COMPRESSION.value}, which every tested reader opens)",
    )
    command.add_argument(
        "--overlap",
        choices=[policy.value for policy in OverlapPolicy],
        default=DEFAULT_OVERLAP_POLICY.value,
        help=f"when segments overlap (default {DEFAULT_OVERLAP_POLICY.value}: one classic BINARY SEG, which loses "
        "nothing and every reader opens; layers: one LABELMAP per layer in one series; error: refuse)",
    )
    command.add_argument(
        "--crop-to-segments",
        action="store_true",
        help="frames cover only the segments' rectangle, as .seg.nrrd does: the smallest files (with deflate), "
        "read by highdicom, dcmqi and Slicer, but not by OHIF, which needs frames the size of the source images",
    )


def _migrate(arguments: argparse.Namespace) -> int:
    from ..batch.migration import TrialStatus, migrate_run
    from ..mrml.manager import DicomManager
    from ..mrml.scene_setup import start_session

    session = start_session()
    report = migrate_run(
        arguments.folder,
        arguments.reference,
        DicomManager(session.scene),
        verify=arguments.verify,
        options=_export_options(arguments, workers=ALL_CORES),
        progress=print,
    )
    migrated = sum(outcome.status == TrialStatus.MIGRATED for outcome in report.outcomes)
    skipped = sum(outcome.status == TrialStatus.SKIPPED for outcome in report.outcomes)
    print(f"{migrated} migrated, {skipped} already done, {len(report.failures)} failed or different; "
          f"report: {arguments.folder / 'dicom' / 'migration_report.md'}")
    return 1 if report.failures else 0


def _convert(arguments: argparse.Namespace) -> int:
    from ..batch.conversion import ConversionStatus, convert_tree, dask_executor

    interactive = sys.stderr.isatty()

    def progress(done: int, total: int, outcome) -> None:
        if interactive:
            filled = int(30 * done / max(total, 1))
            print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)
        else:
            print(f"[{done}/{total}] {outcome.status} {outcome.input}", file=sys.stderr)

    with dask_executor(arguments.dask_scheduler) if arguments.dask_scheduler else nullcontext() as executor:
        summary = convert_tree(
            arguments.input_tree,
            arguments.output_tree,
            workers=arguments.workers,
            options=_export_options(arguments),
            progress=progress,
            executor=executor,
        )
    if interactive:
        print(file=sys.stderr)
    for outcome in summary.outcomes:
        if outcome.status == ConversionStatus.FAILED:
            print(f"failed: {outcome.input}: {outcome.reason}", file=sys.stderr)
    counts = {status: summary.count(status) for status in ConversionStatus}
    print(f"{counts[ConversionStatus.CONVERTED]} converted, {counts[ConversionStatus.SKIPPED]} skipped, "
          f"{counts[ConversionStatus.FAILED]} failed; "
          f"{summary.bytes_saved / 1e6:.2f} MB saved"
          + (f"; peak memory of a worker {summary.peak_worker_mb:.0f} MB" if summary.peak_worker_mb is not None else ""))
    if summary.item_seconds:
        print(f"{summary.seconds:.1f} s: planning {summary.planning_seconds:.1f} s, "
              f"{statistics.mean(summary.item_seconds):.2f} s per item in its worker"
              + (f" with {summary.workers} workers" if summary.workers else ""))
    return 1 if counts[ConversionStatus.FAILED] else 0


def _preview(arguments: argparse.Namespace) -> int:
    from ..core.geometry.source_series import read_series_voxels, read_source_series_folder
    from ..core.preview import write_preview
    from ..core.reading.seg_reader import read_seg
    from ..core.writing.file_output import refuse_existing

    refuse_existing(arguments.output, arguments.force)
    source = read_source_series_folder(arguments.reference) if arguments.reference else None
    result = read_seg(arguments.seg, source.geometry if source else None, workers=ALL_CORES)
    image = read_series_voxels(source) if source else None
    title = result.info.series_description or arguments.seg.name
    write_preview(result, arguments.output, image=image, title=title, overwrite=arguments.force)
    print(f"{arguments.output}: {len(result.segments)} segments")
    return 0


def _send(arguments: argparse.Namespace) -> int:
    from ..network import parse_destination, send_files

    headers = {}
    for header in arguments.header:
        name, separator, value = header.partition(":")
        if not separator or not name.strip():
            raise SendError(f"--header {header!r} is not NAME:VALUE")
        headers[name.strip()] = value.strip()
    destination = parse_destination(arguments.to, headers, arguments.calling_ae_title)
    sent = send_files(arguments.files, destination)
    print(f"sent {len(sent.sop_instance_uids)} instance(s) to {sent.destination}")
    if sent.sent_decompressed:
        print(f"{len(sent.sent_decompressed)} of them decompressed: the destination does not accept their transfer syntax")
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    from .demo import run_demo

    if arguments.output:
        arguments.output.mkdir(parents=True, exist_ok=True)
        return 0 if run_demo(arguments.output) else 1
    with tempfile.TemporaryDirectory() as folder:
        return 0 if run_demo(Path(folder)) else 1

