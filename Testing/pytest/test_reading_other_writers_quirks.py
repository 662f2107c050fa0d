"""What real writers write that the plain reading would refuse or get wrong: frames a little off the images they
name, palette colours, tiled classic slide SEGs, surplus per-frame items.

Every input is a file of another writer (``../shared/testdata``) or one that
highdicom or pydicom writes here from one; the expected labels and colours are
highdicom's reading of the same file and the values the test wrote into it.
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import highdicom_identity, on_grid, shared_data

from DicomManager import read_seg
from DicomManager.core.geometry.source_series import reference_of_folder
from DicomManager.errors import GeometryMismatchError

CT2 = "pydicom/CT2"  # four CT slices 1.25 mm apart, with a gap of 162 slices after the first
CT2_SLICE_SPACING = 1.25


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("dicomlabelmapseg")), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def shifted_along_the_slices(dataset: pydicom.Dataset, offsets_in_slices: list[float]) -> pydicom.Dataset:
    """A copy of ``dataset`` whose frame ``i`` lies ``offsets_in_slices[i]`` slices (of CT2) further along z."""
    shifted = copy.deepcopy(dataset)
    for group, offset in zip(shifted.PerFrameFunctionalGroupsSequence, offsets_in_slices, strict=True):
        item = group.PlanePositionSequence[0]
        x, y, z = (float(value) for value in item.ImagePositionPatient)
        item.ImagePositionPatient = [f"{x:.6f}", f"{y:.6f}", f"{z + offset * CT2_SLICE_SPACING:.6f}"]
    return shifted


def ct2_slice_of_each_image(grid: hd.VolumeGeometry) -> dict[str, int]:
    slices = {}
    for path in sorted(shared_data(CT2).iterdir()):
        image = pydicom.dcmread(path, stop_before_pixels=True)
        index = grid.map_reference_to_indices(np.array([image.ImagePositionPatient], dtype=float), round_output=False)[0, 0]
        assert abs(index - round(index)) < 1e-3
        slices[str(image.SOPInstanceUID)] = int(round(index))
    return slices


def labelmap_over_ct2_by_highdicom() -> tuple[hd.seg.Segmentation, list[str]]:
    """A three-segment LABELMAP that highdicom writes over CT2, one frame per source image."""
    images = [pydicom.dcmread(path) for path in sorted(shared_data(CT2).iterdir())]
    labels = np.zeros((len(images), int(images[0].Rows), int(images[0].Columns)), dtype=np.uint8)
    labels[0, 2:6, 3:9] = 1
    labels[1, 4:12, 4:10] = 2
    labels[2, 6:14, 1:5] = 3
    labels[3, 1:3, 1:15] = 2
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"Lesion {number}",
            segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
            segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number in (1, 2, 3)
    ]
    seg = hd.seg.Segmentation(
        source_images=images,
        pixel_array=labels,
        segmentation_type="LABELMAP",
        segment_descriptions=descriptions,
        omit_empty_frames=False,
        **highdicom_identity(),
    )
    return seg, [str(image.SOPInstanceUID) for image in images]


def test_frames_off_the_images_they_name_go_on_those_images_slices(tmp_path, caplog):
    """highdicom's two-segment BINARY SEG over CT2, every frame moved 2 % of a slice off the image it names."""
    reference = reference_of_folder(shared_data(CT2))
    original = pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary_overlap.dcm"))
    path = tmp_path / "shifted.dcm"
    shifted_along_the_slices(original, [0.02] * int(original.NumberOfFrames)).save_as(path)

    with pytest.raises(GeometryMismatchError, match=r"8 frame\(s\) lie between the slices or voxels of the grid: frame\(s\) 1, "):
        read_seg(path, reference.geometry)  # without the images' positions nothing is shifted
    with caplog.at_level(logging.WARNING):
        result = read_seg(path, reference.geometry, image_positions=reference.image_positions)
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "8 frame(s) lie up to 0.025 mm (2.0 % of a slice)" in warnings[0]

    theirs = hd.seg.segread(path)
    slices = ct2_slice_of_each_image(reference.geometry)
    uids = list(slices)
    by_source = theirs.get_pixels_by_source_instance(uids, skip_overlap_checks=True)  # (images, rows, columns, segments)
    for position, number in enumerate(theirs.segment_numbers):
        layer = result.layers[result.layer_of_segment[number]].array
        ours = layer[[slices[uid] for uid in uids]] == number
        np.testing.assert_array_equal(ours, by_source[..., position].astype(bool), err_msg=f"segment {number}")
        assert ours.any()
        others = np.ones(layer.shape[0], dtype=bool)
        others[list(slices.values())] = False
        assert not (layer[others] == number).any()


def test_a_labelmap_whose_frames_drift_from_their_images_loads_with_the_largest_offset(tmp_path, caplog):
    seg, uids = labelmap_over_ct2_by_highdicom()
    path = tmp_path / "drifting.dcm"
    shifted_along_the_slices(seg, [0.005, -0.01, 0.015, 0.02]).save_as(path)
    reference = reference_of_folder(shared_data(CT2))
    with caplog.at_level(logging.WARNING):
        result = read_seg(path, reference.geometry, image_positions=reference.image_positions)
    # 0.5 % of a slice is on the slice already (within the grid's 1 %): three frames are moved.
    assert "3 frame(s) lie up to 0.025 mm (2.0 % of a slice)" in caplog.text
    slices = ct2_slice_of_each_image(reference.geometry)
    theirs = hd.seg.segread(path).get_pixels_by_source_instance(uids, combine_segments=True)
    np.testing.assert_array_equal(result.labels.array[[slices[uid] for uid in uids]], theirs)
    assert np.count_nonzero(result.labels.array) == np.count_nonzero(theirs) > 0


def test_only_the_frames_that_fit_no_slice_are_refused_by_number(tmp_path):
    seg, _ = labelmap_over_ct2_by_highdicom()
    path = tmp_path / "one-too-far.dcm"
    shifted_along_the_slices(seg, [0.02, 0.02, 0.4, 0.02]).save_as(path)  # frame 3: nearer the next slice than its own
    reference = reference_of_folder(shared_data(CT2))
    with pytest.raises(GeometryMismatchError, match=r"1 frame\(s\) .* away from the source images they name: frame\(s\) 3 "):
        read_seg(path, reference.geometry, image_positions=reference.image_positions)


def test_frames_that_name_no_source_image_are_still_placed_exactly(tmp_path):
    seg, _ = labelmap_over_ct2_by_highdicom()
    anonymous = shifted_along_the_slices(seg, [0.02] * 4)
    for group in anonymous.PerFrameFunctionalGroupsSequence:
        del group.DerivationImageSequence
    path = tmp_path / "anonymous.dcm"
    anonymous.save_as(path)
    reference = reference_of_folder(shared_data(CT2))
    with pytest.raises(GeometryMismatchError, match=r"4 frame\(s\) lie between the slices"):
        read_seg(path, reference.geometry, image_positions=reference.image_positions)


def test_a_frame_on_a_slice_is_placed_by_its_position_whatever_image_it_names(tmp_path):
    """A writer that names the wrong image of a frame on a slice: the position decides, as highdicom's volume has it."""
    dataset = pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary.dcm"))
    sources = [group.DerivationImageSequence[0].SourceImageSequence[0] for group in dataset.PerFrameFunctionalGroupsSequence]
    sources[0].ReferencedSOPInstanceUID, sources[1].ReferencedSOPInstanceUID = (
        sources[1].ReferencedSOPInstanceUID, sources[0].ReferencedSOPInstanceUID
    )
    path = tmp_path / "swapped.dcm"
    dataset.save_as(path)
    reference = reference_of_folder(shared_data(CT2))
    result = read_seg(path, reference.geometry, image_positions=reference.image_positions)
    theirs = hd.seg.segread(path).get_volume(combine_segments=True)
    np.testing.assert_array_equal(result.labels.array, on_grid(theirs, reference.geometry))


def test_import_with_reference_places_such_frames_and_warns_once(tmp_path):
    seg, _ = labelmap_over_ct2_by_highdicom()
    path = tmp_path / "shifted.dcm"
    shifted_along_the_slices(seg, [0.02] * 4).save_as(path)
    output = tmp_path / "out.seg.nrrd"
    completed = run_cli("import", str(path), "--reference", str(shared_data(CT2)), "--output", str(output))
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.count("from the source images they name") == 1 and "0.025 mm" in completed.stderr
    assert output.exists()


# --- PALETTE COLOR LABELMAPs ---------------------------------------------------------------------------------------

SOURCE_24X38 = "dcmqi/24x38x3/image"  # three CT slices of 38 x 24 pixels
PALETTE = {0: (0, 0, 0), 1: (255, 0, 0), 2: (0, 128, 255), 3: (250, 200, 10)}
OWN_COLOUR = (20, 220, 90)  # segment 3's Recommended Display CIELab Value, which wins over the palette


def palette_labels(shape: tuple[int, int, int]) -> np.ndarray:
    labels = np.zeros(shape, dtype=np.uint8)
    labels[0, 3:10, 2:8] = 1
    labels[1, 12:30, 5:20] = 2
    labels[2, 20:25, 10:14] = 3
    return labels


def palette_labelmap_by_highdicom(
    palette: hd.PaletteColorLUTTransformation, bits: int = 8
) -> tuple[hd.seg.Segmentation, np.ndarray]:
    """A LABELMAP that highdicom writes over dcmqi's 24x38x3 CT with ``palette`` (PALETTE COLOR) and segments 1-3."""
    from DicomManager import read_source_series_folder

    source = read_source_series_folder(shared_data(SOURCE_24X38))
    labels = palette_labels(source.geometry.spatial_shape).astype(np.uint16 if bits == 16 else np.uint8)
    descriptions = [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"Region {number}",
            segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number in (1, 2, 3)
    ]
    if bits == 16:  # a 16-bit LABELMAP needs more segments than 255: highdicom decides the bits from the numbers
        labels[2, 0, 0] = 300
        descriptions.append(
            hd.seg.SegmentDescription(
                segment_number=300, segment_label="Region 300",
                segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
                segmented_property_type=hd.sr.CodedConcept("10200004", "SCT", "Liver"),
                algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
            )
        )
    seg = hd.seg.Segmentation(
        source_images=source.datasets,
        pixel_array=labels,
        segmentation_type="LABELMAP",
        segment_descriptions=descriptions,
        palette_color_lut_transformation=palette,
        omit_empty_frames=False,
        **highdicom_identity(),
    )
    assert seg.PhotometricInterpretation == "PALETTE COLOR" and int(seg.BitsAllocated) == bits
    return seg, labels


def as_dataset(seg: hd.seg.Segmentation) -> pydicom.Dataset:
    """The highdicom SEG as a plain pydicom dataset, to change as other writers write it."""
    dataset = pydicom.Dataset(seg)
    dataset.file_meta = seg.file_meta
    return dataset


def with_own_colour(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """Segment 3 with a Recommended Display CIELab Value as well (highdicom writes none beside a palette)."""
    (item,) = [item for item in dataset.SegmentSequence if item.SegmentNumber == 3]
    item.RecommendedDisplayCIELabValue = list(hd.color.CIELabColor.from_rgb(*OWN_COLOUR).value)
    return dataset


def mapped_from_one(dataset: pydicom.Dataset) -> pydicom.Dataset:
    """The palette without its entry for 0: the first mapped value 1 (highdicom writes tables from 0 only)."""
    for colour in ("Red", "Green", "Blue"):
        descriptor = dataset[f"{colour}PaletteColorLookupTableDescriptor"]
        entries, first, bits = descriptor.value
        assert first == 0
        data = np.frombuffer(dataset[f"{colour}PaletteColorLookupTableData"].value, dtype=f"<u{bits // 8}")[:entries]
        dataset[f"{colour}PaletteColorLookupTableData"].value = data[1:].tobytes()
        descriptor.value = [entries - 1, 1, bits]
    return dataset


def plain_palette(bits: int, colours: dict[int, tuple[int, int, int]]) -> hd.PaletteColorLUTTransformation:
    """A table of ``bits``-bit entries from 0 (highdicom writes no other first mapped value), black where unnamed."""
    dtype, scale = (np.uint16, 257) if bits == 16 else (np.uint8, 1)  # 16-bit entries: 255 * 257 is full scale
    entries = [colours.get(number, (0, 0, 0)) for number in range(max(colours) + 1)]
    luts = [
        hd.PaletteColorLUT(0, np.array([colour[channel] * scale for colour in entries], dtype=dtype), name)
        for channel, name in enumerate(("red", "green", "blue"))
    ]
    return hd.PaletteColorLUTTransformation(*luts, palette_color_lut_uid=hd.UID())


def colours_of(result) -> dict[int, tuple[int, int, int] | None]:
    return {segment.number: segment.color for segment in result.segments}


def highdicoms_colour_of_each_segment(path: Path, full_scale: int = 255) -> dict[int, tuple[int, int, int]]:
    seg = hd.seg.segread(path)
    labels = seg.get_volume(combine_segments=True).array
    rgb = seg.get_volume(
        combine_segments=True, apply_palette_color_lut=True, apply_icc_profile=False,
        dtype=np.uint16 if full_scale > np.iinfo(np.uint8).max else np.uint8,
    ).array
    colours = {}
    for number in (n for n in seg.segment_numbers if n and (labels == n).any()):
        values = np.unique(rgb[labels == number].reshape(-1, 3), axis=0)
        assert len(values) == 1, number
        colours[number] = tuple(round(int(v) * 255 / full_scale) for v in values[0])
    return colours


def test_the_slide_palette_labelmap_gives_each_segment_the_palettes_colour():
    path = shared_data("highdicom/seg_image_sm_control_labelmap_palette_color.dcm")
    ours = colours_of(read_seg(path))
    theirs = highdicoms_colour_of_each_segment(path)  # the palette as stored; the ICC profile is for the slide's display
    assert len(theirs) >= 15
    assert {number: ours[number] for number in theirs} == theirs


@pytest.mark.parametrize(
    ("kind", "bits", "palette"),
    [
        ("8-bit entries", 8, plain_palette(8, PALETTE)),
        ("16-bit entries mapped from 1", 8, plain_palette(16, PALETTE)),
        ("16-bit LABELMAP", 16, plain_palette(16, {**PALETTE, 300: (90, 60, 30)})),
    ],
)
def test_palette_labelmaps_by_highdicom_give_the_palettes_colours_and_keep_them_on_export(tmp_path, kind, bits, palette):
    from conftest import dciodvfy_errors

    from DicomManager import ExportOptions, read_source_series_folder, write_labelmap_seg

    seg, labels = palette_labelmap_by_highdicom(palette, bits)
    dataset = as_dataset(seg)
    if kind == "16-bit entries mapped from 1":
        mapped_from_one(dataset)
    path = tmp_path / "palette.dcm"
    dataset.save_as(path, enforce_file_format=True)
    palette_colours = {1: PALETTE[1], 2: PALETTE[2], 3: PALETTE[3]} | ({300: (90, 60, 30)} if bits == 16 else {})
    full_scale = 65535 if kind.startswith("16-bit") else 255
    assert highdicoms_colour_of_each_segment(path, full_scale) == palette_colours
    assert colours_of(read_seg(path)) == palette_colours

    with_own_colour(dataset).save_as(path, enforce_file_format=True)
    result = read_seg(path)
    expected = palette_colours | {3: OWN_COLOUR}
    assert colours_of(result) == expected

    source = read_source_series_folder(shared_data(SOURCE_24X38))
    written = write_labelmap_seg(result.labels, result.segments, source, tmp_path, ExportOptions(file_name="again.dcm"))
    assert dciodvfy_errors(written.path) == []
    again = hd.seg.segread(written.path)
    cielab = {number: again.get_segment_description(number).RecommendedDisplayCIELabValue
              for number in again.segment_numbers if number}
    exported = {number: tuple(hd.color.CIELabColor.from_dicom_value(value).to_rgb()) for number, value in cielab.items()}
    assert exported == expected
    np.testing.assert_array_equal(again.get_volume(combine_segments=True).array, labels)


def test_a_segmented_palette_expands_as_the_standard_says(tmp_path):
    """Discrete segments of several entries and linear ones (PS3.3 C.7.9.2), written with pydicom.

    highdicom writes no segmented table into a SEG (it refuses to), and its
    reader expands a discrete segment as one value repeated, so the expected
    colours are the standard's expansion, written out below.
    """
    seg, _ = palette_labelmap_by_highdicom(plain_palette(8, PALETTE))
    dataset = as_dataset(seg)
    segmented = {
        "Red": [0, 2, 0, 100, 1, 2, 200],  # 0, 100, then a line to 200 in two steps: 150, 200
        "Green": [0, 4, 10, 20, 30, 40],  # four entries as they are
        "Blue": [0, 1, 255, 1, 3, 0],  # 255, then a line to 0 in three steps: 170, 85, 0
    }
    for colour, data in segmented.items():
        delattr(dataset, f"{colour}PaletteColorLookupTableData")
        setattr(dataset, f"Segmented{colour}PaletteColorLookupTableData", bytes(data))
        dataset[f"Segmented{colour}PaletteColorLookupTableData"].VR = "OB"
        dataset[f"{colour}PaletteColorLookupTableDescriptor"].value = [4, 0, 8]
    path = tmp_path / "segmented.dcm"
    dataset.save_as(path, enforce_file_format=True)
    assert colours_of(read_seg(path)) == {1: (100, 20, 170), 2: (150, 30, 85), 3: (200, 40, 0)}


def autogenerated_flags(scene, seg_nrrd: Path) -> dict[int, tuple[bool, bool]]:
    """(NameAutoGenerated, ColorAutoGenerated) of each segment, as slicer-core's storage node reads the file."""
    from DicomManager.mrml.storage import read_segmentation_file

    segmentation = read_segmentation_file(scene, seg_nrrd).GetSegmentation()
    flags = {}
    for segment_id in segmentation.GetSegmentIDs():
        segment = segmentation.GetSegment(segment_id)
        flags[segment.GetLabelValue()] = (bool(segment.GetNameAutoGenerated()), bool(segment.GetColorAutoGenerated()))
    return flags


def test_seg_nrrd_marks_only_generated_names_and_colours_as_generated(scene, tmp_path):
    """As Slicer's own DICOM SEG plugin: a segment's SegmentLabel is its name, not a generated one."""
    from DicomManager import write_seg_nrrd

    seg, _ = palette_labelmap_by_highdicom(plain_palette(8, PALETTE))
    dataset = as_dataset(seg)
    (first,) = [item for item in dataset.SegmentSequence if item.SegmentNumber == 1]
    del first.SegmentLabel  # segment 1 has no label (Type 1, but files lack it)
    path = tmp_path / "palette.dcm"
    dataset.save_as(path, enforce_file_format=True)
    write_seg_nrrd(tmp_path / "palette.seg.nrrd", read_seg(path))
    assert autogenerated_flags(scene, tmp_path / "palette.seg.nrrd") == {1: (True, False), 2: (False, False), 3: (False, False)}

    uncoloured = shared_data("highdicom/seg_image_ct_binary_overlap.dcm")  # no recommended colours
    write_seg_nrrd(tmp_path / "uncoloured.seg.nrrd", read_seg(uncoloured))
    assert autogenerated_flags(scene, tmp_path / "uncoloured.seg.nrrd") == {1: (False, True), 2: (False, True)}


# --- Tiled slide-microscopy BINARY and FRACTIONAL SEGs ---------------------------------------------------------------

SLIDE = "highdicom/sm_image_control.dcm"  # a 50 x 50 whole-slide image in 25 tiles of 10 x 10, one optical path


def slide_segments(count: int) -> list[hd.seg.SegmentDescription]:
    return [
        hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=f"Nucleus group {number}",
            segmented_property_category=hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure"),
            segmented_property_type=hd.sr.CodedConcept("84640000", "SCT", "Nucleus"),
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
        )
        for number in range(1, count + 1)
    ]


def tiled_seg_by_highdicom(segmentation_type: str, organization: str) -> tuple[hd.seg.Segmentation, np.ndarray]:
    """Three overlapping segments over the slide's total pixel matrix, tiled by highdicom."""
    slide = pydicom.dcmread(shared_data(SLIDE))
    masks = np.zeros((1, int(slide.TotalPixelMatrixRows), int(slide.TotalPixelMatrixColumns), 3), dtype=np.float32)
    masks[0, 5:30, 4:22, 0] = 1.0
    masks[0, 20:45, 15:40, 1] = 0.8  # overlaps the first
    masks[0, 20:45, 15:40, 1][::3] = 0.3  # below one half: left out when thresholded
    masks[0, 40:48, 2:9, 2] = 0.6
    pixels = masks if segmentation_type == "FRACTIONAL" else masks >= 0.5
    seg = hd.seg.Segmentation(
        source_images=[slide],
        pixel_array=pixels,
        segmentation_type=segmentation_type,
        segment_descriptions=slide_segments(3),
        max_fractional_value=200,
        tile_pixel_array=True,
        dimension_organization_type=organization,
        omit_empty_frames=organization == "TILED_SPARSE",
        **highdicom_identity(),
    )
    return seg, masks[0] >= 0.5


def assert_layers_are_highdicoms_total_pixel_matrix(result, path: Path) -> None:
    theirs = hd.seg.segread(path)
    rescale = {"rescale_fractional": False} if theirs.segmentation_type.value == "FRACTIONAL" else {}
    matrix = theirs.get_total_pixel_matrix(combine_segments=False, skip_overlap_checks=True, **rescale)
    threshold = (int(theirs.get("MaximumFractionalValue", 1)) + 1) // 2
    for position, number in enumerate(theirs.segment_numbers):
        plane = result.layers[result.layer_of_segment[number]]
        assert plane.spatial_shape == (1, *matrix.shape[:2])
        np.testing.assert_array_equal(plane.array[0] == number, matrix[..., position] >= threshold, err_msg=f"segment {number}")
    np.testing.assert_allclose(result.layers[0].affine, theirs.get_volume_geometry().affine, atol=1e-9)


def test_the_tiled_binary_slide_seg_loads_as_highdicoms_total_pixel_matrix():
    path = shared_data("highdicom/seg_image_sm_control.dcm")
    result = read_seg(path)
    assert len(result.segments) == 20 and result.layers[0].coordinate_system.value == "SLIDE"
    assert_layers_are_highdicoms_total_pixel_matrix(result, path)
    assert sum(np.count_nonzero(layer.array) for layer in result.layers) > 0


@pytest.mark.parametrize("organization", ["TILED_FULL", "TILED_SPARSE"])
@pytest.mark.parametrize("segmentation_type", ["BINARY", "FRACTIONAL"])
def test_tiled_classic_segs_by_highdicom_load_as_one_plane_in_layers(tmp_path, segmentation_type, organization):
    from DicomManager.core.reading.seg_reader import header_problem

    seg, expected = tiled_seg_by_highdicom(segmentation_type, organization)
    path = tmp_path / "slide.dcm"
    seg.save_as(path)
    assert header_problem(path) is None  # the DICOM browser preselects it
    result = read_seg(path)
    assert len(result.layers) == 2  # segments 1 and 2 overlap
    assert_layers_are_highdicoms_total_pixel_matrix(result, path)
    for position, number in enumerate((1, 2, 3)):
        np.testing.assert_array_equal(result.layers[result.layer_of_segment[number]].array[0] == number, expected[..., position])
    assert bool(result.notes) == (segmentation_type == "FRACTIONAL")


@pytest.mark.parametrize("defect", ["focal planes", "optical paths"])
def test_a_slide_seg_of_several_planes_is_refused_naming_them(tmp_path, defect):
    from DicomManager.core.reading.seg_reader import header_problem
    from DicomManager.errors import SegFileError

    seg, _ = tiled_seg_by_highdicom("BINARY", "TILED_SPARSE")
    dataset = as_dataset(seg)
    for index, group in enumerate(dataset.PerFrameFunctionalGroupsSequence):
        if defect == "focal planes":
            group.PlanePositionSlideSequence[0].ZOffsetInSlideCoordinateSystem = "0.0" if index % 2 else "0.002"
        else:
            item = pydicom.Dataset()
            item.OpticalPathIdentifier = "1" if index % 2 else "2"
            group.OpticalPathIdentificationSequence = [item]
    path = tmp_path / "planes.dcm"
    dataset.save_as(path, enforce_file_format=True)
    named = r"2 focal planes \(Z offsets 0\.0, 0\.002 mm\)" if defect == "focal planes" else r"2 optical paths \(1, 2\)"
    with pytest.raises(SegFileError, match=named):
        read_seg(path)
    assert header_problem(path) is not None and "only one plane of one optical path loads" in header_problem(path)


# --- A one-frame SEG with more per-frame items than frames -----------------------------------------------------------


def test_a_one_frame_seg_with_surplus_per_frame_items_reads_its_first_as_highdicom_does(tmp_path, caplog):
    original_path = shared_data("highdicom/seg_image_ct_binary_single_frame.dcm")
    dataset = pydicom.dcmread(original_path)
    assert int(dataset.NumberOfFrames) == 1
    first = dataset.PerFrameFunctionalGroupsSequence[0]
    for offset in (5.0, 10.0):  # items for frames that are not there, as a writer copies them per source image
        surplus = copy.deepcopy(first)
        x, y, z = (float(value) for value in surplus.PlanePositionSequence[0].ImagePositionPatient)
        surplus.PlanePositionSequence[0].ImagePositionPatient = [x, y, z + offset]
        dataset.PerFrameFunctionalGroupsSequence.append(surplus)
    path = tmp_path / "surplus.dcm"
    dataset.save_as(path)

    with caplog.at_level(logging.WARNING):
        result = read_seg(path)
    assert "PerFrameFunctionalGroupsSequence (5200,9230) has 3 items for its one frame; the first is read" in caplog.text
    theirs = hd.seg.segread(path).get_volume(combine_segments=True)
    np.testing.assert_array_equal(result.labels.array, theirs.array)
    np.testing.assert_allclose(result.labels.affine, theirs.affine, atol=1e-6)
    np.testing.assert_array_equal(result.labels.array, read_seg(original_path).labels.array)
    assert result.labels.array.any()


def test_several_frames_with_surplus_per_frame_items_are_still_refused(tmp_path):
    from DicomManager.errors import SegFileError

    dataset = pydicom.dcmread(shared_data("highdicom/seg_image_ct_binary.dcm"))
    dataset.PerFrameFunctionalGroupsSequence.append(copy.deepcopy(dataset.PerFrameFunctionalGroupsSequence[0]))
    path = tmp_path / "surplus.dcm"
    dataset.save_as(path)
    with pytest.raises(SegFileError, match=r"has 4 items for 3 frames"):
        read_seg(path)
