"""Operations on Slicer's DICOM database (``slicer.dicomDatabase``) for the panel, the plugin and the console.

Each function opens the database first if needed (:func:`ensure_database_initialized`)
and raises :class:`~DicomManager.errors.DicomDatabaseError` naming what it
could not find, instead of returning an empty answer that hides the reason.
What can be decided without the database (which files are SEGs referencing a
series, how a volume becomes a DICOM series) is decided in ``core`` and ``mrml``.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import ctk
import pydicom
import qt
import slicer
from DICOMLib import DICOMLoadable, DICOMPlugin, DICOMUtils
from pydicom.errors import InvalidDicomError

from ..core.reading.seg_references import find_segmentations_referencing
from ..errors import DicomDatabaseError
from .loadable_offer import PLUGIN_KEY

logger = logging.getLogger(__name__)

_MODALITY_TAG = "0008,0060"


def ensure_database_initialized() -> ctk.ctkDICOMDatabase:
    """Slicer's DICOM database, opened (and created) in the folder the DICOM module uses if it is not open."""
    database = getattr(slicer, "dicomDatabase", None)
    if database is None:
        raise DicomDatabaseError("Slicer has no DICOM database object: the DICOM module is not loaded.")
    if database.isOpen:
        return database
    directory = Path(_database_directory())
    directory.mkdir(parents=True, exist_ok=True)
    if not DICOMUtils.openDatabase(str(directory)) or not database.isOpen:
        raise DicomDatabaseError(f"Cannot open the DICOM database in {directory}.")
    logger.info("Opened DICOM database %s", database.databaseFilename)
    return database


def import_dicom_folder(folder: Path, copy_files: bool = False) -> list[str]:
    """Index every DICOM file under ``folder``; return the SeriesInstanceUIDs found there, sorted.

    With ``copy_files`` the database keeps its own copies, so ``folder`` may be
    deleted afterwards; otherwise it refers to the files where they are.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DicomDatabaseError(f"{folder}: no such folder to import.")
    database = ensure_database_initialized()
    if not DICOMUtils.importDicom(str(folder), database, copy_files):
        raise DicomDatabaseError(f"Importing {folder} into the DICOM database failed; see the log.")
    series_uids = {_series_uid_of(path) for path in folder.rglob("*") if path.is_file()}
    series_uids = {uid for uid in series_uids if uid and database.filesForSeries(uid)}
    if not series_uids:
        raise DicomDatabaseError(f"{folder}: no DICOM files were found to import.")
    return sorted(series_uids)


def get_segmentations_for_volume(volume_series_uid: str) -> list[str]:
    """SeriesInstanceUIDs of the SEG series in the database that reference the image series ``volume_series_uid``."""
    database = ensure_database_initialized()
    study_uid = database.studyForSeries(volume_series_uid)
    if not study_uid:
        raise DicomDatabaseError(f"Series {volume_series_uid} is not in the DICOM database.")
    seg_files = []
    for series_uid in database.seriesForStudy(study_uid):
        files = database.filesForSeries(series_uid)
        if series_uid != volume_series_uid and files and database.fileValue(files[0], _MODALITY_TAG) == "SEG":
            seg_files.extend(Path(path) for path in files)
    return find_segmentations_referencing(volume_series_uid, seg_files)


def load_segmentation_by_uid(series_uid: str) -> slicer.vtkMRMLSegmentationNode:
    """Load a LABELMAP SEG series from the database as the DICOM browser would, through our plugin."""
    database = ensure_database_initialized()
    files = database.filesForSeries(series_uid)
    if not files:
        raise DicomDatabaseError(f"Series {series_uid} is not in the DICOM database.")
    plugin = slicer.modules.dicomPlugins[PLUGIN_KEY]()
    loadables = plugin.examineForImport([files])
    if not loadables:
        raise DicomDatabaseError(f"Series {series_uid} is not a DICOM Label Map Segmentation.")
    return plugin.load_segmentation(loadables[0])


def create_synthetic_dicom(
    volume_node: slicer.vtkMRMLScalarVolumeNode,
    patient_id: str,
    patient_name: str = "",
    study_description: str = "",
    series_description: str | None = None,
) -> str:
    """Give a volume that did not come from DICOM (e.g. SampleData's MRHead) a DICOM series; return its UID.

    The images (CT Image Storage on the volume's exact grid, carrying only
    what is given here: no dates, user names or paths) are copied into the
    database, the volume is marked with their instance UIDs and placed under
    its new patient and study in the subject hierarchy, so that segmentations
    on it can be exported as SEG.
    """
    from ..core.writing.synthetic_series import SyntheticSeriesInfo
    from ..mrml.manager import DicomManager

    if not patient_id.strip():
        raise DicomDatabaseError("A synthetic DICOM series needs a patient ID.")
    database = ensure_database_initialized()
    info = SyntheticSeriesInfo(
        patient_id=patient_id,
        patient_name=patient_name,
        study_description=study_description,
        series_description=series_description or volume_node.GetName(),
        rescale_type="US",
    )
    with tempfile.TemporaryDirectory(prefix="DICOMLabelMapSeg-") as folder:
        source = DicomManager(volume_node.GetScene()).create_synthetic_series(volume_node, Path(folder), info)
        import_dicom_folder(Path(folder), copy_files=True)
    files = database.filesForSeries(source.series_instance_uid)
    if len(files) != len(source.paths):
        raise DicomDatabaseError(
            f"The database holds {len(files)} of the {len(source.paths)} images written for {volume_node.GetName()!r}."
        )
    loadable = DICOMLoadable()
    loadable.files = files
    DICOMPlugin().addSeriesInSubjectHierarchy(loadable, volume_node)
    return source.series_instance_uid


def _database_directory() -> str:
    """Where the DICOM module keeps its database: the application setting, else its documented default."""
    directory = qt.QSettings().value(slicer.dicomDatabaseDirectorySettingsKey)
    if directory:
        return str(directory)
    documents = qt.QStandardPaths.writableLocation(qt.QStandardPaths.DocumentsLocation)
    return str(Path(documents) / f"{slicer.app.applicationName}DICOMDatabase")


def _series_uid_of(path: Path) -> str | None:
    """The SeriesInstanceUID in a file's header, or None for a file that is not DICOM."""
    try:
        return str(pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SeriesInstanceUID"]).SeriesInstanceUID)
    except (InvalidDicomError, OSError, AttributeError, ValueError, EOFError, TypeError):
        return None
