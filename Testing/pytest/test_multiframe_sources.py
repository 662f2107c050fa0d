"""Export over enhanced and legacy-converted multi-frame sources, and over folders that hold more than images.

The sources are dcmqi's Legacy Converted Enhanced CT, highdicom's legacy
conversions (CT, MR, PET) of a real single-frame CT series, and pydicom
variants of them: the plane macros in each frame's own functional groups,
the Enhanced CT / MR / PET SOP Classes, several volumes in one file told
apart by a private dimension, as Philips writes them. Each SEG is checked
with highdicom's reader through its references to the source frames, and
with dciodvfy.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import highdicom as hd
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk
import vtk
from conftest import (
    blob_labels,
    dciodvfy_errors,
    demo_segments,
    highdicom_identity,
    highdicom_liver_descriptions,
    on_grid,
    shared_data,
)
from PIL import Image as PILImage
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import MRImageStorage, PositronEmissionTomographyImageStorage

from DicomManager import (
    Compression,
    ExportOptions,
    LayeredSegmentation,
    read_seg,
    read_seg_nrrd,
    read_source_series,
    read_source_series_folder,
    write_labelmap_seg,
    write_segmentation,
)
from DicomManager.core.geometry.source_series import read_series_voxels, reference_of_folder
from DicomManager.errors import SourceSeriesError
from DicomManager.mrml.image_arrays import array_from_image, fill_image_from_array, ijk_to_ras_of_grid
from DicomManager.mrml.manager import DicomManager
from DicomManager.mrml.segmentation_nodes import create_segmentation_node
from DicomManager.mrml.storage import write_segmentation_file
from DicomManager.mrml.volume_nodes import INSTANCE_UIDS_ATTRIBUTE, grid_of_volume_node

DCMQI_MULTIFRAME = "dcmqi/23x38x3/multiframe/mf.dcm"
SINGLE_FRAME_CT = "dcmqi/23x38x3/image"
ENHANCED_SOP_CLASSES = {
    "CT": ("1.2.840.10008.5.1.4.1.1.2.1", "CT"),
    "MR": ("1.2.840.10008.5.1.4.1.1.4.1", "MR"),
    "PET": ("1.2.840.10008.5.1.4.1.1.130", "PT"),
}
PRIVATE_DIMENSION = 0x2005106E
"""Philips' private attribute that its enhanced MR images name in their Dimension Index."""


def single_frame_series(modality: str) -> list[Dataset]:
    """dcmqi's real 3-slice CT series, relabelled as MR or PET images for highdicom's legacy converters."""
    datasets = [pydicom.dcmread(path) for path in sorted(shared_data(SINGLE_FRAME_CT).glob("*.dcm"))]
    sop_class = {"CT": None, "MR": MRImageStorage, "PET": PositronEmissionTomographyImageStorage}[modality]
    for dataset in datasets:
        if sop_class:
            dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = sop_class
            dataset.Modality = "PT" if modality == "PET" else modality
    return datasets


def legacy_converted(modality: str) -> Dataset:
    """highdicom's Legacy Converted Enhanced CT, MR or PET image of the real single-frame series."""
    converter = {
        "CT": hd.legacy.LegacyConvertedEnhancedCTImage,
        "MR": hd.legacy.LegacyConvertedEnhancedMRImage,
        "PET": hd.legacy.LegacyConvertedEnhancedPETImage,
    }[modality]
    return converter(single_frame_series(modality), hd.UID(), 10, hd.UID(), 1)


def with_macros_per_frame(dataset: Dataset, *keywords: str) -> Dataset:
    """``dataset`` with the shared functional group macros ``keywords`` moved into every frame's own groups."""
    dataset = copy.deepcopy(dataset)
    shared = dataset.SharedFunctionalGroupsSequence[0]
    for keyword in keywords:
        macro = shared[keyword].value
        delattr(shared, keyword)
        for frame in dataset.PerFrameFunctionalGroupsSequence:
            setattr(frame, keyword, copy.deepcopy(macro))
    return dataset


def as_enhanced(dataset: Dataset, modality: str) -> Dataset:
    dataset = copy.deepcopy(dataset)
    dataset.SOPClassUID, dataset.Modality = ENHANCED_SOP_CLASSES[modality]
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    return dataset


def frame_position(dataset: Dataset, number: int) -> np.ndarray:
    """A frame's Image Position (Patient), read here from its own or the shared functional groups."""
    frame = dataset.PerFrameFunctionalGroupsSequence[number - 1]
    groups = frame if "PlanePositionSequence" in frame else dataset.SharedFunctionalGroupsSequence[0]
    return np.array(groups.PlanePositionSequence[0].ImagePositionPatient, dtype=float)


def save(dataset: Dataset, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "image.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


def assert_labels_on_source_frames(seg_path: Path, source: Dataset, grid: hd.VolumeGeometry, labels: np.ndarray,
                                   frames: list[int], *, validate: bool = True) -> None:
    """highdicom's reader, through the SEG's references to ``source``'s ``frames``, finds each frame's slice of ``labels``."""
    seg = hd.seg.segread(seg_path)
    by_frame = seg.get_pixels_by_source_frame(
        source.SOPInstanceUID, frames, combine_segments=True, assert_missing_frames_are_empty=True
    )
    for number, plane in zip(frames, by_frame, strict=True):
        (slice_index, _, _), = grid.map_reference_to_indices(frame_position(source, number)[None, :], round_output=True)
        np.testing.assert_array_equal(plane, labels[slice_index], err_msg=f"source frame {number}")
    for frame in seg.PerFrameFunctionalGroupsSequence:  # each SEG frame lies where the frame it names lies
        (item,) = frame.DerivationImageSequence[0].SourceImageSequence
        assert int(item.ReferencedFrameNumber) in frames
        np.testing.assert_allclose(frame.PlanePositionSequence[0].ImagePositionPatient,
                                   frame_position(source, int(item.ReferencedFrameNumber)), atol=1e-3)
    if validate:
        assert dciodvfy_errors(seg_path) == []


def export_over(path: Path, grid: hd.VolumeGeometry, out: Path, compression: Compression = Compression.RLE,
                ) -> tuple[Path, np.ndarray]:
    labels = blob_labels(tuple(grid.spatial_shape), [1, 2, 3])
    assert labels.any()
    source = read_source_series([path], grid)
    header = copy.deepcopy(source.datasets[0])
    written = write_labelmap_seg(grid.with_array(labels), demo_segments([1, 2, 3]), source, out,
                                 ExportOptions(compression=compression, file_name="seg.dcm"))
    assert source.datasets[0] == header  # highdicom was given a copy
    return written.path, labels


SOURCES = {
    "dcmqi legacy CT": lambda: pydicom.dcmread(shared_data(DCMQI_MULTIFRAME)),
    "highdicom legacy CT": lambda: legacy_converted("CT"),
    "highdicom legacy MR": lambda: legacy_converted("MR"),
    "highdicom legacy PET": lambda: legacy_converted("PET"),
}
LAYOUTS = {
    "shared macros": (),
    "pixel measures per frame": ("PixelMeasuresSequence",),
    "orientation per frame": ("PlaneOrientationSequence",),
    "both per frame": ("PixelMeasuresSequence", "PlaneOrientationSequence"),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("source_name", SOURCES)
def test_export_over_a_multiframe_source_with_each_layout(tmp_path, source_name, layout):
    original = SOURCES[source_name]()
    grid = hd.Image.from_dataset(original, copy=False).get_volume_geometry()  # highdicom's grid of the source
    dataset = with_macros_per_frame(original, *LAYOUTS[layout])
    seg_path, labels = export_over(save(dataset, tmp_path / "source"), grid, tmp_path / "out")
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [1, 2, 3])
    seg = pydicom.dcmread(seg_path)
    assert [item.ReferencedSOPInstanceUID for item in seg.SourceImageSequence] == [dataset.SOPInstanceUID]


@pytest.mark.parametrize("modality", ENHANCED_SOP_CLASSES)
def test_export_over_enhanced_ct_mr_and_pet_images(tmp_path, modality):
    """The Enhanced CT / MR / PET Image Storage classes, the Siemens XA layout: pixel measures in each frame."""
    original = pydicom.dcmread(shared_data(DCMQI_MULTIFRAME))
    grid = hd.Image.from_dataset(original, copy=False).get_volume_geometry()
    dataset = as_enhanced(with_macros_per_frame(original, "PixelMeasuresSequence"), modality)
    seg_path, labels = export_over(save(dataset, tmp_path / "source"), grid, tmp_path / "out")
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [1, 2, 3])
    assert pydicom.dcmread(seg_path).SourceImageSequence[0].ReferencedSOPClassUID == ENHANCED_SOP_CLASSES[modality][0]


@pytest.mark.parametrize("compression", [Compression.NONE, Compression.JPEGLS, Compression.DEFLATE])  # JPEG 2000: 23 columns
def test_export_over_an_enhanced_mr_with_per_frame_pixel_measures_in_each_compression(tmp_path, compression):
    original = pydicom.dcmread(shared_data(DCMQI_MULTIFRAME))
    grid = hd.Image.from_dataset(original, copy=False).get_volume_geometry()
    dataset = as_enhanced(with_macros_per_frame(original, "PixelMeasuresSequence"), "MR")
    seg_path, labels = export_over(save(dataset, tmp_path / "source"), grid, tmp_path / "out", compression)
    # dciodvfy cannot parse a deflated dataset (see test_overlap_export); highdicom reads it.
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [1, 2, 3], validate=compression is not Compression.DEFLATE)


def test_export_over_an_enhanced_mr_of_a_512_square_series_in_jpeg_2000(tmp_path, monkeypatch):
    """JPEG 2000, which 23 columns are too few for: highdicom's conversion of dcmqi's 512x512 CT, pixel measures per frame.

    The CT is read with pydicom's date and time values as Python's: highdicom 0.27.0's conversion
    combines AcquisitionDate and AcquisitionTime with ``datetime.combine``, which takes no strings.
    """
    monkeypatch.setattr(pydicom.config, "datetime_conversion", True)
    images = [pydicom.dcmread(path) for path in sorted(shared_data("dcmqi/ct-3slice").iterdir())]
    original = hd.legacy.LegacyConvertedEnhancedCTImage(images, hd.UID(), 10, hd.UID(), 1)
    grid = hd.Image.from_dataset(original, copy=False).get_volume_geometry()
    dataset = as_enhanced(with_macros_per_frame(original, "PixelMeasuresSequence"), "MR")
    seg_path, labels = export_over(save(dataset, tmp_path / "source"), grid, tmp_path / "out", Compression.JPEG2000)
    syntax = pydicom.dcmread(seg_path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    assert syntax == Compression.JPEG2000.transfer_syntax_uid
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [1, 2, 3])


def test_export_over_a_one_frame_enhanced_image_with_its_position_shared(tmp_path):
    original = pydicom.dcmread(shared_data(DCMQI_MULTIFRAME))
    grid = hd.Image.from_dataset(original, copy=False).get_volume_geometry()
    one = copy.deepcopy(original)
    frame_bytes = len(one.PixelData) // 3
    one.PixelData = one.PixelData[frame_bytes:2 * frame_bytes]
    one.NumberOfFrames = 1
    (frame,) = one.PerFrameFunctionalGroupsSequence = [one.PerFrameFunctionalGroupsSequence[1]]
    one.SharedFunctionalGroupsSequence[0].PlanePositionSequence = frame.PlanePositionSequence
    del frame.PlanePositionSequence
    one.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices = grid.spacing_between_slices
    path = save(one, tmp_path / "source")
    slice_grid = grid[1:2]
    seg_path, labels = export_over(path, slice_grid, tmp_path / "out")
    assert_labels_on_source_frames(seg_path, one, slice_grid, labels, [1])


def test_a_frame_without_a_position_is_named(tmp_path):
    dataset = pydicom.dcmread(shared_data(DCMQI_MULTIFRAME))
    del dataset.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence
    with pytest.raises(SourceSeriesError, match="frame 2 has no ImagePositionPatient"):
        read_source_series([save(dataset, tmp_path)])


def test_cli_exports_over_a_folder_holding_one_enhanced_mr(tmp_path):
    """``--reference`` a folder with one Enhanced MR whose pixel measures are per frame; a label NRRD of its grid."""
    original = pydicom.dcmread(shared_data(DCMQI_MULTIFRAME))
    grid = hd.Image.from_dataset(original, copy=False).get_volume_geometry()
    dataset = as_enhanced(with_macros_per_frame(original, "PixelMeasuresSequence"), "MR")
    save(dataset, tmp_path / "source")
    output = tmp_path / "seg.dcm"
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "export", "--reference", str(tmp_path / "source"),
         "--segmentation", str(shared_data("dcmqi/23x38x3/nrrd/label.nrrd")),
         "--metadata", str(shared_data("dcmqi/metadata/seg-example.json")), "--output", str(output)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    labels = on_grid(hd.seg.segread(shared_data("dcmqi/23x38x3/seg/label.seg")).get_volume(combine_segments=True), grid)
    assert labels.any()
    assert_labels_on_source_frames(output, dataset, grid, labels, [1, 2, 3])
    assert_imports_onto(output, tmp_path / "source", grid, labels, tmp_path / "imported.seg.nrrd")


def test_manager_loads_a_multiframe_volume_and_exports_over_it(manager, scene, tmp_path):
    """A volume loaded from one Legacy Converted Enhanced PET holds highdicom's voxels; a segmentation on it exports."""
    original = legacy_converted("PET")
    dataset = with_macros_per_frame(original, "PixelMeasuresSequence")
    path = save(dataset, tmp_path / "source")
    node = manager.load_reference_volume(path.parent)
    expected = hd.Image.from_dataset(original).get_volume(dtype=np.float32)
    grid = grid_of_volume_node(node)
    loaded = grid.with_array(array_from_image(node.GetImageData()).astype(np.float32))
    np.testing.assert_array_equal(on_grid(loaded, expected.get_geometry()), expected.array)
    labels = blob_labels(tuple(grid.spatial_shape), [1, 2])
    segmentation = create_segmentation_node(scene, grid.with_array(labels), demo_segments([1, 2]), "on the PET")
    (seg_path,) = manager.export_segmentation(segmentation, node, tmp_path / "out").paths
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [1, 2, 3])


class FolderOfInstances:
    """The files of instances, by SOP Instance UID, as Slicer's DICOM database answers for a manager."""

    def __init__(self, *paths: Path) -> None:
        self._files = {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): path for path in paths}

    def file_for_instance(self, sop_instance_uid: str) -> Path | None:
        return self._files.get(sop_instance_uid)


def test_manager_exports_over_a_volume_loaded_from_one_multiframe_instance(scene, tmp_path):
    """A volume node made from highdicom's reading of the file, ``DICOM.instanceUIDs`` its one instance."""
    original = legacy_converted("MR")
    dataset = with_macros_per_frame(original, "PixelMeasuresSequence", "PlaneOrientationSequence")
    path = save(dataset, tmp_path / "source")
    volume = hd.Image.from_dataset(original).get_volume()
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Enhanced MR")
    image = vtk.vtkImageData()
    fill_image_from_array(image, volume.array.astype(np.int16))
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(ijk_to_ras_of_grid(volume.get_geometry()))
    node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, dataset.SOPInstanceUID)
    labels = blob_labels(tuple(volume.spatial_shape), [1, 2])
    segmentation = create_segmentation_node(scene, volume.with_array(labels), demo_segments([1, 2]), "on the MR")
    manager = DicomManager(scene, FolderOfInstances(path))
    written = manager.export_segmentation(segmentation, node, tmp_path / "out")
    (seg_path,) = written.paths
    assert_labels_on_source_frames(seg_path, dataset, volume.get_geometry(), labels, [1, 2, 3])


def philips_two_echoes(shift_second_mm: float = 0.0, echoes: tuple[int, ...] = (1, 2)) -> Dataset:
    """An enhanced MR holding two echoes of highdicom's legacy MR, as Philips writes them.

    Its Dimension Index is Stack ID, Philips' private (2005,106E) and In-Stack
    Position Number; the private attribute is in each frame's private
    functional group (2005,140F). The second echo's frames are ``shift_second_mm``
    further along the slice normal.
    """
    dataset = legacy_converted("MR")
    frames = list(dataset.PerFrameFunctionalGroupsSequence)
    normal = slice_normal(dataset)
    organisation = hd.UID()
    items = []
    for echo in echoes:
        for position, frame in enumerate(frames, start=1):
            item = copy.deepcopy(frame)
            item.FrameContentSequence[0].StackID = "1"
            item.FrameContentSequence[0].InStackPositionNumber = position
            item.FrameContentSequence[0].DimensionIndexValues = [1, echo, position]
            private = Dataset()
            private.private_block(0x2005, "Philips MR Imaging DD 001", create=True).add_new(0x6E, "CS", f"ECHO{echo}")
            item.private_block(0x2005, "Philips MR Imaging DD 005", create=True).add_new(0x0F, "SQ", [private])
            if echo == 2:
                origin = np.array(item.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
                item.PlanePositionSequence[0].ImagePositionPatient = (origin + shift_second_mm * normal).tolist()
            items.append(item)
    dataset.PerFrameFunctionalGroupsSequence = items
    dataset.NumberOfFrames = len(items)
    dataset.PixelData = dataset.PixelData * len(echoes)
    dataset.DimensionOrganizationSequence = [Dataset()]
    dataset.DimensionOrganizationSequence[0].DimensionOrganizationUID = organisation
    dimensions = []
    for pointer, group in ((0x00209056, 0x00209111), (PRIVATE_DIMENSION, 0x2005140F), (0x00209057, 0x00209111)):
        dimension = Dataset()
        dimension.DimensionOrganizationUID = organisation
        dimension.DimensionIndexPointer = pointer
        dimension.FunctionalGroupPointer = group
        if pointer == PRIVATE_DIMENSION:
            dimension.DimensionIndexPrivateCreator = "Philips MR Imaging DD 001"
            dimension.FunctionalGroupPrivateCreator = "Philips MR Imaging DD 005"
        dimensions.append(dimension)
    dataset.DimensionIndexSequence = dimensions
    return dataset


def slice_normal(dataset: Dataset) -> np.ndarray:
    orientation = dataset.SharedFunctionalGroupsSequence[0].PlaneOrientationSequence[0].ImageOrientationPatient
    return np.cross(*np.reshape(np.array(orientation, dtype=float), (2, 3)))


def shifted(grid: hd.VolumeGeometry, offset: np.ndarray) -> hd.VolumeGeometry:
    affine = np.array(grid.affine)
    affine[:3, 3] += offset
    return hd.VolumeGeometry(affine, grid.spatial_shape, "PATIENT", grid.frame_of_reference_uid)


def test_a_private_dimension_index_is_read(tmp_path):
    """An enhanced MR whose Dimension Index points at Philips' (2005,106E): its grid and voxels, as the reference of an import."""
    path = save(philips_two_echoes(echoes=(1,)), tmp_path / "source")
    original = legacy_converted("MR")
    expected = hd.Image.from_dataset(original).get_volume(dtype=np.float32)
    grid = reference_of_folder(path.parent).geometry
    np.testing.assert_allclose(grid.affine, expected.affine, atol=1e-4)
    voxels = read_series_voxels(read_source_series_folder(path.parent))
    np.testing.assert_array_equal(on_grid(voxels, expected.get_geometry()), expected.array)


def test_export_over_the_echo_whose_grid_the_segmentation_has(tmp_path):
    """Of two echoes at different positions, the one on the segmentation's grid is referenced, by the file's frame numbers."""
    dataset = philips_two_echoes(shift_second_mm=50.0)
    path = save(dataset, tmp_path / "source")
    original = legacy_converted("MR")
    first_grid = hd.Image.from_dataset(original, copy=False).get_volume_geometry()
    normal = slice_normal(original)
    second_grid = shifted(first_grid, 50.0 * normal)
    seg_path, labels = export_over(path, second_grid, tmp_path / "out")
    assert_labels_on_source_frames(seg_path, dataset, second_grid, labels, [4, 5, 6])
    (reference,) = pydicom.dcmread(seg_path).SourceImageSequence
    assert [int(n) for n in reference.ReferencedFrameNumber] == [4, 5, 6]
    # The volume read over the second echo's grid holds its frames: the original series' voxels.
    expected = hd.get_volume_from_series(single_frame_series("MR"), dtype=np.float32)
    voxels = read_series_voxels(read_source_series([path], second_grid))
    np.testing.assert_array_equal(on_grid(voxels, second_grid), on_grid(shifted(expected.get_geometry(), 50.0 * normal)
                                                                         .with_array(expected.array), second_grid))


def test_overlapping_segments_over_one_echo_are_a_binary_seg_referencing_its_frames(tmp_path):
    dataset = philips_two_echoes(shift_second_mm=50.0)
    path = save(dataset, tmp_path / "source")
    original = legacy_converted("MR")
    grid = shifted(hd.Image.from_dataset(original, copy=False).get_volume_geometry(), 50.0 * slice_normal(original))
    first, second = np.zeros(grid.spatial_shape, np.uint8), np.zeros(grid.spatial_shape, np.uint8)
    first[0:2, 5:20, 5:15], second[1:3, 10:30, 8:20] = 1, 2
    segmentation = LayeredSegmentation([grid.with_array(first), grid.with_array(second)], demo_segments([1, 2]), {1: 0, 2: 1})
    written = write_segmentation(segmentation, read_source_series([path], grid), tmp_path / "out",
                                 ExportOptions(overlap="binary", compression="none", file_name="seg.dcm"))
    (seg_path,) = written.paths
    seg = hd.seg.segread(seg_path)
    assert seg.SegmentationType == "BINARY" and dciodvfy_errors(seg_path) == []
    for number, expected in ((1, first), (2, second)):
        masks = seg.get_pixels_by_source_frame(dataset.SOPInstanceUID, [4, 5, 6], segment_numbers=[number],
                                               assert_missing_frames_are_empty=True)[..., 0]
        for plane, frame in zip(masks, (4, 5, 6), strict=True):
            (slice_index, _, _), = grid.map_reference_to_indices(frame_position(dataset, frame)[None, :], round_output=True)
            np.testing.assert_array_equal(plane, expected[slice_index] > 0, err_msg=f"segment {number}, frame {frame}")


@pytest.mark.parametrize("modality", ["MR", "PET"])
def test_export_over_single_frame_mr_and_pet_series(tmp_path, modality):
    images = single_frame_series(modality)
    folder = tmp_path / "source"
    folder.mkdir()
    for index, image in enumerate(images):
        image.save_as(folder / f"{index}.dcm", enforce_file_format=True)
    grid = hd.get_volume_from_series(images).get_geometry()
    labels = blob_labels(tuple(grid.spatial_shape), [1, 2])
    written = write_labelmap_seg(grid.with_array(labels), demo_segments([1, 2]), read_source_series_folder(folder),
                                 tmp_path / "out", ExportOptions(file_name="seg.dcm"))
    assert dciodvfy_errors(written.path) == []
    np.testing.assert_array_equal(on_grid(hd.seg.segread(written.path).get_volume(combine_segments=True), grid), labels)


def test_echoes_at_the_same_positions_are_refused_in_one_line_naming_them(tmp_path):
    """Nothing in a segmentation's grid chooses between two echoes at one position: the CLI says so, naming both."""
    save(philips_two_echoes(), tmp_path / "source")
    grid = hd.Image.from_dataset(legacy_converted("MR"), copy=False).get_volume_geometry()
    completed = subprocess.run(  # dcmqi's label volume of the series the echoes were made from
        [sys.executable, "-m", "DicomManager.cli.program", "export", "--reference", str(tmp_path / "source"),
         "--segmentation", str(shared_data("dcmqi/23x38x3/nrrd/label.nrrd")), "--output", str(tmp_path / "seg.dcm")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode != 0
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert "frames 1-3 ((2005,106E) index 1)" in completed.stderr
    assert "frames 4-6 ((2005,106E) index 2)" in completed.stderr
    assert not (tmp_path / "seg.dcm").exists()
    with pytest.raises(SourceSeriesError, match="nothing chooses between them"):
        read_source_series_folder(tmp_path / "source", grid)


def non_image_objects(images: list[Dataset]) -> list[Dataset]:
    """An SR, a KO and a PR that highdicom makes over ``images``, each in its own series, as archives hold them."""
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Person,
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name="Doe^Jane"),
    )
    measurements = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier="lesion"),
        measurements=[hd.sr.Measurement(name=codes.SCT.Volume, value=1.0, unit=codes.UCUM.CubicMillimeter)],
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=observer),
        procedure_reported=codes.LN.CTUnspecifiedBodyRegion,
        imaging_measurements=[measurements],
    )
    identity = highdicom_identity()
    series = {key: identity[key] for key in ("series_instance_uid", "series_number", "sop_instance_uid", "instance_number")}
    sr = hd.sr.Comprehensive3DSR(evidence=images, content=report[0], manufacturer="highdicom",
                                 **{**series, "series_instance_uid": hd.UID(), "sop_instance_uid": hd.UID()})
    ko = hd.ko.KeyObjectSelectionDocument(
        evidence=images, manufacturer="highdicom",
        content=hd.ko.KeyObjectSelection(document_title=codes.DCM.Manifest, referenced_objects=images,
                                         observer_person_context=observer),
        **{**series, "series_instance_uid": hd.UID(), "sop_instance_uid": hd.UID()},
    )
    pr = hd.pr.GrayscaleSoftcopyPresentationState(
        referenced_images=images, content_label="GSPS",
        **{**identity, "series_instance_uid": hd.UID(), "sop_instance_uid": hd.UID()},
    )
    return [sr, ko, pr]


def test_cli_passes_over_sr_ko_and_pr_beside_the_ct(tmp_path):
    """A reference folder with the real CT and an SR, a KO and a PR over it exports and imports; -v names what it passed over."""
    folder = tmp_path / "study"
    folder.mkdir()
    images = []
    for path in sorted(shared_data(SINGLE_FRAME_CT).glob("*.dcm")):
        (folder / path.name).write_bytes(path.read_bytes())
        images.append(pydicom.dcmread(path))
    for index, dataset in enumerate(non_image_objects(images)):
        dataset.save_as(folder / f"object{index}.dcm", enforce_file_format=True)
    output = tmp_path / "seg.dcm"
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "-v", "export", "--reference", str(folder),
         "--segmentation", str(shared_data("dcmqi/23x38x3/nrrd/label.nrrd")),
         "--metadata", str(shared_data("dcmqi/metadata/seg-example.json")), "--output", str(output)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    for name in ("Comprehensive 3D SR Storage", "Key Object Selection Document Storage",
                 "Grayscale Softcopy Presentation State Storage"):
        assert any(line.startswith("DEBUG: Passing over") and name in line for line in completed.stderr.splitlines()), name
    assert dciodvfy_errors(output) == []
    grid = hd.get_volume_from_series(images).get_geometry()
    expected = on_grid(hd.seg.segread(shared_data("dcmqi/23x38x3/seg/label.seg")).get_volume(combine_segments=True), grid)
    np.testing.assert_array_equal(on_grid(hd.seg.segread(output).get_volume(combine_segments=True), grid), expected)
    assert {item.ReferencedSOPInstanceUID for item in pydicom.dcmread(output).ReferencedSeriesSequence[0]
            .ReferencedInstanceSequence} == {image.SOPInstanceUID for image in images}
    assert_imports_onto(output, folder, grid, expected, tmp_path / "imported.seg.nrrd")


def assert_imports_onto(seg_path: Path, reference: Path, grid: hd.VolumeGeometry, labels: np.ndarray,
                        output: Path) -> None:
    """``import --reference`` loads the SEG onto the reference folder's grid with ``labels``."""
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "import", str(seg_path), "--reference", str(reference),
         "--output", str(output)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    (layer,) = read_seg_nrrd(output).layers
    assert tuple(layer.spatial_shape) == tuple(grid.spatial_shape)
    np.testing.assert_array_equal(on_grid(layer, grid), labels)


def label_volume_on_echo(path: Path, offset: np.ndarray, cropped: bool) -> Path:
    """dcmqi's label NRRD moved ``offset`` mm (LPS) by SimpleITK; ``cropped`` to its labels' box, as Slicer crops."""
    image = sitk.ReadImage(str(shared_data("dcmqi/23x38x3/nrrd/label.nrrd")))
    if cropped:
        shape = sitk.LabelShapeStatisticsImageFilter()
        shape.Execute(image > 0)
        box = shape.GetBoundingBox(1)
        image = sitk.RegionOfInterest(image, box[len(box) // 2:], box[:len(box) // 2])
    image.SetOrigin((np.array(image.GetOrigin()) + offset).tolist())
    sitk.WriteImage(image, str(path))
    return path


@pytest.mark.parametrize("cropped", [False, True], ids=["full grid", "cropped to its labels"])
def test_cli_exports_over_the_echo_whose_grid_the_label_volume_has(tmp_path, cropped):
    """A Philips-like enhanced MR holding two echoes (pixel measures per frame): the label volume's grid chooses the second."""
    dataset = with_macros_per_frame(philips_two_echoes(shift_second_mm=50.0), "PixelMeasuresSequence")
    save(dataset, tmp_path / "source")
    original = legacy_converted("MR")
    offset = 50.0 * slice_normal(original)
    second_grid = shifted(hd.Image.from_dataset(original, copy=False).get_volume_geometry(), offset)
    labels_path = label_volume_on_echo(tmp_path / "labels.nrrd", offset, cropped)
    output = tmp_path / "seg.dcm"
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "export", "--reference", str(tmp_path / "source"),
         "--segmentation", str(labels_path), "--metadata", str(shared_data("dcmqi/metadata/seg-example.json")),
         "--output", str(output)],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 0, completed.stderr
    dcmqi_labels = hd.seg.segread(shared_data("dcmqi/23x38x3/seg/label.seg")).get_volume(combine_segments=True)
    labels = on_grid(shifted(dcmqi_labels.get_geometry(), offset).with_array(dcmqi_labels.array), second_grid)
    assert labels.any()
    assert_labels_on_source_frames(output, dataset, second_grid, labels, [4, 5, 6])
    (reference,) = pydicom.dcmread(output).SourceImageSequence
    assert [int(n) for n in reference.ReferencedFrameNumber] == [4, 5, 6]


ECHO_SHIFT_MM = 50.0
"""How far the second echo of :func:`philips_two_echoes` lies from the first along the slice normal, in the tests below."""
SECOND_ECHO_BRIGHTER = 100
"""What the tests below add to the stored values of the second echo, so that an echo's voxels tell which it is."""


def brighter(dataset: Dataset, frames: list[int], by: int) -> Dataset:
    """``dataset`` with ``by`` added to the stored values of its ``frames`` (1-based)."""
    pixels = dataset.pixel_array.copy()
    pixels[np.array(frames) - 1] += by
    dataset.PixelData = pixels.tobytes()
    return dataset


class SegOverAnEcho(NamedTuple):
    """A highdicom LABELMAP SEG over the second echo of a two-echo enhanced MR, and what an independent reader finds."""

    source: Path
    """The folder holding the one two-echo file."""
    dataset: Dataset
    grid: hd.VolumeGeometry
    """The second echo's grid."""
    seg: Path
    labels: np.ndarray
    """highdicom's reading of the SEG, on ``grid``."""
    voxels: np.ndarray
    """The second echo's voxels on ``grid``: highdicom's reading of the MR it was made from, its transformation applied."""


@pytest.fixture
def seg_over_the_second_echo(tmp_path) -> SegOverAnEcho:
    dataset = brighter(philips_two_echoes(shift_second_mm=ECHO_SHIFT_MM), [4, 5, 6], SECOND_ECHO_BRIGHTER)
    source = save(dataset, tmp_path / "source").parent
    original = legacy_converted("MR")
    offset = ECHO_SHIFT_MM * slice_normal(original)
    grid = shifted(hd.Image.from_dataset(original, copy=False).get_volume_geometry(), offset)
    descriptions = highdicom_liver_descriptions((1, 2))
    seg = hd.seg.Segmentation(  # highdicom matches the volume's planes to the source frames 4-6 that lie there
        source_images=[dataset],
        pixel_array=grid.with_array(blob_labels(tuple(grid.spatial_shape), [1, 2])),
        segmentation_type="LABELMAP",
        segment_descriptions=descriptions,
        **highdicom_identity(),
    )
    seg_path = tmp_path / "seg.dcm"
    seg.save_as(seg_path)
    labels = on_grid(hd.seg.segread(seg_path).get_volume(combine_segments=True), grid)
    assert labels.any() and seg.NumberOfFrames > 1  # frames enough to span a grid of their own
    expected = hd.Image.from_dataset(brighter(original, [1, 2, 3], SECOND_ECHO_BRIGHTER)).get_volume(dtype=np.float64)
    voxels = on_grid(shifted(expected.get_geometry(), offset).with_array(expected.array), grid)
    return SegOverAnEcho(source, dataset, grid, seg_path, labels, voxels)


def run_cli(*arguments: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "DicomManager.cli.program", *map(str, arguments)],
                          capture_output=True, text=True, check=False)


def test_cli_imports_a_seg_onto_the_echo_its_frames_lie_on(seg_over_the_second_echo, tmp_path):
    """``import --reference`` a folder holding both echoes: the SEG's own frames choose the second echo's grid."""
    over = seg_over_the_second_echo
    completed = run_cli("import", over.seg, "--reference", over.source, "--output", tmp_path / "imported.seg.nrrd",
                        "--labelmap", tmp_path / "labels.nrrd")
    assert completed.returncode == 0, completed.stderr
    (layer,) = read_seg_nrrd(tmp_path / "imported.seg.nrrd").layers
    np.testing.assert_array_equal(on_grid(layer, over.grid), over.labels)
    image = sitk.ReadImage(str(tmp_path / "labels.nrrd"))  # the whole layer, on the echo's grid, not the SEG frames' own
    assert image.GetSize()[::-1] == tuple(over.grid.spatial_shape)
    corner = np.array(image.TransformIndexToPhysicalPoint((0, 0, 0)))
    assert min(np.linalg.norm(corner - over.grid.map_indices_to_reference(np.array([[k, 0, 0]]))[0]) for k in (0, 2)) < 1e-3


def test_cli_measures_a_seg_over_the_echo_its_frames_lie_on(seg_over_the_second_echo, tmp_path):
    """``measure --reference``: the statistics are of the second echo's voxels, read back with highdicom."""
    over = seg_over_the_second_echo
    completed = run_cli("measure", over.seg, "--reference", over.source, "--output", tmp_path / "report.dcm")
    assert completed.returncode == 0, completed.stderr
    groups = hd.sr.srread(tmp_path / "report.dcm").content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 2
    for group in groups:
        segment = int(group.referenced_segment[0].ReferencedSOPSequence[0].ReferencedSegmentNumber)
        under = over.voxels[over.labels == segment]
        measured = {(m.derivation.meaning if m.derivation else m.name.meaning): m.value for m in group.get_measurements()}
        assert (measured["Number of voxels"], measured["Mean"]) == pytest.approx((under.size, under.mean()), rel=1e-9)
        assert measured["Minimum"] >= SECOND_ECHO_BRIGHTER  # the first echo's voxels are all below it


def test_cli_previews_a_seg_over_the_echo_its_frames_lie_on(seg_over_the_second_echo, tmp_path):
    """``preview --reference`` the two-echo file draws what it draws over a file holding the second echo alone."""
    over = seg_over_the_second_echo
    alone = save(brighter(philips_two_echoes(shift_second_mm=ECHO_SHIFT_MM, echoes=(2,)), [1, 2, 3],
                          SECOND_ECHO_BRIGHTER), tmp_path / "second echo").parent
    for reference, picture in ((over.source, "both.png"), (alone, "alone.png")):
        completed = run_cli("preview", over.seg, "--reference", reference, "--output", tmp_path / picture)
        assert completed.returncode == 0, completed.stderr
    both, one = (np.asarray(PILImage.open(tmp_path / name).convert("RGB")) for name in ("both.png", "alone.png"))
    np.testing.assert_array_equal(both, one)


@pytest.mark.parametrize("command", ["import", "measure", "preview"])
def test_cli_refuses_echoes_at_the_seg_position_in_one_line_naming_them(seg_over_the_second_echo, tmp_path, command):
    """Two echoes at the SEG's positions: nothing chooses between them, and each command says so in one line."""
    over = seg_over_the_second_echo
    both_at_the_second = philips_two_echoes(shift_second_mm=0.0)
    offset = ECHO_SHIFT_MM * slice_normal(both_at_the_second)
    for frame in both_at_the_second.PerFrameFunctionalGroupsSequence:
        position = frame.PlanePositionSequence[0]
        position.ImagePositionPatient = (np.array(position.ImagePositionPatient, dtype=float) + offset).tolist()
    save(both_at_the_second, over.source)
    output = tmp_path / {"import": "out.seg.nrrd", "measure": "report.dcm", "preview": "out.png"}[command]
    completed = run_cli(command, over.seg, "--reference", over.source, "--output", output)
    assert completed.returncode == 1
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1, completed.stderr
    assert "frames 1-3" in completed.stderr and "frames 4-6" in completed.stderr
    assert not output.exists()


@pytest.mark.parametrize("given", ["folder", "files"])
@pytest.mark.parametrize("writer", ["write_labelmap_seg", "write_segmentation"])
def test_writers_given_the_source_folder_export_over_the_echo_the_labels_lie_on(tmp_path, writer, given):
    """The core writers given the two-echo file's folder (or its files): the labels' grid chooses the second echo."""
    dataset = philips_two_echoes(shift_second_mm=ECHO_SHIFT_MM)
    path = save(dataset, tmp_path / "source")
    original = legacy_converted("MR")
    grid = shifted(hd.Image.from_dataset(original, copy=False).get_volume_geometry(), ECHO_SHIFT_MM * slice_normal(original))
    labels = blob_labels(tuple(grid.spatial_shape), [1, 2])
    source = path.parent if given == "folder" else [path]
    options = ExportOptions(file_name="seg.dcm")
    if writer == "write_labelmap_seg":
        seg_path = write_labelmap_seg(grid.with_array(labels), demo_segments([1, 2]), source, tmp_path / "out", options).path
    else:
        segmentation = LayeredSegmentation.from_labels(grid.with_array(labels), demo_segments([1, 2]))
        (seg_path,) = write_segmentation(segmentation, source, tmp_path / "out", options).paths
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [4, 5, 6])


def test_a_bare_array_over_a_two_echo_folder_is_refused_naming_the_echoes(tmp_path):
    """An array without an affine has no grid to choose an echo by: refused in one line that names both."""
    path = save(philips_two_echoes(shift_second_mm=ECHO_SHIFT_MM), tmp_path / "source")
    with pytest.raises(SourceSeriesError, match=r"holds 2 volumes \(frames 1-3 .*; frames 4-6 .*\)") as refused:
        write_labelmap_seg(np.zeros((3, 38, 23), np.uint8), demo_segments([1]), path.parent, tmp_path / "out")
    assert "\n" not in str(refused.value)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_migrate_exports_a_gold_standard_over_the_echo_its_segmentation_lies_on(scene, tmp_path):
    """``migrate --reference`` the two-echo file's folder: the ``.seg.nrrd`` Slicer wrote on the second echo chooses it."""
    dataset = philips_two_echoes(shift_second_mm=ECHO_SHIFT_MM)
    source = save(dataset, tmp_path / "source").parent
    original = legacy_converted("MR")
    grid = shifted(hd.Image.from_dataset(original, copy=False).get_volume_geometry(), ECHO_SHIFT_MM * slice_normal(original))
    labels = blob_labels(tuple(grid.spatial_shape), [1, 2])
    gold = tmp_path / "GoldStandards" / "lesions"
    gold.mkdir(parents=True)
    node = create_segmentation_node(scene, grid.with_array(labels), demo_segments([1, 2]), "lesions")
    write_segmentation_file(node, gold / "lesions.seg.nrrd")
    (gold / "metadata.json").write_text(json.dumps({"sample_data": "MR", "algorithm": "manual"}))
    completed = run_cli("migrate", gold, "--reference", source)
    assert completed.returncode == 0, completed.stdout + completed.stderr  # 0: the SEG read back equals the .seg.nrrd
    assert_labels_on_source_frames(gold / "dicom" / "gold.dcm", dataset, grid, labels, [4, 5, 6])


@pytest.mark.parametrize("given", ["folder", "file"])
def test_read_seg_given_the_two_echo_folder_reads_onto_the_echo_its_frames_lie_on(seg_over_the_second_echo, given):
    """``read_seg(path, reference=...)`` with the folder or the file: the SEG's own frames choose the second echo."""
    over = seg_over_the_second_echo
    reference = over.source if given == "folder" else over.source / "image.dcm"
    (layer,) = read_seg(over.seg, reference).layers
    assert tuple(layer.spatial_shape) == tuple(over.grid.spatial_shape)  # the echo's grid, not the SEG frames' own
    np.testing.assert_array_equal(on_grid(layer, over.grid), over.labels)


def _frame_content(item: Dataset, keyword: str, value: object) -> None:
    setattr(item.FrameContentSequence[0], keyword, value)


def _frame_type(item: Dataset, echo: int) -> None:
    frame_type = Dataset()
    frame_type.FrameType = ["ORIGINAL", "PRIMARY", "M" if echo == 1 else "P", "NONE"]
    item.MRImageFrameTypeSequence = [frame_type]


def _echo_time(item: Dataset, echo: int) -> None:
    echo_item = Dataset()
    echo_item.EffectiveEchoTime = 10.0 * echo
    item.MREchoSequence = [echo_item]


TOLD_APART_BY = {
    "StackID": lambda item, echo: _frame_content(item, "StackID", str(echo)),
    "TemporalPositionIndex": lambda item, echo: _frame_content(item, "TemporalPositionIndex", echo),
    "FrameType": _frame_type,
    "EffectiveEchoTime": _echo_time,
}


def told_apart_by(attribute: str, shift_second_mm: float) -> Dataset:
    """Two volumes of highdicom's legacy MR in one file with no Dimension Index, told apart by ``attribute`` alone."""
    dataset = philips_two_echoes(shift_second_mm=shift_second_mm)
    del dataset.DimensionIndexSequence, dataset.DimensionOrganizationSequence
    for number, item in enumerate(dataset.PerFrameFunctionalGroupsSequence, start=1):
        del item.FrameContentSequence[0].DimensionIndexValues
        TOLD_APART_BY[attribute](item, 1 if number <= 3 else 2)
    return dataset


@pytest.mark.parametrize("attribute", TOLD_APART_BY)
def test_volumes_told_apart_by_a_frame_attribute_alone_are_chosen_by_the_grid(tmp_path, attribute):
    """docs/reading.md: Stack ID, Temporal Position Index, Frame Type or echo time, with no Dimension Index, set volumes apart."""
    dataset = told_apart_by(attribute, ECHO_SHIFT_MM)
    original = legacy_converted("MR")
    grid = shifted(hd.Image.from_dataset(original, copy=False).get_volume_geometry(), ECHO_SHIFT_MM * slice_normal(original))
    seg_path, labels = export_over(save(dataset, tmp_path / "source"), grid, tmp_path / "out")
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [4, 5, 6])
    at_one_position = save(told_apart_by(attribute, 0.0), tmp_path / "same positions")
    with pytest.raises(SourceSeriesError, match=rf"frames 1-3 \({attribute} [^)]*\); frames 4-6 \({attribute} [^)]*\)"):
        read_source_series([at_one_position], hd.Image.from_dataset(original, copy=False).get_volume_geometry())


def test_frames_on_no_regular_grid_are_refused(tmp_path):
    """dcmqi's multi-frame CT with its second frame moved 1 mm along the slices: no volume to export over."""
    dataset = pydicom.dcmread(shared_data(DCMQI_MULTIFRAME))
    position = dataset.PerFrameFunctionalGroupsSequence[1].PlanePositionSequence[0]
    position.ImagePositionPatient = (np.array(position.ImagePositionPatient, dtype=float) + slice_normal(dataset)).tolist()
    with pytest.raises(SourceSeriesError, match="do not form a regularly spaced volume"):
        read_source_series([save(dataset, tmp_path)])


def test_manager_exports_over_the_echo_its_volume_node_lies_on(scene, tmp_path):
    """``DICOM.instanceUIDs`` names the two-echo file; the volume node's grid, the second echo's, chooses its frames."""
    dataset = philips_two_echoes(shift_second_mm=ECHO_SHIFT_MM)
    path = save(dataset, tmp_path / "source")
    original = legacy_converted("MR")
    volume = hd.Image.from_dataset(original).get_volume()
    grid = shifted(volume.get_geometry(), ECHO_SHIFT_MM * slice_normal(original))
    node = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "second echo")
    image = vtk.vtkImageData()
    fill_image_from_array(image, volume.array.astype(np.int16))
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(ijk_to_ras_of_grid(grid))
    node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, dataset.SOPInstanceUID)
    labels = blob_labels(tuple(grid.spatial_shape), [1, 2])
    segmentation = create_segmentation_node(scene, grid.with_array(labels), demo_segments([1, 2]), "on the second echo")
    (seg_path,) = DicomManager(scene, FolderOfInstances(path)).export_segmentation(segmentation, node, tmp_path / "out").paths
    assert_labels_on_source_frames(seg_path, dataset, grid, labels, [4, 5, 6])
