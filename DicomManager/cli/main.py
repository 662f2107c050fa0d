"""``dicomlabelmapseg``: batch export, import and inspection of LABELMAP SEGs outside Slicer.

Modules (Slicer's MRML classes, highdicom, pydicom, and standard ones a single
command uses) are imported by the commands that need them, so that ``--help``
imports no DICOM library and ``info`` on a SEG pydicom alone
(``test_cli_startup.py`` holds both to it).
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import logging
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext, redirect_stdout
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .. import __version__
from ..core.codecs.compression_choices import DEFAULT_COMPRESSION, Compression
from ..core.cores import ALL_CORES
from ..core.garbage_collection import garbage_collection_paused
from ..core.writing.overlap_policy import DEFAULT_OVERLAP_POLICY, OverlapPolicy
from ..errors import (
    DependencyError,
    DicomLabelMapSegError,
    IncompleteRequestError,
    InputPathError,
    LabelFileError,
    OutputExistsError,
    SendError,
)
from ..extras import missing_extra_error
from .command_result import CommandResult, written_file, written_seg
from .path_arguments import input_file, input_file_or_folder, input_folder, output_file, output_folder

if TYPE_CHECKING:  # the commands import what they need when they run, so the program starts fast
    import highdicom as hd

    from ..core.geometry.source_series import SeriesHeaders, SourceSeries
    from ..core.segments.dcmqi_metadata import DcmqiMetadata
    from ..core.segments.layered_segmentation import LayeredSegmentation
    from ..core.writing.export_options import ExportOptions

logger = logging.getLogger("dicomlabelmapseg")


def main(argv: Sequence[str] | None = None, *, process_ends: bool = False) -> int:
    """Run the command line; returns the process exit code (0 success, 1 failure, 2 usage).

    ``process_ends``: called by :func:`.program.run`, in a process that ends with the
    command and started it with the cyclic garbage collector off.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    try:
        arguments = parser.parse_args(argv)  # a wrong path argument raises here (see .path_arguments)
    except DicomLabelMapSegError as error:
        command = next((token for token in argv if not token.startswith("-")), "")
        return report_failure(error, CommandResult(command) if "--json" in argv else None)
    if arguments.verbose and arguments.quiet:  # one before the command, the other after it
        parser.error("argument -v/--verbose: not allowed with argument -q/--quiet")
    _log_to_terminal(arguments.verbose, arguments.quiet)
    arguments.result = result = CommandResult(arguments.command)
    prints_result = arguments.json and arguments.json_is_result  # else the command prints its own (info)
    output = sys.stdout
    try:
        with (
            _collector_for(arguments.one_file, process_ends),
            result.collecting_warnings(_OUR_LOGGERS),
            _standard_output_for(prints_result or (arguments.quiet and not arguments.json)),
        ):
            status = arguments.run(arguments)
    except OutputExistsError as error:
        hint = f"{error} Give --force to replace it." if "force" in arguments else str(error)
        return report_failure(error, result if arguments.json else None, message=hint)
    except DicomLabelMapSegError as error:
        return report_failure(error, result if arguments.json else None)
    except OSError as error:  # one the command did not expect: a folder it reads, the temporary folder, ...
        from ..core.writing.file_output import describe_os_error

        return report_failure(error, result if arguments.json else None, message=f"{describe_os_error(error)}.")
    except ModuleNotFoundError as error:
        missing_extra = missing_extra_error(error, f"dicomlabelmapseg {arguments.command}")
        if missing_extra is None:
            raise
        return report_failure(missing_extra, result if arguments.json else None)
    if prints_result:
        result.print(output)
    return status


def report_failure(error: Exception, result: CommandResult | None = None, message: str | None = None) -> int:
    """Tell the user why the command failed, in one line on standard error; returns the exit status (1).

    ``message`` is what to say when it is not the error's own text (a system error put in our words). With
    ``result`` (``--json``), also its JSON document on standard output, the error's class and message in
    it. The one place where a failure becomes what the user reads: every error of ours, and any other
    exception the command line maps to one line, comes here.
    """
    print(f"error: {message or error}", file=sys.stderr)
    if result is not None:
        result.print(sys.stdout, error, message)
    return 1


class _TerminalHandler(logging.StreamHandler):
    """The command line's log output on standard error: our records, and with ``--verbose`` every library's too."""


def _log_to_terminal(verbose: bool, quiet: bool) -> None:
    """Show our warnings (with ``verbose`` every record, libraries' included; with ``quiet`` errors only) on standard error.

    Libraries log what they see on the way (pynetdicom ``ERROR: Association Aborted`` before the
    error we raise for it, highdicom's notes); without ``verbose`` only our own records, and the
    one line of a failure, reach the user.
    """
    root = logging.getLogger()
    for earlier in [handler for handler in root.handlers if isinstance(handler, _TerminalHandler)]:
        root.removeHandler(earlier)
    handler = _TerminalHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    handler.setLevel(logging.ERROR if quiet else logging.NOTSET)
    if not verbose:
        handler.addFilter(_is_our_record)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    logging.captureWarnings(True)  # libraries' warnings are log records too (logger py.warnings)


_OUR_LOGGERS = (logger.name, "DicomManager")


def _is_our_record(record: logging.LogRecord) -> bool:
    return record.name.partition(".")[0] in _OUR_LOGGERS


def _standard_output_for(discarded: bool) -> AbstractContextManager[object]:
    """Where the command's text report goes: standard output, or nowhere (``--quiet``, or ``--json`` printed after it).

    Errors still reach standard error, and JSON asked for is printed with ``--quiet`` too.
    """
    return redirect_stdout(io.StringIO()) if discarded else nullcontext()


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
    _add_verbosity_options(parser, default=False)
    commands = parser.add_subparsers(required=True, metavar="COMMAND", dest="command")
    parser.set_defaults(one_file=False, json=False, json_is_result=False)
    for add_command in (
        _add_export_command,
        _add_import_command,
        _add_info_command,
        _add_migrate_command,
        _add_convert_command,
        _add_preview_command,
        _add_measure_command,
        _add_send_command,
        _add_demo_command,
    ):
        add_command(commands)
    for name in ("export", "import", "convert", "migrate", "measure", "send"):
        _add_json_option(commands.choices[name])
    for command in commands.choices.values():
        # Given after the command as well as before it; there they only override when given.
        _add_verbosity_options(command, default=argparse.SUPPRESS)
    return parser


def _add_json_option(command: argparse.ArgumentParser) -> None:
    """--json: one JSON object on standard output (see :mod:`.command_result`) instead of the text report."""
    command.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead of text: what was written (paths, sizes, UIDs), warnings, or the error",
    )
    command.set_defaults(json_is_result=True)


def _add_verbosity_options(parser: argparse.ArgumentParser, default: object) -> None:
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", default=default,
                           help="log what is done, libraries' messages included")
    verbosity.add_argument("-q", "--quiet", action="store_true", default=default,
                           help="print errors only")


def _add_export_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("export", help="segmentation file(s) -> LABELMAP SEG (BINARY SEG when segments overlap)")
    command.add_argument("--reference", required=True, type=input_folder, help="folder with the source DICOM series")
    command.add_argument(
        "--segmentation",
        required=True,
        type=input_file,
        nargs="+",
        help="Slicer .seg.nrrd, or label volumes (.nrrd, .nii.gz, .mha, ...), one per dcmqi segmentAttributes group",
    )
    command.add_argument("--output", required=True, type=output_file, help="SEG file to write")
    _add_writing_options(command)
    command.add_argument("--metadata", type=input_file, help="dcmqi segmentation metadata JSON for the segments")
    command.add_argument(
        "--strict", action="store_true", help="refuse --metadata keys dcmqi's schema does not know (default: warn, ignore them)"
    )
    command.add_argument("--series-description", help="SeriesDescription of the SEG")
    command.add_argument(
        "--measurements", type=output_file, metavar="REPORT", help="also write the segment statistics as a TID 1500 SR"
    )
    command.add_argument("--force", action="store_true", help="replace outputs that exist")
    command.set_defaults(run=_export, one_file=True)


def _add_import_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("import", help="SEG (LABELMAP, BINARY, FRACTIONAL) -> Slicer segmentation file")
    command.add_argument("seg", type=input_file, help="SEG file")
    command.add_argument(
        "--output", required=True, type=output_file,
        help=".seg.nrrd file to write, or a label volume (.nrrd, .nii, .nii.gz, .mha) when the segments do not overlap",
    )
    command.add_argument("--labelmap", type=output_file, help="also write a label volume (.nrrd, .nii, .nii.gz, .mha)")
    command.add_argument("--reference", type=input_folder, help="folder with the referenced series: use its grid")
    command.add_argument(
        "--metadata-out", type=output_file, metavar="JSON", help="also write dcmqi's metadata JSON of the segments and series"
    )
    command.add_argument("--force", action="store_true", help="replace outputs that exist")
    command.set_defaults(run=_import, one_file=True)


def _add_info_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("info", help="describe SEGs (without decoding their pixels) or measurement reports")
    command.add_argument("seg", type=input_file, nargs="+", help="SEG file(s), or TID 1500 measurement reports (SR)")
    command.add_argument("--json", action="store_true", help="print JSON instead of text (a list for several files)")
    command.set_defaults(run=_info, one_file=True)


def _add_migrate_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "migrate", help="a run folder (results.json + segmentations/*.seg.nrrd) or gold standard folder -> DICOM"
    )
    command.add_argument("folder", type=input_folder, help="run folder (results.json) or GoldStandards/<name> (metadata.json)")
    command.add_argument(
        "--reference", required=True, type=input_file_or_folder, help="DICOM folder of the volume, or its NRRD/NIfTI file"
    )
    command.add_argument("--verify", action="store_true", help="also re-check SEGs written by earlier runs")
    command.add_argument(
        "--measurements",
        action="store_true",
        help="also write each SEG's segment statistics as a TID 1500 SR beside it (NAME_measurements.dcm), "
        "linked in results.json",
    )
    _add_writing_options(command)
    command.set_defaults(run=_migrate)


def _add_convert_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "convert", help="every classic SEG and .seg.nrrd under a tree -> LABELMAP SEG, same layout, all cores"
    )
    command.add_argument("input_tree", type=input_folder, help="folder searched recursively (SEGs and their source series)")
    command.add_argument("output_tree", type=output_folder, help="folder the outputs go to, at the same relative paths")
    command.add_argument("--workers", type=int, help="processes (default: one per core)")
    command.add_argument(
        "--dask-scheduler", metavar="ADDRESS", help="run on a Dask cluster instead (tcp://host:8786; trees on shared storage)"
    )
    _add_writing_options(command)
    command.set_defaults(run=_convert)


def _add_preview_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("preview", help="PNG of a SEG: axial, coronal, sagittal slices and a legend")
    command.add_argument("seg", type=input_file, help="SEG file")
    command.add_argument("--reference", type=input_folder, help="folder with the referenced series: drawn under the segments")
    command.add_argument("--output", required=True, type=output_file, help="PNG file to write")
    command.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    command.set_defaults(run=_preview, one_file=True)


def _add_measure_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "measure", help="segment statistics over the source series -> TID 1500 measurement report (SR)"
    )
    command.add_argument("seg", type=input_file, help="SEG file")
    command.add_argument(
        "--reference", required=True, type=input_folder, help="folder with the source series the SEG was drawn on"
    )
    command.add_argument("--output", required=True, type=output_file, help="SR file to write")
    command.add_argument("--force", action="store_true", help="replace OUTPUT if it exists")
    command.set_defaults(run=_measure, one_file=True)


def _add_send_command(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser("send", help="DICOM files (a SEG and its series) -> a DICOMweb or DIMSE archive")
    command.add_argument("files", type=input_file_or_folder, nargs="+", help="DICOM files or folders (searched recursively)")
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
    command.add_argument("--output", type=output_folder, help="folder to keep the files in (default: a temporary folder)")
    command.add_argument("--force", action="store_true", help="replace the files of an earlier demo in OUTPUT")
    command.set_defaults(run=_demo)


def _export(arguments: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from ..core.geometry.source_series import read_series_headers
    from ..core.segments.dcmqi_metadata import read_dcmqi_metadata
    from ..core.writing.file_output import all_or_none, refuse_existing
    from ..core.writing.series_writer import write_segmentation

    refuse_existing(arguments.output, arguments.force)
    if arguments.measurements:
        refuse_existing(arguments.measurements, arguments.force)
        if arguments.overlap == OverlapPolicy.LAYERS:
            raise IncompleteRequestError("--measurements measures one SEG; --overlap layers may write several.")
    metadata = read_dcmqi_metadata(arguments.metadata, strict=arguments.strict) if arguments.metadata else None
    options = _export_options(arguments, file_name=arguments.output.name, overwrite=arguments.force, workers=ALL_CORES)
    if metadata:
        options = options.over_series(metadata.series)
    if arguments.series_description:
        options = options.with_series(series_description=arguments.series_description)
    with ThreadPoolExecutor(1) as background:
        # zlib lets go of the GIL while it inflates a .seg.nrrd: that overlaps reading the source headers.
        read_without_slicer = background.submit(_read_seg_nrrd_file, arguments.segmentation)
        headers = read_series_headers(arguments.reference)
        segmentation = read_without_slicer.result()
    if segmentation is None:
        segmentation, source = _read_label_files(arguments.segmentation, headers, metadata)
    else:  # the segmentation's grid chooses among the volumes of a multi-frame source
        source = headers.series(segmentation.layers[0].get_geometry())
    segmentation = segmentation.with_metadata(metadata.segments if metadata else None)
    written = write_segmentation(segmentation, source, arguments.output.parent, options)
    arguments.result.record_written(*map(written_seg, written.instances))
    if arguments.measurements:
        with all_or_none() as kept:  # the SEG and its report are written together or not at all
            kept.extend(written.paths)
            _write_measurements(arguments, written.paths[0], source, arguments.measurements)
    arguments.result.record(transfer_syntax_uid=options.compression.transfer_syntax_uid,
                            segments=[asdict(segment) for segment in segmentation.segments])
    for path in written.paths:
        print(f"{path}: {written.segmentation_type} SEG, SeriesInstanceUID {written.series_instance_uid}")
    return 0


def _write_measurements(arguments: argparse.Namespace, seg: Path, source: SourceSeries, output: Path) -> None:
    """Measure ``seg`` over ``source`` and write the TID 1500 report to ``output``."""
    from ..core.measurements.measurement_report import write_measurement_report
    from ..core.measurements.measuring import measure_seg

    measured = measure_seg(seg, source, workers=ALL_CORES)
    report = measured.report()
    write_measurement_report(report, output, arguments.force)
    identity = {"sop_instance_uid": str(report.SOPInstanceUID), "series_instance_uid": str(report.SeriesInstanceUID)}
    arguments.result.record_written(written_file(output) | identity)
    print(f"{output}: measurement report of {len(measured.statistics)} segments")


def _read_seg_nrrd_file(paths: list[Path]) -> LayeredSegmentation | None:
    """The segments of a ``.seg.nrrd`` as Slicer writes it, read without slicer-core (slow to import); else None."""
    from ..core.slicer_files.seg_nrrd import is_segmentation_file, read_seg_nrrd

    first = paths[0]
    if is_segmentation_file(first) and len(paths) > 1:
        raise LabelFileError("Give one .seg.nrrd file, or label volumes only.")
    return read_seg_nrrd(first) if is_segmentation_file(first) else None


def _read_label_files(
    paths: list[Path], headers: SeriesHeaders, metadata: DcmqiMetadata | None
) -> tuple[LayeredSegmentation, SourceSeries]:
    """Label volumes (NRRD, NIfTI, MetaImage), or a ``.seg.nrrd`` of a layout only slicer-core reads, on their series.

    The first label volume's grid chooses among the volumes of a multi-frame
    source; a ``.seg.nrrd`` read through Slicer is read onto the series' grid.
    """
    from ..core.geometry.grids import match_to_grid
    from ..core.label_files.label_volume_files import read_label_volume
    from ..core.label_files.label_volume_segmentation import segmentation_from_label_volumes
    from ..core.slicer_files.seg_nrrd import is_segmentation_file

    if is_segmentation_file(paths[0]):
        source = headers.series()
        return _read_through_slicer(paths[0], source.geometry), source
    volumes = [read_label_volume(path) for path in paths]
    source = headers.series(volumes[0].get_geometry())
    volumes = [match_to_grid(volume, source.geometry, str(path)) for volume, path in zip(volumes, paths, strict=True)]
    return segmentation_from_label_volumes(volumes, metadata.segments if metadata else None), source


def _read_through_slicer(path: Path, grid: hd.VolumeGeometry) -> LayeredSegmentation:
    """A ``.seg.nrrd`` :func:`read_seg_nrrd` leaves to Slicer (before shared layers, non-integer voxels), on ``grid``."""
    try:
        from ..mrml.scene_setup import start_session
    except ModuleNotFoundError as error:
        if error.name != "slicer":
            raise
        raise DependencyError(
            f"{path}: this .seg.nrrd (from before Slicer 4.11, or of non-integer voxels) is read through slicer-core: "
            "pip install 'dicomlabelmapseg[slicer]'."
        ) from error
    from ..mrml.segmentation_nodes import discard_segmentation_node, layered_segmentation_of_node
    from ..mrml.storage import read_segmentation_file

    node = read_segmentation_file(start_session().scene, path)
    try:
        return layered_segmentation_of_node(node, grid)
    finally:
        discard_segmentation_node(node)


def _export_options(arguments: argparse.Namespace, **fields: object) -> ExportOptions:
    """The options :func:`_add_writing_options` adds, with ``fields`` set besides."""
    from ..core.writing.export_options import ExportOptions

    return ExportOptions(
        compression=arguments.compression, overlap=arguments.overlap, crop_to_segments=arguments.crop_to_segments, **fields
    )



def _import(arguments: argparse.Namespace) -> int:
    from ..core.geometry.source_series import read_series_headers
    from ..core.label_files.label_volume_files import write_label_volume
    from ..core.reading.seg_reader import read_seg
    from ..core.slicer_files.seg_nrrd import SEGMENTATION_SUFFIX, is_segmentation_file, write_seg_nrrd
    from ..core.writing.file_output import all_or_none, refuse_existing

    label_volumes = _label_volume_outputs(arguments)
    for output in (arguments.output, arguments.labelmap, arguments.metadata_out):
        if output is not None:
            refuse_existing(output, arguments.force)
    reference = None
    if arguments.reference:
        headers = read_series_headers(arguments.reference)
        reference = headers.reference(_grid_choosing_the_volume(headers, arguments.seg))
    result = read_seg(
        arguments.seg,
        reference.geometry if reference else None,
        workers=ALL_CORES,
        image_positions=reference.image_positions if reference else None,
    )
    if label_volumes and len(result.layers) > 1:
        raise LabelFileError(
            f"{arguments.seg}: its segments overlap ({len(result.layers)} layers), so they cannot be one label "
            f"volume; write a {SEGMENTATION_SUFFIX} only, which keeps every layer."
        )
    for note in result.notes:
        logger.warning("%s: %s", arguments.seg, note)
    with all_or_none() as written:
        if is_segmentation_file(arguments.output):
            write_seg_nrrd(arguments.output, result, overwrite=arguments.force)
            written.append(arguments.output)
        for path in label_volumes:
            write_label_volume(result.layers[0], path, overwrite=arguments.force)
            written.append(path)
        if arguments.metadata_out:
            from ..core.segments.dcmqi_metadata import write_dcmqi_metadata

            write_dcmqi_metadata(arguments.metadata_out, result, result.info.series_attributes(), overwrite=arguments.force)
            written.append(arguments.metadata_out)
    shape = "x".join(map(str, result.layers[0].spatial_shape[::-1]))
    arguments.result.record_written(
        *(written_file(path) for path in (arguments.output, arguments.labelmap, arguments.metadata_out) if path)
    )
    arguments.result.record(info=asdict(result.info), segments=[asdict(segment) for segment in result.segments],
                            layers=len(result.layers), grid=shape)
    print(f"{arguments.output}: {len(result.segments)} segments in {len(result.layers)} layer(s), grid {shape}")
    return 0


def _label_volume_outputs(arguments: argparse.Namespace) -> list[Path]:
    """The label volumes ``import`` is to write, their names checked before anything is read or written."""
    from ..core.label_files.label_volume_files import WRITTEN_SUFFIXES, is_label_volume_output
    from ..core.slicer_files.seg_nrrd import SEGMENTATION_SUFFIX, is_segmentation_file

    label_volumes = [] if is_segmentation_file(arguments.output) else [arguments.output]
    label_volumes += [arguments.labelmap] if arguments.labelmap else []
    for path in label_volumes:
        if is_segmentation_file(path) or not is_label_volume_output(path):
            option = "--output" if path is arguments.output else "--labelmap"
            kinds = f"a Slicer segmentation ({SEGMENTATION_SUFFIX}) or " if option == "--output" else ""
            raise LabelFileError(
                f"{path}: {option} writes {kinds}a label volume ({', '.join(WRITTEN_SUFFIXES)}); "
                "the name says none of these."
            )
    return label_volumes


def _measure(arguments: argparse.Namespace) -> int:
    from ..core.geometry.source_series import read_series_headers
    from ..core.writing.file_output import refuse_existing

    refuse_existing(arguments.output, arguments.force)
    headers = read_series_headers(arguments.reference)
    source = headers.series(_grid_choosing_the_volume(headers, arguments.seg))
    _write_measurements(arguments, arguments.seg, source, arguments.output)
    return 0


def _grid_choosing_the_volume(headers: SeriesHeaders, seg: Path) -> hd.VolumeGeometry | None:
    """The grid of the SEG's own frames where it is to choose among the volumes of a multi-frame reference, else None.

    None where the reference is not one multi-frame image (nothing to choose)
    or the frames lie on no regular grid (reading the SEG says why).
    """
    if not headers.is_one_multiframe_image:
        return None
    from ..core.geometry.frame_geometry import grid_choosing_the_volume
    from ..core.reading.header_reading import read_seg_header

    return grid_choosing_the_volume(read_seg_header(seg), seg)


def _info(arguments: argparse.Namespace) -> int:
    documents = [_describe(path, as_text=not arguments.json) for path in arguments.seg]
    if arguments.json:
        print(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2, default=str))
    return 0


def _describe(path: Path, as_text: bool) -> dict:
    """``info`` of one file, a SEG or a measurement report: printed as text when ``as_text``, returned for JSON.

    The file is read once, without its pixel data, and with pydicom only: highdicom is imported for a report alone.
    """
    from ..core.measurements.report_reading import is_structured_report
    from ..core.reading.header_reading import read_header, read_seg_header
    from ..core.reading.seg_info import seg_info, segments_of
    from ..core.reading.seg_references import references_of_header

    header = read_header(path)
    if is_structured_report(header):
        return _describe_report(path, as_text)
    header = read_seg_header(path, header)
    info, segments = seg_info(header, path), segments_of(header, path)
    images = references_of_header(header, path).referenced_instance_uids
    if as_text:
        print(f"{info.path}")
        print(f"  {info.series_description!r}, series {info.series_number}, {info.number_of_frames} frames, "
              f"{info.bits_allocated}-bit, {info.transfer_syntax_uid}")
        print(f"  references series {info.referenced_series_uid} ({len(images)} images)")
        for segment in segments:
            print(f"  {segment.number:5d}  {segment.label}  [{segment.type.scheme} {segment.type.value} "
                  f"{segment.type.meaning}]  RGB {segment.color}")
    return {
        "info": asdict(info) | {"referenced_instance_uids": list(images)},
        "segments": [asdict(segment) for segment in segments],
    }


def _describe_report(path: Path, as_text: bool) -> dict:
    """``info`` of a TID 1500 measurement report: its groups, each a segment and what was measured of it."""
    from ..core.measurements.report_reading import read_measurement_report

    report = read_measurement_report(path)
    if as_text:
        print(f"{report.path}")
        print(f"  {report.series_description!r}, measurement report of SEG {', '.join(report.seg_sop_instance_uids)}")
        for group in report.groups:
            print(f"  {group.segment_number or '-':>5}  {group.tracking_identifier}")
            for measurement in group.measurements:
                what = measurement.derivation.meaning if measurement.derivation else measurement.quantity.meaning
                print(f"         {what}: {measurement.value:g} {measurement.unit.value}")
    return asdict(report)


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
        measurements=arguments.measurements,
        progress=print,
    )
    arguments.result.record(outcomes=[asdict(outcome) for outcome in report.outcomes],
                            report=str(arguments.folder / "dicom" / "migration_report.md"))
    migrated = sum(outcome.status == TrialStatus.MIGRATED for outcome in report.outcomes)
    skipped = sum(outcome.status == TrialStatus.SKIPPED for outcome in report.outcomes)
    print(f"{migrated} migrated, {skipped} already done, {len(report.failures)} failed or different; "
          f"report: {arguments.folder / 'dicom' / 'migration_report.md'}")
    return 1 if report.failures else 0


def _convert(arguments: argparse.Namespace) -> int:
    import statistics

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
            progress=None if arguments.quiet else progress,
            executor=executor,
        )
    if interactive and not arguments.quiet:
        print(file=sys.stderr)
    if not summary.outcomes:
        raise InputPathError(f"{arguments.input_tree}: holds no SEG and no .seg.nrrd file to convert.")
    for outcome in summary.outcomes:
        if outcome.status == ConversionStatus.FAILED:
            print(f"failed: {outcome.input}: {outcome.reason}", file=sys.stderr)
    counts = {status: summary.count(status) for status in ConversionStatus}
    arguments.result.record(outcomes=[asdict(outcome) for outcome in summary.outcomes], counts=counts,
                            bytes_saved=summary.bytes_saved)
    print(f"{counts[ConversionStatus.CONVERTED]} converted, {counts[ConversionStatus.SKIPPED]} skipped, "
          f"{counts[ConversionStatus.FAILED]} failed; "
          f"{summary.bytes_saved / 1e6:.2f} MB saved"
          + (f"; peak memory of a worker {summary.peak_worker_mb:.0f} MB" if summary.peak_worker_mb is not None else ""))
    if summary.item_seconds:
        print(f"{summary.seconds:.1f} s: planning {summary.planning_seconds:.1f} s, "
              f"{statistics.mean(summary.item_seconds):.2f} s per item in its worker"
              + (f" with {summary.workers} {'worker' if summary.workers == 1 else 'workers'}" if summary.workers else ""))
    return 1 if counts[ConversionStatus.FAILED] else 0


def _preview(arguments: argparse.Namespace) -> int:
    from ..core.geometry.source_series import read_series_headers, read_series_voxels
    from ..core.preview import image_window, write_preview
    from ..core.reading.seg_reader import read_seg
    from ..core.writing.file_output import refuse_existing

    refuse_existing(arguments.output, arguments.force)
    source = None
    if arguments.reference:
        headers = read_series_headers(arguments.reference)
        source = headers.series(_grid_choosing_the_volume(headers, arguments.seg))
    result = read_seg(arguments.seg, source.geometry if source else None, workers=ALL_CORES)
    image = read_series_voxels(source) if source else None
    title = result.info.series_description or arguments.seg.name
    window = image_window(source.datasets[0]) if source else None
    write_preview(result, arguments.output, image=image, window=window, title=title, overwrite=arguments.force)
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
    arguments.result.record(destination=sent.destination, sop_instance_uids=list(sent.sop_instance_uids),
                            sent_decompressed=[str(path) for path in sent.sent_decompressed])
    print(f"sent {len(sent.sop_instance_uids)} instance(s) to {sent.destination}")
    if sent.sent_decompressed:
        print(f"{len(sent.sent_decompressed)} of them decompressed: the destination does not accept their transfer syntax")
    return 0


def _demo(arguments: argparse.Namespace) -> int:
    import tempfile

    from .demo import run_demo

    if arguments.output:
        arguments.output.mkdir(parents=True, exist_ok=True)
        exact = run_demo(arguments.output, overwrite=arguments.force)
        print(f"The files are kept in {arguments.output}.")
    else:
        with tempfile.TemporaryDirectory() as folder:
            exact = run_demo(Path(folder))
        print(f"The files were in a temporary folder, {folder}, deleted now; give --output DIR to keep them.")
    return 0 if exact else 1

