"""What an optimization run folder holds, read from its ``results.json`` and its ``segmentations/`` folder.

The layout this reads::

    RUN_DIR/results.json
    RUN_DIR/segmentations/trial_000.seg.nrrd, trial_001.seg.nrrd, ...

``results.json`` is a JSON object. Keys used when present (others are kept
untouched): ``sample_data`` (or ``sample_data_name``, ``dataset``): the name
of the sample volume, which becomes the PatientID of a synthetic series;
``run`` (or ``run_name``): the run's name, which becomes the StudyDescription
(default: the folder's name); ``trials`` (or ``results``): a list of objects
with ``trial`` (or ``trial_number``, ``number``), ``algorithm``,
``parameters`` (or ``params``) and optionally ``segmentation`` (a path
relative to RUN_DIR), ``algorithm_version`` and ``algorithm_family``
(``[value, scheme, meaning]``). Segmentation files with no trial entry are
migrated too, under their file name.

Gold standards live in ``GoldStandards/<name>/`` with a ``metadata.json``
(same keys: ``sample_data``, ``algorithm``, ``parameters``) and one
``.seg.nrrd`` (or the file ``metadata.json`` names under ``segmentation``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.segments.terminology import CODE_FIELDS
from ..errors import MetadataFileError

RESULTS_FILE = "results.json"
GOLD_METADATA_FILE = "metadata.json"
SEGMENTATIONS_FOLDER = "segmentations"
_TRIAL_FILE = re.compile(r"trial_(\d+)\.seg\.nrrd$", re.IGNORECASE)


@dataclass(frozen=True)
class Trial:
    """One segmentation of a run, with what its record says about how it was made."""

    number: int | None
    segmentation: Path
    algorithm: str | None = None
    parameters: dict[str, Any] | None = None
    algorithm_version: str | None = None
    algorithm_family: tuple[str, str, str] | None = None
    record_index: int | None = None  # position in the results file's trial list, to update it

    @property
    def name(self) -> str:
        """``trial_042``, or the file's name for a segmentation without a number."""
        if self.number is not None:
            return f"trial_{self.number:03d}"
        return self.segmentation.name.removesuffix(".seg.nrrd")

    @property
    def series_description(self) -> str:
        """``trial_042_watershed``: the trial and its algorithm."""
        return f"{self.name}_{self.algorithm}" if self.algorithm else self.name


@dataclass
class RunFolder:
    """A run (or gold standard) folder: its metadata document and its trials."""

    folder: Path
    document_path: Path
    document: dict[str, Any]
    trials: list[Trial] = field(default_factory=list)
    is_gold_standard: bool = False

    @property
    def sample_data_name(self) -> str | None:
        return _first_text(self.document, "sample_data", "sample_data_name", "dataset")

    @property
    def run_name(self) -> str:
        return _first_text(self.document, "run", "run_name", "name") or self.folder.name


def read_run_folder(folder: Path) -> RunFolder:
    """Read a run folder (``results.json``) or a gold standard folder (``metadata.json``)."""
    folder = Path(folder)
    if (folder / RESULTS_FILE).is_file():
        document_path = folder / RESULTS_FILE
        document = _read_json(document_path)
        return RunFolder(folder, document_path, document, _run_trials(folder, document))
    if (folder / GOLD_METADATA_FILE).is_file():
        document_path = folder / GOLD_METADATA_FILE
        document = _read_json(document_path)
        return RunFolder(folder, document_path, document, [_gold_trial(folder, document)], is_gold_standard=True)
    raise MetadataFileError(f"{folder}: neither {RESULTS_FILE} (a run) nor {GOLD_METADATA_FILE} (a gold standard).")


def _run_trials(folder: Path, document: dict[str, Any]) -> list[Trial]:
    records = document.get("trials", document.get("results", []))
    if not isinstance(records, list):
        raise MetadataFileError(f"{folder / RESULTS_FILE}: 'trials' must be a list.")
    files = {int(m.group(1)): path for path in sorted((folder / SEGMENTATIONS_FOLDER).glob("*.seg.nrrd"))
             if (m := _TRIAL_FILE.search(path.name))}
    trials: list[Trial] = []
    claimed: set[Path] = set()
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise MetadataFileError(f"{folder / RESULTS_FILE}: trial entry {index} is not an object.")
        number = _trial_number(record, folder, index)
        given = record.get("segmentation") or record.get("segmentation_file")
        path = folder / given if given else files.get(number) if number is not None else None
        if path is None:
            continue  # a trial whose segmentation was not kept
        claimed.add(path.resolve())
        trials.append(_trial(record, number, path, index))
    for number, path in sorted(files.items()):
        if path.resolve() not in claimed:
            trials.append(Trial(number=number, segmentation=path))
    return trials


def _gold_trial(folder: Path, document: dict[str, Any]) -> Trial:
    given = document.get("segmentation")
    candidates = [folder / given] if given else sorted(folder.glob("*.seg.nrrd"))
    if len(candidates) != 1:
        raise MetadataFileError(
            f"{folder}: a gold standard needs exactly one .seg.nrrd (found {len(candidates)}), "
            f"or '{GOLD_METADATA_FILE}' naming it under 'segmentation'."
        )
    trial = _trial(document, None, candidates[0], None)
    return Trial(None, candidates[0], trial.algorithm, trial.parameters, trial.algorithm_version, trial.algorithm_family)


def _trial(record: dict[str, Any], number: int | None, path: Path, index: int | None) -> Trial:
    parameters = record.get("parameters", record.get("params"))
    family = record.get("algorithm_family")
    return Trial(
        number=number,
        segmentation=path,
        algorithm=_first_text(record, "algorithm", "method"),
        parameters=parameters if isinstance(parameters, dict) else None,
        algorithm_version=_first_text(record, "algorithm_version", "version"),
        algorithm_family=tuple(str(part) for part in family) if isinstance(family, list) and len(family) == CODE_FIELDS else None,
        record_index=index,
    )


def _trial_number(record: dict[str, Any], folder: Path, index: int) -> int | None:
    for key in ("trial", "trial_number", "number"):
        if key in record:
            try:
                return int(record[key])
            except (TypeError, ValueError):
                raise MetadataFileError(f"{folder / RESULTS_FILE}: trial entry {index} has {key}={record[key]!r}.") from None
    return None


def _first_text(document: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = document.get(key)
        if isinstance(value, str | int | float) and str(value).strip():
            return str(value).strip()
    return None


def _read_json(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise MetadataFileError(f"{path}: cannot read it as JSON ({error}).") from error
    if not isinstance(document, dict):
        raise MetadataFileError(f"{path}: expected a JSON object.")
    return document
