"""Write a volume as a series of single-frame CT images, so that a SEG can reference it.

Used for the built-in demo and for volumes that did not come from DICOM. The
files carry only what the caller gives (patient ID and name, descriptions) and
fresh UIDs: no dates, user names or paths from the machine.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
from pydicom import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, CTImageStorage, ExplicitVRLittleEndian
from pydicom.valuerep import format_number_as_ds

from ...errors import SourceSeriesError
from .file_output import all_or_none, write_atomically

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SyntheticSeriesInfo:
    """Who and what a synthetic series is about; UIDs are made fresh unless given."""

    patient_id: str
    patient_name: str = ""
    study_description: str = ""
    series_description: str = "Synthetic series"
    series_number: int = 1
    study_instance_uid: str | None = None
    frame_of_reference_uid: str | None = None
    rescale_type: str = "HU"
    """What the voxel values are: "HU" for CT numbers, "US" (unspecified) for anything else."""


def write_ct_series(
    voxels: np.ndarray, grid: hd.VolumeGeometry, folder: Path, info: SyntheticSeriesInfo, overwrite: bool = False
) -> list[Path]:
    """Write ``voxels`` (slice, row, column; Hounsfield units) on ``grid`` as CT images in ``folder``.

    Returns the file paths in slice order (``IMG0001.dcm`` ...). All of them are
    written, or none: those written are removed when a later one fails.
    """
    if voxels.shape != tuple(grid.spatial_shape):
        raise SourceSeriesError(f"Voxel array shape {voxels.shape} differs from the grid's {grid.spatial_shape}.")
    stored, rescale = stored_values(voxels)
    study_uid = info.study_instance_uid or hd.UID()
    series_uid = hd.UID()
    frame_of_reference_uid = info.frame_of_reference_uid or grid.frame_of_reference_uid or hd.UID()
    affine = np.asarray(grid.affine, dtype=float)
    template = _series_template(info, (study_uid, series_uid, frame_of_reference_uid), affine, rescale)
    folder = Path(folder)
    with all_or_none() as paths:
        for index in range(voxels.shape[0]):
            dataset = _ct_image(template, stored[index], affine[:3, :3] @ [index, 0, 0] + affine[:3, 3], index + 1)
            path = folder / f"IMG{index + 1:04d}.dcm"
            write_atomically(path, lambda target, ds=dataset: ds.save_as(target, enforce_file_format=True), overwrite)
            paths.append(path)
    return paths


@dataclass(frozen=True)
class Rescale:
    """Modality LUT: value = stored * slope + intercept."""

    slope: float = 1.0
    intercept: float = 0.0


def stored_values(voxels: np.ndarray) -> tuple[np.ndarray, Rescale]:
    """16-bit stored values and the rescale that gives ``voxels`` back.

    Whole numbers that fit 16 bits are stored as they are. Other volumes (float
    MR maps, 32-bit data) are mapped linearly onto the 16-bit range; the values
    then come back within half a rescale step, which is logged. A SEG needs the
    series for its geometry and UIDs, not for these values.
    """
    voxels = np.asarray(voxels)
    if not np.all(np.isfinite(voxels)):
        raise SourceSeriesError("The volume has NaN or infinite voxels; a DICOM image cannot hold them.")
    low, high = float(voxels.min()), float(voxels.max())
    if np.array_equal(voxels, np.round(voxels)) and low >= np.iinfo(np.int16).min and high <= np.iinfo(np.int16).max:
        return voxels.astype(np.int16), Rescale()
    slope = (high - low) / 65535 or 1.0
    intercept = low + 32768 * slope
    stored = np.clip(np.round((voxels - intercept) / slope), -32768, 32767).astype(np.int16)
    logger.warning(
        "Voxel values %.6g..%.6g do not fit 16-bit integers; stored with RescaleSlope %.6g (values within %.3g).",
        low, high, slope, slope / 2,
    )
    return stored, Rescale(slope=slope, intercept=intercept)


def _series_template(info: SyntheticSeriesInfo, uids: tuple[str, str, str], affine: np.ndarray, rescale: Rescale) -> Dataset:
    """What every image of the series shares: patient, study, series, orientation, pixel description."""
    study_uid, series_uid, frame_of_reference_uid = uids
    row_step, column_step, slice_step = affine[:3, 1], affine[:3, 2], affine[:3, 0]
    orientation = np.concatenate([column_step / np.linalg.norm(column_step), row_step / np.linalg.norm(row_step)])
    pixel_spacing = [np.linalg.norm(row_step), np.linalg.norm(column_step)]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = CTImageStorage
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    # Patient and study: only what the caller gave; type 2 attributes stay empty.
    ds.PatientName = info.patient_name
    ds.PatientID = info.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = ""
    ds.StudyTime = ""
    ds.ReferringPhysicianName = ""
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.StudyDescription = info.study_description
    ds.Modality = "CT"
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = info.series_number
    ds.SeriesDescription = info.series_description
    ds.Laterality = ""
    ds.PatientPosition = ""
    ds.Manufacturer = "DICOMLabelMapSeg"
    ds.FrameOfReferenceUID = frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.AcquisitionNumber = ""
    ds.KVP = ""
    ds.ImageOrientationPatient = [_ds(v) for v in orientation]
    ds.PixelSpacing = [_ds(v) for v in pixel_spacing]
    ds.SliceThickness = _ds(float(np.linalg.norm(slice_step)))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = _ds(rescale.intercept)
    ds.RescaleSlope = _ds(rescale.slope)
    ds.RescaleType = info.rescale_type
    return ds


def _ct_image(template: Dataset, pixels: np.ndarray, position: np.ndarray, instance_number: int) -> Dataset:
    """One image of the series: the template with its own UID, number, position and pixels."""
    ds = copy.deepcopy(template)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = hd.UID()
    ds.InstanceNumber = instance_number
    ds.ImagePositionPatient = [_ds(v) for v in position]
    ds.Rows, ds.Columns = pixels.shape
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<i2").tobytes()
    return ds


def _ds(value: float) -> str:
    """A decimal string of at most 16 characters, as the DS value representation allows.

    pydicom keeps the digits it rounds to, so a value it rounds up past a power
    of ten comes out one character too long (-99.99999999999994 as
    ``-100.000000000000``); that rounded value is formatted again, exactly.
    """
    text = format_number_as_ds(float(value))
    return format_number_as_ds(float(text)) if len(text) > DS_MAX_CHARACTERS else text


DS_MAX_CHARACTERS = 16
