"""SEG variants real writers produce that the standard allows, or that readers such as dcmqi accept anyway.

Files are written here by highdicom and pydicom (never by this project), or
come from public repositories (``../shared/testdata/public``, with their
provenance). Expected labels come from the arrays the files were written
from, or from the file's uncompressed twin.
"""

from __future__ import annotations

import copy
import logging

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import dciodvfy_errors, make_grid, on_grid, read_segments_with_dcmqi, shared_data, write_series
from pydicom.sequence import Sequence

from DicomManager.core.seg_reader import read_seg
from DicomManager.core.segment_metadata import TISSUE
from DicomManager.core.source_series import read_source_series
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
        series_instance_uid=hd.UID(),
        series_number=5,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="highdicom",
        manufacturer_model_name="test",
        software_versions="0",
        device_serial_number="1",
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
