"""SEG variants real writers produce that the standard allows, or that readers such as dcmqi accept anyway.

Files are written here by highdicom and pydicom (never by this project), or
come from public repositories (``../shared/testdata/public``, with their
provenance). Expected labels come from the arrays the files were written
from, or from the file's uncompressed twin.
"""

from __future__ import annotations

import copy
import logging
import subprocess
import sys
import zlib
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import (
    dciodvfy_errors,
    highdicom_identity,
    make_grid,
    on_grid,
    read_segments_with_dcmqi,
    shared_data,
    write_series,
)
from pydicom.encaps import encapsulate, generate_frames
from pydicom.filebase import DicomFileLike
from pydicom.filewriter import write_dataset, write_file_meta_info
from pydicom.sequence import Sequence

from DicomManager import ExportOptions, LayeredSegmentation, SegmentMetadata, read_seg, read_source_series
from DicomManager.core.segments.segment_metadata import TISSUE
from DicomManager.errors import SegFileError
from DicomManager.mrml.segmentation_nodes import labels_from_segmentation_node, segment_metadata_from_node
from DicomManager.mrml.volume_nodes import grid_of_volume_node

FUNCTIONAL_GROUP_MACROS = [
    "SegmentIdentificationSequence",
    "PlanePositionSequence",
    "PlaneOrientationSequence",
    "PixelMeasuresSequence",
    "DerivationImageSequence",
    "FrameContentSequence",
]


@pytest.fixture(scope="module")
def ct_source(tmp_path_factory):
    grid = make_grid((4, 24, 20))
    return read_source_series(write_series(grid, tmp_path_factory.mktemp("ct")))


def single_segment_seg(source, segmentation_type: str) -> tuple[pydicom.Dataset, np.ndarray]:
    """A one-segment SEG of ``segmentation_type`` written by highdicom over ``source``, and its mask."""
    mask = np.zeros(source.geometry.spatial_shape, dtype=bool)
    mask[1:4, 5:15, 3:12] = True
    mask[2, 8:10, 6:9] = False
    pixels = mask.astype(np.float32) if segmentation_type == "FRACTIONAL" else mask
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label="Tumour",
        segmented_property_category=hd.sr.CodedConcept("49755003", "SCT", "Morphologically Altered Structure"),
        segmented_property_type=hd.sr.CodedConcept("108369006", "SCT", "Neoplasm"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL,
    )
    seg = hd.seg.Segmentation(
        source_images=source.datasets,
        pixel_array=pixels,
        segmentation_type=segmentation_type,
        segment_descriptions=[description],
        **highdicom_identity(),
        max_fractional_value=255,
        omit_empty_frames=False,
    )
    return seg, mask


def move_macro(dataset: pydicom.Dataset, sequence: str, to_shared: bool) -> pydicom.Dataset:
    """A copy of ``dataset`` with the ``sequence`` macro in the shared group (when all frames agree) or in each frame."""
    moved = copy.deepcopy(dataset)
    shared = moved.SharedFunctionalGroupsSequence[0]
    per_frame = moved.PerFrameFunctionalGroupsSequence
    if to_shared:
        items = [group[sequence].value[0] for group in per_frame if sequence in group]
        assert len(items) == len(per_frame) and all(item == items[0] for item in items), sequence
        setattr(shared, sequence, Sequence([copy.deepcopy(items[0])]))
        for group in per_frame:
            del group[sequence]
    else:
        item = shared[sequence].value[0]
        for group in per_frame:
            setattr(group, sequence, Sequence([copy.deepcopy(item)]))
        del shared[sequence]
    return moved


def labels_of(path, source) -> np.ndarray:
    result = read_seg(path, source.geometry)
    assert len(result.layers) == 1
    return result.layers[0].array


@pytest.mark.parametrize("segmentation_type", ["BINARY", "FRACTIONAL"])
def test_single_segment_seg_by_highdicom_loads(ct_source, tmp_path, segmentation_type):
    seg, mask = single_segment_seg(ct_source, segmentation_type)
    path = tmp_path / "seg.dcm"
    seg.save_as(path)
    np.testing.assert_array_equal(labels_of(path, ct_source), mask.astype(np.uint8))


@pytest.mark.parametrize("segmentation_type", ["BINARY", "FRACTIONAL"])
@pytest.mark.parametrize("sequence", ["SegmentIdentificationSequence", "PlaneOrientationSequence", "PixelMeasuresSequence"])
def test_a_macro_the_frames_share_is_read_from_either_place(ct_source, tmp_path, segmentation_type, sequence):
    """Moved from where highdicom put it (shared, or in every frame) to the other place: the same labels."""
    seg, mask = single_segment_seg(ct_source, segmentation_type)
    dataset = pydicom.Dataset(seg)
    dataset.file_meta = seg.file_meta
    variant = move_macro(dataset, sequence, to_shared=sequence not in dataset.SharedFunctionalGroupsSequence[0])
    path = tmp_path / "moved.dcm"
    variant.save_as(path, enforce_file_format=True)
    np.testing.assert_array_equal(labels_of(path, ct_source), mask.astype(np.uint8))


def test_highdicom_shares_the_segment_identification_of_a_single_segment(ct_source):
    """The case that was refused: no frame names its segment, the shared group does."""
    seg, _ = single_segment_seg(ct_source, "BINARY")
    in_shared = "SegmentIdentificationSequence" in seg.SharedFunctionalGroupsSequence[0]
    in_frames = any("SegmentIdentificationSequence" in group for group in seg.PerFrameFunctionalGroupsSequence)
    assert in_shared or in_frames
    assert in_shared != in_frames


def test_single_frame_seg_with_every_macro_shared(ct_source, tmp_path):
    """Macros that differ from frame to frame (plane position, derivation, frame content) can be shared in one frame."""
    seg, mask = single_segment_seg(ct_source, "BINARY")
    dataset = pydicom.Dataset(seg)
    dataset.file_meta = seg.file_meta
    frame = 1  # the second slice, which has voxels
    (group,) = [g for g in dataset.PerFrameFunctionalGroupsSequence
                if np.allclose(g.PlanePositionSequence[0].ImagePositionPatient,
                               ct_source.datasets[frame].ImagePositionPatient)]
    index = list(dataset.PerFrameFunctionalGroupsSequence).index(group)
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    pixels = np.unpackbits(np.frombuffer(dataset.PixelData, np.uint8), bitorder="little")
    frame_bits = pixels[index * rows * columns:(index + 1) * rows * columns]
    dataset.PixelData = np.packbits(frame_bits, bitorder="little").tobytes()
    dataset.NumberOfFrames = 1
    shared = dataset.SharedFunctionalGroupsSequence[0]
    for sequence in FUNCTIONAL_GROUP_MACROS:
        if sequence in group:
            shared[sequence] = group[sequence]
    dataset.PerFrameFunctionalGroupsSequence = Sequence([pydicom.Dataset()])
    path = tmp_path / "one-frame.dcm"
    dataset.save_as(path, enforce_file_format=True)
    labels = labels_of(path, ct_source)
    expected = np.zeros_like(mask, dtype=np.uint8)
    expected[frame] = mask[frame]
    np.testing.assert_array_equal(labels, expected)


def test_siemens_segments_without_codes_load_with_a_warning_and_export_conformant(manager, scene, tmp_path, caplog):
    """syngo.via VA11A writes segment items with a number, label, description and algorithm, and no codes."""
    syngo = shared_data("public/syngo_va11a.seg.dcm")
    volume = manager.load_reference_volume(shared_data("dcmqi/ct-3slice"))
    with caplog.at_level(logging.WARNING, logger="DicomManager"):
        node = manager.load_segmentation(syngo, volume)
    missing = [r.getMessage() for r in caplog.records if "SegmentedProperty" in r.getMessage()]
    assert any("CategoryCodeSequence" in m for m in missing) and any("TypeCodeSequence" in m for m in missing)

    labels, numbers = labels_from_segmentation_node(node, grid_of_volume_node(volume))
    (dcmqi_segment,) = read_segments_with_dcmqi(syngo, tmp_path, scene).values()  # it refuses --mergeSegments here
    np.testing.assert_array_equal(labels, on_grid(dcmqi_segment, grid_of_volume_node(volume)))
    assert int((labels > 0).sum()) == 46  # as dcmqi reads it (PROVENANCE.md)
    (segment,) = [segment_metadata_from_node(node, i, n) for i, n in numbers.items()]
    item = pydicom.dcmread(syngo, stop_before_pixels=True).SegmentSequence[0]
    assert (segment.label, segment.description) == (item.SegmentLabel, item.SegmentDescription)
    assert (segment.algorithm_type, segment.algorithm_name) == (item.SegmentAlgorithmType, item.SegmentAlgorithmName)
    assert segment.category == segment.type == TISSUE

    written = manager.export_segmentation(node, volume, tmp_path / "out")
    assert dciodvfy_errors(written.paths[0]) == []
    exported = hd.seg.segread(written.paths[0]).get_segment_description(1)
    assert exported.segmented_property_category.value == TISSUE.value
    assert exported.segment_label == item.SegmentLabel


# Deflated Image Frame Compression (1.2.840.10008.1.2.8.1): PS3.5 8.2.16, A.4.13.
DEFLATED_FRAMES_UID = "1.2.840.10008.1.2.8.1"


def frames_inflated_by_zlib(path) -> np.ndarray:
    """The test's own decoder: each fragment inflated by zlib, read as the header says (the independent oracle)."""
    dataset = pydicom.dcmread(path)
    assert dataset.file_meta.TransferSyntaxUID == DEFLATED_FRAMES_UID
    # Encapsulated (PS3.5 A.4): of undefined length, its items a sequence that readers walk as such.
    assert dataset["PixelData"].is_undefined_length and dataset["PixelData"].VR == "OB"
    rows, columns, bits = dataset.Rows, dataset.Columns, dataset.BitsAllocated
    frames = []
    for fragment in generate_frames(dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames)):
        data = np.frombuffer(zlib.decompress(fragment, -15), np.uint8)
        if bits == 1:
            frames.append(np.unpackbits(data, bitorder="little", count=rows * columns).reshape(rows, columns))
        else:
            frames.append(data.view(f"<u{bits // 8}")[: rows * columns].reshape(rows, columns))
    return np.stack(frames)


def native_twin(path, twin_path):
    """The same dataset with its frames inflated into native Pixel Data, for validators that lack the syntax.

    dciodvfy (dicom3tools 2026-09) does not know Deflated Image Frame
    Compression: it fails on pydicom-data's own example as on ours.
    """
    dataset = pydicom.dcmread(path)
    frames = frames_inflated_by_zlib(path)
    if dataset.BitsAllocated == 1:
        dataset.PixelData = np.packbits(frames.ravel(), bitorder="little").tobytes()
    else:
        dataset.PixelData = frames.astype(f"<u{dataset.BitsAllocated // 8}").tobytes()
    dataset["PixelData"].VR = "OB" if dataset.BitsAllocated == 1 else "OW"
    dataset["PixelData"].is_undefined_length = False
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    dataset.save_as(twin_path, enforce_file_format=True)
    return twin_path


def write_with_deflated_frames_by_pydicom(source_path, path) -> None:
    """Re-encode a SEG's frames as Deflated Image Frame Compression with pydicom and zlib alone."""
    dataset = pydicom.dcmread(source_path)
    frames = dataset.pixel_array.reshape(int(dataset.get("NumberOfFrames", 1)), dataset.Rows, dataset.Columns)
    if dataset.BitsAllocated == 1:
        encoded = [np.packbits(frame.ravel(), bitorder="little").tobytes() for frame in frames]
    else:
        encoded = [frame.astype(f"<u{dataset.BitsAllocated // 8}").tobytes() for frame in frames]
    dataset.PixelData = encapsulate([zlib.compress(frame, 9)[2:-4] for frame in encoded])  # raw deflate: no zlib wrapper
    dataset["PixelData"].VR = "OB"
    dataset["PixelData"].is_undefined_length = True
    dataset.file_meta.TransferSyntaxUID = DEFLATED_FRAMES_UID
    with open(path, "wb") as stream:
        file = DicomFileLike(stream)
        file.is_implicit_VR, file.is_little_endian = False, True
        file.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(file, dataset.file_meta)
        write_dataset(file, dataset)


@pytest.mark.parametrize(
    ("deflated", "twin"),
    [
        ("public/liver_deflate.dcm", "dcmqi/liver.dcm"),
        ("public/liver_nonbyte_aligned_deflate.dcm", "public/liver_nonbyte_aligned.dcm"),
    ],
)
def test_public_deflated_frame_segs_read_as_their_uncompressed_twins(deflated, twin):
    result, expected = read_seg(shared_data(deflated)), read_seg(shared_data(twin))
    np.testing.assert_array_equal(result.layers[0].array, expected.layers[0].array)
    assert int(result.layers[0].array.sum()) == int(frames_inflated_by_zlib(shared_data(deflated)).sum())
    assert result.segments == expected.segments


@pytest.mark.parametrize("name", ["dcmqi/sparse-labelmap-ppv5.dcm", "dcmqi/partial_overlaps.dcm", "dcmqi/23x38x3/seg/label.seg"])
def test_segs_whose_frames_pydicom_deflated_read_as_the_originals(name, tmp_path):
    path = tmp_path / "deflated-frames.dcm"
    write_with_deflated_frames_by_pydicom(shared_data(name), path)
    result, expected = read_seg(path), read_seg(shared_data(name))
    assert len(result.layers) == len(expected.layers)
    for layer, expected_layer in zip(result.layers, expected.layers, strict=True):
        np.testing.assert_array_equal(layer.array, expected_layer.array)


@pytest.mark.parametrize("overlapping", [False, True])
def test_export_with_deflated_frames_is_valid_and_inflates_to_the_labels(manager, scene, tmp_path, overlapping):
    from DicomManager import Compression
    from DicomManager.mrml.segmentation_nodes import create_layered_segmentation_node

    grid = make_grid((5, 21, 19))  # 399 pixels a frame: 1-bit frames end inside a byte
    write_series(grid, tmp_path / "ct")
    volume = manager.load_reference_volume(tmp_path / "ct")
    grid = grid_of_volume_node(volume)
    first = np.zeros(grid.spatial_shape, np.uint8)
    first[1:4, 3:15, 2:12] = 1
    first[2, 5:8, 4:6] = 2
    second = np.zeros_like(first)
    second[2:5, 10:19, 8:17] = 3
    layers = [first, second] if overlapping else [np.where(second > 0, second, first)]
    layer_of_segment = {1: 0, 2: 0, 3: 1 if overlapping else 0}
    segments = [SegmentMetadata(number=n, label=f"S{n}", color=(40 * n, 90, 200)) for n in (1, 2, 3)]
    volumes = [hd.Volume(layer, grid.affine, "PATIENT", grid.frame_of_reference_uid) for layer in layers]
    node = create_layered_segmentation_node(scene, LayeredSegmentation(volumes, segments, layer_of_segment), "Deflated frames")
    written = manager.export_segmentation(node, volume, tmp_path / "out", ExportOptions(compression=Compression.DEFLATE_FRAMES))
    (path,) = written.paths
    assert written.segmentation_type == ("BINARY" if overlapping else "LABELMAP")
    assert dciodvfy_errors(native_twin(path, tmp_path / "native.dcm")) == []
    inflated = frames_inflated_by_zlib(path)
    dataset = pydicom.dcmread(path, stop_before_pixels=True)
    groups = dataset.PerFrameFunctionalGroupsSequence
    assert len(inflated) == len(groups)
    for frame, group in zip(inflated, groups, strict=True):
        position = np.array([group.PlanePositionSequence[0].ImagePositionPatient], dtype=float)
        z = int(round(grid.map_reference_to_indices(position)[0][0]))
        if overlapping:  # a frame per segment and slice: that segment's mask
            number = group.SegmentIdentificationSequence[0].ReferencedSegmentNumber
            np.testing.assert_array_equal(frame, (layers[layer_of_segment[number]][z] == number).astype(np.uint8))
        else:
            np.testing.assert_array_equal(frame, layers[0][z])
    result = read_seg(path, grid)
    for number, layer in result.layer_of_segment.items():
        np.testing.assert_array_equal(result.layers[layer].array == number, layers[layer_of_segment[number]] == number)


def test_sixteen_bit_labelmap_with_deflated_frames(ct_source, tmp_path):
    from DicomManager import Compression, write_labelmap_seg

    labels = np.zeros(ct_source.geometry.spatial_shape, np.uint16)
    labels[0, 2:9, 3:7], labels[1, 5:6, 5:9], labels[2, 10:20, 4:15], labels[3, 1:3, 1:3] = 300, 300, 65535, 1
    volume = hd.Volume(labels, ct_source.geometry.affine, "PATIENT", ct_source.geometry.frame_of_reference_uid)
    segments = [SegmentMetadata(number=n, label=f"S{n}") for n in (1, 300, 65535)]
    path = write_labelmap_seg(volume, segments, ct_source, tmp_path, ExportOptions(file_name="seg16.dcm",
        compression=Compression.DEFLATE_FRAMES)).path
    np.testing.assert_array_equal(frames_inflated_by_zlib(path), labels)  # no slice is empty: a frame each, in order
    np.testing.assert_array_equal(read_seg(path, ct_source.geometry).layers[0].array, labels)
    assert dciodvfy_errors(native_twin(path, tmp_path / "native.dcm")) == []


def test_jpeg_2000_refuses_small_frames_before_encoding_naming_what_to_choose(ct_source, tmp_path):
    from DicomManager import Compression, write_labelmap_seg
    from DicomManager.errors import EncodingError

    labels = np.zeros(ct_source.geometry.spatial_shape, np.uint8)  # 24x20 frames: under openjpeg's 32
    labels[1:3, 4:9, 5:10] = 1
    volume = hd.Volume(labels, ct_source.geometry.affine, "PATIENT", ct_source.geometry.frame_of_reference_uid)
    output = tmp_path / "seg.dcm"
    with pytest.raises(EncodingError, match=r"fewer than 32 rows or columns, and these are 24x20; choose one of none, rle"):
        write_labelmap_seg(volume, [SegmentMetadata(number=1, label="a")], ct_source, output.parent,
            ExportOptions(file_name=output.name, compression=Compression.JPEG2000))
    assert not output.exists() and not list(tmp_path.iterdir())


def test_jpeg_2000_refusal_of_cropped_frames_says_cropping_made_them_small(scene, tmp_path, capsys):
    """A small segment on 512x512 CT, cropped: the command line says why in one line, and writes nothing."""
    from DicomManager import read_source_series_folder
    from DicomManager.cli.main import main
    from DicomManager.core.label_files.label_volume_files import write_label_volume

    grid = read_source_series_folder(shared_data("dcmqi/ct-3slice")).geometry
    labels = np.zeros(grid.spatial_shape, np.uint8)
    labels[1, 200:210, 300:312] = 1
    write_label_volume(hd.Volume(labels, grid.affine, "PATIENT"), tmp_path / "small.nrrd")
    output = tmp_path / "seg.dcm"
    code = main([
        "export", "--reference", str(shared_data("dcmqi/ct-3slice")), "--segmentation", str(tmp_path / "small.nrrd"),
        "--output", str(output), "--compression", "jpeg2000", "--crop-to-segments",
    ])
    error = capsys.readouterr().err
    assert code == 1 and not output.exists()
    assert len(error.strip().splitlines()) == 1 and "Traceback" not in error
    assert "these are 10x12" in error and "cropped to the segments" in error


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).with_name("dicomlabelmapseg")), *arguments]
    return subprocess.run(command, capture_output=True, text=True, check=False)


@pytest.mark.parametrize("defect", ["corrupt frame", "BitsAllocated 16 over 8-bit RLE"])
def test_a_frame_that_fails_to_decode_is_one_line_naming_file_and_cause(tmp_path, defect):
    """pydicom logs a traceback per failed plugin; the user sees our one line, the traceback only with --verbose."""
    from DicomManager.cli.demo import write_demo_files

    dataset = pydicom.dcmread(write_demo_files(tmp_path / "demo").seg.path)
    if defect == "corrupt frame":
        data = bytearray(dataset.PixelData)
        data[200:260] = b"\xff" * 60  # inside the first frame's RLE header: offsets past its end
        dataset.PixelData = bytes(data)
        cause = "Invalid segment offset"
    else:
        dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
        cause = "BitsAllocated (0028,0100) is 16, but RLE frame 1 holds 1 segment(s)"
    path = tmp_path / "broken.dcm"
    dataset.save_as(path)
    completed = run_cli("import", str(path), "--output", str(tmp_path / "out.seg.nrrd"))
    assert completed.returncode == 1
    assert completed.stderr.count("\n") == 1 and str(path) in completed.stderr and cause in completed.stderr
    assert "Traceback" not in completed.stderr
    if defect == "corrupt frame":
        verbose = run_cli("--verbose", "import", str(path), "--output", str(tmp_path / "out.seg.nrrd"))
        assert "Traceback" in verbose.stderr


def test_exporting_over_a_series_with_an_odd_patient_name_does_not_warn_about_it(tmp_path):
    """dcmqi's CT has PatientName JANCT000: highdicom warns about it, but it is the source's name, copied."""
    assert pydicom.dcmread(next(shared_data("dcmqi/ct-3slice").iterdir())).PatientName == "JANCT000"
    completed = run_cli(
        "export", "--reference", str(shared_data("dcmqi/ct-3slice")), "--segmentation", str(shared_data("dcmqi/liver_seg.nrrd")),
        "--output", str(tmp_path / "seg.dcm"),
    )
    assert completed.returncode == 0, completed.stderr
    assert "person name" not in completed.stderr


def every_seg_file(folder: Path) -> list[Path]:
    """The SEG files under ``folder``, by their SOP Class."""
    segs = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        try:
            header = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        except (pydicom.errors.InvalidDicomError, OSError):
            continue
        if str(header.get("SOPClassUID", "")).startswith("1.2.840.10008.5.1.4.1.1.66."):
            segs.append(path)
    return segs


@pytest.fixture(scope="module")
def variants_written_here(ct_source, tmp_path_factory) -> list[Path]:
    """The files this module's tests write: one-segment highdicom SEGs, macros moved, deflated frames."""
    folder = tmp_path_factory.mktemp("variants")
    for segmentation_type in ("BINARY", "FRACTIONAL"):
        seg, _ = single_segment_seg(ct_source, segmentation_type)
        seg.save_as(folder / f"highdicom-{segmentation_type}.dcm")
        dataset = pydicom.Dataset(seg)
        dataset.file_meta = seg.file_meta
        move_macro(dataset, "PixelMeasuresSequence", to_shared=False).save_as(folder / f"moved-{segmentation_type}.dcm")
    for name in ("dcmqi/sparse-labelmap-ppv5.dcm", "dcmqi/partial_overlaps.dcm", "dcmqi/23x38x3/seg/label.seg"):
        write_with_deflated_frames_by_pydicom(shared_data(name), folder / f"deflated-frames-{Path(name).stem}.dcm")
    return every_seg_file(folder)


def test_the_browser_preselects_ours_only_for_files_we_load_and_says_why_otherwise(variants_written_here):
    from DicomManager.app.loadable_offer import offer_for_seg_file, offer_for_seg_series
    from DicomManager.core.reading.seg_references import read_seg_references
    from DicomManager.errors import DicomLabelMapSegError

    files = [*every_seg_file(shared_data("")), *variants_written_here]
    decided: dict[str, set[Path]] = {"preselected": set(), "below the core plugin": set(), "not offered": set()}
    for path in files:
        header = pydicom.dcmread(path, stop_before_pixels=True)
        offer = offer_for_seg_series(
            str(header.SOPClassUID), str(header.get("Modality", "")), str(header.get("SeriesDescription", "")),
            str(header.get("DimensionOrganizationType", "")),
        )
        if offer is None:
            decided["not offered"].add(path)
            continue
        offer = offer_for_seg_file(offer, path, read_seg_references(path).transfer_syntax_uid)
        try:
            read_seg(path)
            loaded = True
        except DicomLabelMapSegError:
            loaded = False
        if offer.selected:
            decided["preselected"].add(path)
            assert loaded, f"{path}: preselected, then refused"
        else:
            decided["below the core plugin"].add(path)
            assert offer.confidence < 0.95 and offer.warning, path
            assert not loaded, f"{path}: offered below the core plugin, yet our reader loads it"
    # Every SEG here is one we load, the tiled BINARY slide image included (as one plane).
    assert shared_data("highdicom/seg_image_sm_control.dcm") in files
    assert decided["preselected"] == set(files)
    assert decided["below the core plugin"] == set()


def test_a_seg_the_header_shows_we_refuse_is_offered_below_the_core_plugin_with_the_reason(tmp_path):
    from DicomManager.app.loadable_offer import SEG_CONFIDENCE, LoadableOffer, offer_for_seg_file

    offer = LoadableOffer(name="Projection", tooltip="", confidence=SEG_CONFIDENCE)
    dataset = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    for group in dataset.PerFrameFunctionalGroupsSequence:  # a SEG of projection images places no frame in space
        del group.PlanePositionSequence
    path = tmp_path / "projection.dcm"
    dataset.save_as(path)
    judged = offer_for_seg_file(offer, path, str(dataset.file_meta.TransferSyntaxUID))
    assert not judged.selected and judged.confidence < 0.95
    with pytest.raises(SegFileError) as refused:  # the reason the reader gives, in its words
        read_seg(path)
    assert judged.warning == f"DICOMLabelMapSeg would not load it: {refused.value}"
    assert "frame 1 has no PlanePositionSequence" in judged.warning


def test_import_onto_a_reference_series_with_a_gap_uses_the_regular_grid_through_its_images(tmp_path):
    """pydicom's CT2 has slices at -99.48 and 103.02..105.52 mm: a 202.5 mm gap, a whole number of 1.25 mm slices."""
    from DicomManager.core.geometry.source_series import reference_of_folder

    ct2 = shared_data("pydicom/CT2")
    grid = reference_of_folder(ct2).geometry
    positions = np.array([pydicom.dcmread(path).ImagePositionPatient for path in sorted(ct2.iterdir())], dtype=float)
    indices = grid.map_reference_to_indices(positions, round_output=False)
    np.testing.assert_allclose(indices, np.round(indices), atol=1e-3)  # every image is a slice of the grid
    assert {int(round(i)) for i in indices[:, 0]} >= {0, grid.spatial_shape[0] - 1}  # and the grid spans them all

    seg_path = shared_data("highdicom/seg_image_ct_binary.dcm")
    result = read_seg(seg_path, grid)
    theirs = hd.seg.segread(seg_path).get_volume(combine_segments=True)  # highdicom, on the SEG's own grid
    np.testing.assert_array_equal(result.layers[0].array, on_grid(theirs, grid))
    assert result.layers[0].array.any()

    from DicomManager.cli.main import main

    assert main(["import", str(seg_path), "--output", str(tmp_path / "seg.seg.nrrd"), "--reference", str(ct2)]) == 0


def test_a_reference_whose_gaps_fit_no_regular_grid_is_refused_naming_its_positions(tmp_path):
    from DicomManager.core.geometry.source_series import reference_of_folder
    from DicomManager.errors import SourceSeriesError

    folder = tmp_path / "ct"
    folder.mkdir()
    for number, path in enumerate(sorted(shared_data("pydicom/CT2").iterdir())):
        dataset = pydicom.dcmread(path)
        if number == 0:
            dataset.ImagePositionPatient[2] += 0.4  # no spacing divides the gap now
        dataset.save_as(folder / path.name)
    with pytest.raises(SourceSeriesError, match=r"not a regularly spaced stack.*share no common spacing"):
        reference_of_folder(folder)


def test_a_seg_in_a_syntax_no_installed_decoder_reads_is_offered_below_the_core_plugin(tmp_path):
    from DicomManager.app.loadable_offer import SEG_CONFIDENCE, LoadableOffer, offer_for_seg_file
    from DicomManager.errors import CodecUnavailableError

    dataset = pydicom.dcmread(shared_data("dcmqi/sparse-labelmap-ppv5.dcm"))
    dataset.PixelData = encapsulate([dataset.PixelData])
    dataset["PixelData"].is_undefined_length = True
    dataset.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: pydicom decodes no video
    path = tmp_path / "mpeg2.dcm"
    dataset.save_as(path)
    offer = LoadableOffer(name="Video", tooltip="", confidence=SEG_CONFIDENCE)
    judged = offer_for_seg_file(offer, path, str(dataset.file_meta.TransferSyntaxUID))
    assert not judged.selected and "no installed decoder handles MPEG2" in judged.warning
    with pytest.raises(CodecUnavailableError):
        read_seg(path)


def _without(keyword):
    return lambda dataset: delattr(dataset, keyword)


def _without_transfer_syntax(dataset):
    del dataset.file_meta.TransferSyntaxUID


def _first_segment(change):
    return lambda dataset: change(dataset.SegmentSequence[0])


def _identification_without_family(item):
    identification = pydicom.Dataset()
    identification.AlgorithmName, identification.AlgorithmVersion = "thresholds", "1"
    item.SegmentationAlgorithmIdentificationSequence = [identification]


def _set_to(keyword, value):
    return lambda dataset: setattr(dataset, keyword, value)


def _shared_spacing_as(raw: bytes):
    """The shared Pixel Measures' SpacingBetweenSlices written as ``raw``, a value pydicom would not write itself."""
    def change(dataset):
        measures = dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
        tag = pydicom.tag.Tag("SpacingBetweenSlices")
        measures._dict[tag] = pydicom.dataelem.RawDataElement(tag, "DS", len(raw), raw, 0, False, True)
    return change


LENIENT_VARIANTS = {
    # name: (seed, change, what the warning says)
    "no SamplesPerPixel": ("dcmqi/sparse-labelmap-noppv.dcm", _without("SamplesPerPixel"), "SamplesPerPixel is missing"),
    "no PhotometricInterpretation": ("dcmqi/sparse-labelmap-noppv.dcm", _without("PhotometricInterpretation"),
                                     "PhotometricInterpretation is missing"),
    "no BitsStored": ("dcmqi/liver.dcm", _without("BitsStored"), "BitsStored is missing"),
    "no HighBit": ("dcmqi/sparse-labelmap-noppv.dcm", _without("HighBit"), "HighBit is missing"),
    "no PixelRepresentation": ("dcmqi/liver.dcm", _without("PixelRepresentation"), "PixelRepresentation is missing"),
    "an unknown photometric interpretation": ("dcmqi/sparse-labelmap-noppv.dcm",
                                              _set_to("PhotometricInterpretation", "MONOCHROME3"), "MONOCHROME2 is used"),
    "no TransferSyntaxUID in the file meta": ("dcmqi/liver.dcm", _without_transfer_syntax,
                                              "no TransferSyntaxUID (0002,0010); the dataset is read as"),
    "a FrameOfReferenceUID that is not a UID": ("dcmqi/sparse-labelmap-noppv.dcm", _set_to("FrameOfReferenceUID", ""),
                                                "FrameOfReferenceUID (0020,0052) is '', not a UID; it is left out"),
    "no SegmentAlgorithmType": ("dcmqi/liver.dcm", _first_segment(_without("SegmentAlgorithmType")),
                                "SegmentAlgorithmType (0062,0008) is '(missing)'; it is loaded as MANUAL"),
    "an algorithm identification without a family": ("dcmqi/liver.dcm", _first_segment(_identification_without_family),
                                                      "has no algorithm family; it is left out"),
    "a SpacingBetweenSlices that is not a number": ("dcmqi/23x38x3/seg/label.seg", _shared_spacing_as(b"abc "),
                                                    "SpacingBetweenSlices 'abc' is not a number"),
    "a palette that cannot be built": (
        "highdicom/seg_image_sm_control_labelmap_palette_color.dcm",
        _set_to("RedPaletteColorLookupTableDescriptor", [256, 0]), "not 3 whole numbers; the palette is left out"),
}


@pytest.mark.parametrize("variant", LENIENT_VARIANTS)
def test_a_variant_whose_voxels_are_clear_loads_as_the_original_with_a_warning_naming_it(variant, tmp_path, caplog):
    """docs/reading.md's rows read 'yes, with a warning': the same labels as highdicom reads from the file as written."""
    seed, change, warning = LENIENT_VARIANTS[variant]
    dataset = pydicom.dcmread(shared_data(seed))
    change(dataset)
    path = tmp_path / "variant.dcm"
    dataset.save_as(path, enforce_file_format=False)
    with caplog.at_level(logging.WARNING, logger="DicomManager"):
        result = read_seg(path)
    assert any(warning in record.getMessage() and str(path) in record.getMessage() for record in caplog.records), \
        [record.getMessage() for record in caplog.records]
    theirs = hd.seg.segread(shared_data(seed))  # the file as its writer wrote it
    if theirs.is_tiled:
        np.testing.assert_array_equal(result.layers[0].array[0], theirs.get_total_pixel_matrix(combine_segments=True))
    else:
        expected = theirs.get_volume(combine_segments=True)
        np.testing.assert_array_equal(on_grid(result.layers[0], expected.get_geometry()), expected.array)


def _text_in_place_of(keyword):
    return lambda item: item.__setitem__(keyword, pydicom.DataElement(pydicom.tag.Tag(keyword), "LO", "not a sequence"))


ABSENT_VARIANTS = {
    # name: (seed, change, what is read as absent)
    "a negative SpacingBetweenSlices": ("dcmqi/23x38x3/seg/label.seg", _shared_spacing_as(b"-2.5"), None),
    "a recommended colour of two values": (
        "dcmqi/liver.dcm", _first_segment(_set_to("RecommendedDisplayCIELabValue", [41661, 41167])), "color"),
}


@pytest.mark.parametrize("variant", ABSENT_VARIANTS)
def test_a_malformed_value_that_only_describes_is_taken_as_absent(variant, tmp_path):
    """docs/reading.md: a malformed colour, a spacing that is not positive: the labels as highdicom reads them."""
    seed, change, absent = ABSENT_VARIANTS[variant]
    dataset = pydicom.dcmread(shared_data(seed))
    change(dataset)
    path = tmp_path / "variant.dcm"
    dataset.save_as(path, enforce_file_format=False)
    result = read_seg(path)
    if absent:
        assert getattr(result.segments[0], absent) is None
    expected = hd.seg.segread(shared_data(seed)).get_volume(combine_segments=True)
    np.testing.assert_array_equal(on_grid(result.layers[0], expected.get_geometry()), expected.array)


def test_one_bit_frames_in_rle_are_refused_by_name(tmp_path):
    """RLE Lossless cannot encode 1-bit pixels (PS3.5 G.2): dcmqi's BINARY liver SEG with its frames put in RLE fragments."""
    dataset = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    frames = int(dataset.NumberOfFrames)
    length = len(dataset.PixelData) // frames
    dataset.PixelData = encapsulate([dataset.PixelData[i * length:(i + 1) * length] for i in range(frames)])
    dataset["PixelData"].VR, dataset["PixelData"].is_undefined_length = "OB", True
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.RLELossless
    path = tmp_path / "rle.dcm"
    dataset.save_as(path, enforce_file_format=False)
    with pytest.raises(SegFileError, match=r"BitsAllocated \(0028,0100\) is 1, which RLE Lossless cannot encode") as refused:
        read_seg(path)
    assert str(refused.value).startswith(f"{path}: ")


def test_a_segments_code_sequence_written_as_text_is_refused_by_name(tmp_path):
    """A code sequence of a segment item is walked with the item: one written as text is named, not taken as absent."""
    dataset = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    _first_segment(_text_in_place_of("AnatomicRegionSequence"))(dataset)
    path = tmp_path / "variant.dcm"
    dataset.save_as(path, enforce_file_format=False)
    with pytest.raises(SegFileError, match=r"SegmentSequence item 1: AnatomicRegionSequence \(0008,2218\) is LO "
                                           r"'not a sequence', not a sequence of items\.$"):
        read_seg(path)
