"""Move an optimization run (or a gold standard) from ``.seg.nrrd`` files to DICOM, keeping its records linked.

For a run folder (see :mod:`.run_layout`) this writes::

    RUN_DIR/dicom/volume/*.dcm                 when the reference is NRRD/NIfTI: one synthetic series, shared
    RUN_DIR/dicom/segmentations/trial_NNN.dcm  one SEG per trial (gold standards: RUN_DIR/dicom/gold.dcm)
    RUN_DIR/dicom/segmentations/trial_NNN_measurements.dcm
                                               with ``measurements``: its segment statistics (TID 1500 SR)
    RUN_DIR/dicom/previews/trial_NNN.png       what the report shows
    RUN_DIR/dicom/migration_report.md, .json   every input, its output, sizes, round-trip check, failures

and adds a ``dicom`` block to ``results.json`` (``metadata.json`` for a gold
standard) with the patient ID, StudyInstanceUID, volume SeriesInstanceUID and
description, plus ``dicom_series_uid`` and ``dicom_seg_path`` per trial (and
``dicom_measurements_path`` when its report was written). The
``.seg.nrrd`` files are only read; the results file is rewritten atomically,
its first version kept as ``<name>.before-dicom``.

Metadata mapping: sample data name -> PatientID (of a synthetic series; a
DICOM reference keeps its own), run name -> StudyDescription, trial number
and algorithm -> SeriesDescription (``trial_042_watershed``), segment name
-> SegmentLabel, algorithm -> SegmentAlgorithmName and the
SegmentationAlgorithmIdentificationSequence (family from
:mod:`.algorithm_families`, name, version), whose AlgorithmParameters hold
the trial's parameters as JSON (read back on load with the segment).

All trials share the volume's StudyInstanceUID and FrameOfReferenceUID.
Running again skips trials whose SEG exists and retries those that failed;
``verify`` re-checks existing SEGs against their ``.seg.nrrd`` too. A write
the system refuses (a full disk, a read-only folder) stops the run at that
trial, after the report and the results file are written for those done.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np

from ..core.geometry.source_series import (
    SourceSeries,
    image_positions,
    read_series_headers,
    read_series_voxels,
    read_source_series_folder,
)
from ..core.measurements.measurement_report import report_path_beside, write_measurement_report
from ..core.measurements.measuring import SegMeasurements
from ..core.measurements.segment_statistics import segment_statistics
from ..core.preview import write_preview
from ..core.reading.seg_reader import read_seg, read_seg_header
from ..core.segments.layered_segmentation import LayeredSegmentation
from ..core.segments.segment_metadata import AlgorithmIdentification, AlgorithmType, Code, SegmentMetadata
from ..core.slicer_files.seg_nrrd import read_seg_nrrd
from ..core.writing.export_options import ExportOptions
from ..core.writing.file_output import write_atomically
from ..core.writing.synthetic_series import SyntheticSeriesInfo
from ..errors import DicomLabelMapSegError, OutputWriteError, SourceSeriesError
from ..mrml.manager import DicomManager
from ..mrml.segmentation_nodes import discard_segmentation_node, layers_from_segmentation_node, segment_metadata_from_node
from ..mrml.storage import read_segmentation_file, read_volume_node
from ..mrml.volume_nodes import grid_of_volume_node
from .algorithm_families import algorithm_family
from .run_layout import RunFolder, Trial, read_run_folder

logger = logging.getLogger(__name__)

DICOM_FOLDER = "dicom"
REPORT_NAME = "migration_report"
UNVERSIONED = "unversioned"


class TrialStatus(StrEnum):
    """How one segmentation file's migration ended."""

    MIGRATED = "migrated"
    SKIPPED = "skipped"
    FAILED = "failed"


class RoundTrip(StrEnum):
    """What reading the written SEG back showed."""

    EXACT = "exact"
    DIFFERENT = "different"
    NOT_CHECKED = "not checked"


@dataclass
class TrialOutcome:
    """What happened to one segmentation file."""

    name: str
    input: str
    output: str | None
    status: TrialStatus
    input_bytes: int
    output_bytes: int | None = None
    round_trip: RoundTrip = RoundTrip.NOT_CHECKED
    series_instance_uid: str | None = None
    preview: str | None = None
    measurements: str | None = None
    error: str | None = None


@dataclass
class MigrationReport:
    """The outcome of one migration run, as written to ``migration_report.json``."""

    folder: str
    reference: str
    patient_id: str
    study_instance_uid: str
    volume_series_uid: str
    volume_description: str
    outcomes: list[TrialOutcome] = field(default_factory=list)

    @property
    def failures(self) -> list[TrialOutcome]:
        return [o for o in self.outcomes if o.status == TrialStatus.FAILED or o.round_trip == RoundTrip.DIFFERENT]


def migrate_run(
    folder: Path,
    reference: Path,
    manager: DicomManager,
    *,
    verify: bool = False,
    options: ExportOptions = ExportOptions(),
    measurements: bool = False,
    progress: Callable[[str], None] = logger.info,
) -> MigrationReport:
    """Migrate the run or gold standard in ``folder`` over ``reference`` (DICOM folder, or NRRD/NIfTI volume).

    Each SEG is written with ``options``; its file name and series
    description come from the trial. With ``measurements`` each SEG also
    gets its segment statistics over the volume as a TID 1500 report beside
    it, written unless an earlier run wrote it. Of the volumes of a multi-frame
    reference (echoes, image types, stacks), the one the trials' grid chooses
    is exported over.
    """
    if not Path(reference).exists():
        raise SourceSeriesError(f"{reference}: no such DICOM folder or volume file.")
    run = read_run_folder(folder)
    dicom = run.folder / DICOM_FOLDER
    volume, source = _reference_volume(run, Path(reference), manager, dicom)
    first = source.datasets[0]
    report = MigrationReport(
        folder=str(run.folder),
        reference=str(reference),
        patient_id=str(first.get("PatientID", "")),
        study_instance_uid=str(first.StudyInstanceUID),
        volume_series_uid=source.series_instance_uid,
        volume_description=str(first.get("SeriesDescription", "")),
    )
    reference_volume = _ReferenceVolume(volume, source, read_series_voxels(source))
    for trial in run.trials:
        output = dicom / "gold.dcm" if run.is_gold_standard else dicom / "segmentations" / f"{trial.name}.dcm"
        progress(f"{trial.segmentation.name} -> {output.relative_to(run.folder)}")
        trial_options = replace(options, file_name=output.name).with_series(series_description=_description(run, trial))
        outcome = _trial_outcome(run, trial, output)
        report.outcomes.append(outcome)
        try:
            _migrate_trial(run, trial, outcome, reference_volume, manager, trial_options, verify=verify)
            if measurements and outcome.status != TrialStatus.FAILED:
                outcome.measurements = _measurements(run, output, reference_volume)
        except OutputWriteError as error:  # a full disk, a read-only folder: every later trial would fail alike
            outcome.status, outcome.error, outcome.output = TrialStatus.FAILED, str(error), None
            progress(f"  failed: {error}")
            progress("stopped; the report covers the trials done so far, and running again resumes here")
            break
        if outcome.error:
            progress(f"  failed: {outcome.error}")
    _update_results(run, report)
    _write_report(dicom, report)
    return report


def _reference_volume(run: RunFolder, reference: Path, manager: DicomManager, dicom: Path):
    """The volume node to export against, and its DICOM series (made once for NRRD/NIfTI, then reused)."""
    if reference.is_dir():
        headers = read_series_headers(reference)
        source = headers.series(_grid_of_first_trial(run) if headers.is_one_multiframe_image else None)
        return manager.volume_from_series(source), source
    synthetic = dicom / "volume"
    if synthetic.is_dir() and any(synthetic.glob("*.dcm")):
        volume = manager.load_reference_volume(synthetic)
        return volume, read_source_series_folder(synthetic)
    volume = read_volume_node(manager.scene, reference)
    info = SyntheticSeriesInfo(
        patient_id=run.sample_data_name or reference.name.split(".")[0],
        study_description=run.run_name,
        series_description=reference.name.split(".")[0],
        rescale_type="US",
    )
    # Written beside, then renamed: a half-written series is never mistaken for a finished one.
    partial = dicom / ".volume-partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        manager.create_synthetic_series(volume, partial, info)
        partial.rename(synthetic)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    manager.scene.RemoveNode(volume)
    volume = manager.load_reference_volume(synthetic)
    return volume, read_source_series_folder(synthetic)


def _grid_of_first_trial(run: RunFolder) -> hd.VolumeGeometry | None:
    """The grid of the first trial's ``.seg.nrrd`` that reads without Slicer, which chooses the volume of a multi-frame reference.

    Every trial of a run is drawn on one volume. None when no trial reads so
    (the reference's volumes are then chosen by none, and it is refused if it holds several).
    """
    for trial in run.trials:
        try:
            segmentation = read_seg_nrrd(trial.segmentation)
        except (DicomLabelMapSegError, OSError) as error:  # a broken or missing file is the trial's failure, told later
            logger.debug("%s does not choose the reference's volume: %s", trial.segmentation, error)
            continue
        if segmentation is not None:
            return segmentation.layers[0].get_geometry()
    return None


@dataclass(frozen=True)
class _ReferenceVolume:
    """The volume the trials are exported over: its node, its DICOM series, and its voxels for previews and measurements."""

    node: Any
    source: SourceSeries
    voxels: np.ndarray


def _trial_outcome(run: RunFolder, trial: Trial, output: Path) -> TrialOutcome:
    """A trial's outcome before it is migrated: what it reads and writes."""
    return TrialOutcome(
        name=trial.name,
        input=str(trial.segmentation.relative_to(run.folder)),
        output=str(output.relative_to(run.folder)),
        status=TrialStatus.MIGRATED,
        input_bytes=trial.segmentation.stat().st_size if trial.segmentation.is_file() else 0,
    )


def _migrate_trial(
    run: RunFolder,
    trial: Trial,
    outcome: TrialOutcome,
    reference: _ReferenceVolume,
    manager: DicomManager,
    options: ExportOptions,
    *,
    verify: bool,
) -> None:
    """Write, read back and preview one trial, settling ``outcome``.

    Its own failures (a broken ``.seg.nrrd``) go into ``outcome``; an :class:`OutputWriteError` is raised.
    """
    output = run.folder / outcome.output
    node = None
    try:
        grid = grid_of_volume_node(reference.node)
        if output.exists():
            outcome.status = TrialStatus.SKIPPED  # done by an earlier run; its .seg.nrrd is read only to verify it
            if verify:
                node = read_segmentation_file(manager.scene, trial.segmentation)
        else:
            node = read_segmentation_file(manager.scene, trial.segmentation)
            manager.export_segmentation(node, reference.node, output.parent, options, _segments_with_algorithm(node, grid, trial))
        result = read_seg(output, grid)
        outcome.series_instance_uid = result.info.series_instance_uid
        if node is not None:
            outcome.round_trip = _round_trip(node, result, grid)
        outcome.output_bytes = output.stat().st_size
        outcome.preview = _preview(run, trial, result, reference.voxels)
    except OutputWriteError:
        raise
    except DicomLabelMapSegError as error:
        outcome.status, outcome.error, outcome.output = TrialStatus.FAILED, str(error), None
    finally:
        if node is not None:
            discard_segmentation_node(node)


def _description(run: RunFolder, trial: Trial) -> str:
    """SeriesDescription: ``trial_042_watershed`` for a trial, ``gold_<folder>`` for a gold standard."""
    return f"gold_{run.folder.name}" if run.is_gold_standard else trial.series_description


def _segments_with_algorithm(node, grid, trial: Trial) -> list[SegmentMetadata]:
    """The node's segments, each marked as made by the trial's algorithm with its parameters."""
    numbers = layers_from_segmentation_node(node, grid).numbers
    segments = [segment_metadata_from_node(node, segment_id, number) for segment_id, number in numbers.items()]
    if not trial.algorithm:
        return segments
    family = Code(*trial.algorithm_family) if trial.algorithm_family else algorithm_family(trial.algorithm)
    identification = AlgorithmIdentification(
        family=family,
        name=trial.algorithm,
        version=trial.algorithm_version or UNVERSIONED,
        parameters=json.dumps(trial.parameters, sort_keys=True) if trial.parameters else None,
    )
    return [
        replace(
            segment,
            algorithm_type=AlgorithmType.AUTOMATIC,
            algorithm_name=trial.algorithm,
            algorithm_identification=identification,
        )
        for segment in segments
    ]


def _measurements(run: RunFolder, seg_path: Path, reference: _ReferenceVolume) -> str | None:
    """The path in the run of the SEG's measurement report beside it, written unless it exists; None if it cannot be.

    The volume's voxels are those read once for the run; a failure of the SEG
    or the volume is logged and leaves the trial's SEG as it is, to be
    measured by a later run. A write the system refuses is raised, to stop
    the run as a refused SEG write does.
    """
    path = report_path_beside(seg_path)
    if not path.exists():
        try:
            source = reference.source
            contents = read_seg(seg_path, source.geometry, image_positions=image_positions(source.datasets))  # as measure reads
            statistics = segment_statistics(contents, reference.voxels)
            measured = SegMeasurements(read_seg_header(seg_path), contents, source, statistics)
            write_measurement_report(measured.report(), path)
        except OutputWriteError:
            raise
        except DicomLabelMapSegError as error:
            logger.error("%s: no measurement report: %s", seg_path, error)
            return None
    return str(path.relative_to(run.folder))


def _round_trip(node, result: LayeredSegmentation, grid) -> RoundTrip:
    """``exact`` when every segment of the SEG read back has exactly the voxels it has in the ``.seg.nrrd``."""
    node_layers = layers_from_segmentation_node(node, grid)
    theirs = {number: result.layers[layer].array == number for number, layer in result.layer_of_segment.items()}
    for number, layer in node_layers.layer_of_segment.items():
        ours = node_layers.layers[layer] == number
        if number not in theirs or not np.array_equal(ours, theirs[number]):
            return RoundTrip.DIFFERENT
    return RoundTrip.EXACT if set(theirs) == set(node_layers.layer_of_segment) else RoundTrip.DIFFERENT


def _preview(run: RunFolder, trial: Trial, result: LayeredSegmentation, image) -> str:
    previews = run.folder / DICOM_FOLDER / "previews"
    path = previews / f"{trial.name if not run.is_gold_standard else 'gold'}.png"
    if not path.exists():
        write_preview(result, path, image=image, title=_description(run, trial))
    return str(path.relative_to(run.folder / DICOM_FOLDER))


def _update_results(run: RunFolder, report: MigrationReport) -> None:
    document = json.loads(json.dumps(run.document))  # a deep copy
    document["dicom"] = {
        "patient_id": report.patient_id,
        "study_instance_uid": report.study_instance_uid,
        "volume_series_uid": report.volume_series_uid,
        "volume_description": report.volume_description,
    }
    by_input = {outcome.input: outcome for outcome in report.outcomes}
    if run.is_gold_standard:
        _link(document, next(iter(by_input.values())))
    else:
        key = "trials" if "trials" in document or "results" not in document else "results"
        records: list[dict[str, Any]] = document.setdefault(key, [])
        for trial in run.trials:
            outcome = by_input.get(str(trial.segmentation.relative_to(run.folder)))
            if outcome is None:  # not reached: the run stopped before it
                continue
            if trial.record_index is None:
                records.append({"trial": trial.number, "segmentation": outcome.input})
                _link(records[-1], outcome)
            else:
                _link(records[trial.record_index], outcome)
    backup = run.document_path.with_name(run.document_path.name + ".before-dicom")
    if not backup.exists():
        write_atomically(backup, lambda path: shutil.copy2(run.document_path, path))
    text = json.dumps(document, indent=2) + "\n"
    write_atomically(run.document_path, lambda path: path.write_text(text, encoding="utf-8"), overwrite=True)


def _link(record: dict[str, Any], outcome: TrialOutcome) -> None:
    if outcome.status != TrialStatus.FAILED:
        record["dicom_series_uid"] = outcome.series_instance_uid
        record["dicom_seg_path"] = outcome.output
    if outcome.measurements:
        record["dicom_measurements_path"] = outcome.measurements


def _write_report(dicom: Path, report: MigrationReport) -> None:
    text = json.dumps(asdict(report), indent=2) + "\n"
    write_atomically(dicom / f"{REPORT_NAME}.json", lambda path: path.write_text(text, encoding="utf-8"), overwrite=True)
    markdown = _markdown(report)
    write_atomically(dicom / f"{REPORT_NAME}.md", lambda path: path.write_text(markdown, encoding="utf-8"), overwrite=True)


def _markdown(report: MigrationReport) -> str:
    done = [o for o in report.outcomes if o.status != TrialStatus.FAILED]
    before = sum(o.input_bytes for o in done)
    after = sum(o.output_bytes or 0 for o in done)
    lines = [
        f"# Migration of {Path(report.folder).name} to DICOM",
        "",
        f"- Reference: `{report.reference}`; PatientID `{report.patient_id}`; StudyInstanceUID `{report.study_instance_uid}`",
        f"- Volume series `{report.volume_series_uid}` ({report.volume_description})",
        f"- {len(report.outcomes)} inputs: {_count(report, TrialStatus.MIGRATED)} migrated, "
        f"{_count(report, TrialStatus.SKIPPED)} already done, {len(report.failures)} failed or different",
        f"- Size: {before / 1e6:.2f} MB of .seg.nrrd -> {after / 1e6:.2f} MB of SEG",
        "",
        "| input | output | status | .seg.nrrd (kB) | SEG (kB) | round trip | error |",
        "|---|---|---|---|---|---|---|",
    ]
    for o in report.outcomes:
        output = f"`{o.output}`" if o.output else ""
        size = f"{o.output_bytes / 1e3:.1f}" if o.output_bytes else ""
        lines.append(
            f"| `{o.input}` | {output} | {o.status} | {o.input_bytes / 1e3:.1f} | {size} | {o.round_trip} | {o.error or ''} |"
        )
    lines.append("")
    for o in report.outcomes:
        if o.preview:
            lines += [f"## {o.name}", "", f"![{o.name}]({o.preview})", ""]
    return "\n".join(lines)


def _count(report: MigrationReport, status: TrialStatus) -> int:
    return sum(outcome.status == status for outcome in report.outcomes)
