"""SEG files written by dcmqi and highdicom: we read what they wrote, and write what dcmqi would."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pytest
from conftest import dciodvfy_errors, on_grid, read_with_dcmqi, shared_data

from DicomManager import ExportOptions, read_seg, read_source_series_folder, write_labelmap_seg
from DicomManager.core.label_files.label_volume_files import read_label_volume
from DicomManager.core.segments.dcmqi_metadata import read_dcmqi_metadata

LABELMAP_FILES = [
    "dcmqi/sparse-labelmap-ppv5.dcm",
    "dcmqi/sparse-labelmap-noppv.dcm",
    "highdicom/seg_image_sm_control_labelmap.dcm",
    "highdicom/seg_image_sm_control_labelmap_palette_color.dcm",
]


@pytest.mark.parametrize(
    ("seg_file", "expected_file"),
    [
        ("dcmqi/sparse-labelmap-ppv5.dcm", "dcmqi/sparse_labelmap_ppv5_seg.nrrd"),
        ("dcmqi/sparse-labelmap-noppv.dcm", "dcmqi/sparse_labelmap_noppv_seg.nrrd"),
    ],
)
def test_sparse_labelmaps_match_dcmqi_expected_output(scene, seg_file, expected_file):
    """Omitted frames take PixelPaddingValue (5) or 0, exactly as dcmqi's reader writes them."""
    expected = read_label_volume(shared_data(expected_file))
    source = read_source_series_folder(shared_data("dcmqi/24x38x3/image"))
    on_reference = read_seg(shared_data(seg_file), source.geometry)
    np.testing.assert_array_equal(on_reference.labels.array, on_grid(expected, source.geometry))
    own_grid = read_seg(shared_data(seg_file))
    np.testing.assert_array_equal(on_grid(own_grid.labels, source.geometry), on_reference.labels.array)
    assert [s.label for s in on_reference.segments] == ["Liver"]
    assert on_reference.background is not None and on_reference.background.label == "Background"
    liver = on_reference.segments[0]
    assert (liver.type.value, liver.algorithm_type, liver.algorithm_name) == ("10200004", "SEMIAUTOMATIC", "SlicerEditor")
    assert (liver.tracking_id, liver.tracking_uid) == ("Liver", "1.2.3")


@pytest.mark.parametrize("seg_file", LABELMAP_FILES)
def test_every_labelmap_file_reads_like_highdicom(seg_file):
    path = shared_data(seg_file)
    ours = read_seg(path)
    theirs = hd.seg.segread(path).get_volume(combine_segments=True)
    if ours.info.pixel_padding_value:
        # highdicom fills omitted frames with 0 where dcmqi (and we) use the padding value.
        padded = ours.labels.array == ours.info.pixel_padding_value
        assert not theirs.array[padded].any()
        np.testing.assert_array_equal(ours.labels.array[~padded], theirs.array[~padded])
    else:
        np.testing.assert_array_equal(ours.labels.array, theirs.array)
    np.testing.assert_allclose(ours.labels.affine, theirs.affine, atol=1e-6)
    assert [s.number for s in ours.segments] == [n for n in hd.seg.segread(path).segment_numbers if n]


def test_palette_color_labelmap_keeps_segment_indices_and_colours():
    plain = read_seg(shared_data("highdicom/seg_image_sm_control_labelmap.dcm"))
    palette = read_seg(shared_data("highdicom/seg_image_sm_control_labelmap_palette_color.dcm"))
    assert palette.info.photometric_interpretation == "PALETTE COLOR"
    np.testing.assert_array_equal(palette.labels.array, plain.labels.array)
    assert len(palette.segments) == 20


@pytest.mark.parametrize(
    ("label_file", "metadata_file"),
    [
        ("dcmqi/liver_seg.nrrd", "seg-example.json"),
        ("dcmqi/liver_spine_seg.nrrd", "seg-example_liver_spine.json"),
        ("dcmqi/liver_spine_gapped_seg.nrrd", "seg-example_liver_spine_gapped.json"),
        ("dcmqi/heart_seg.nrrd", "seg-example_multiple_segments.json"),
        ("dcmqi/spine_seg.nrrd", "seg-example_liver_spine.json"),
    ],
)
def test_dcmqi_inputs_export_to_the_labels_dcmqi_reads(scene, tmp_path, label_file, metadata_file):
    """Re-export dcmqi's own test inputs over ct-3slice; dcmqi reads our SEG back to the same labels."""
    source = read_source_series_folder(shared_data("dcmqi/ct-3slice"))
    labels = read_label_volume(shared_data(label_file))
    metadata = read_dcmqi_metadata(shared_data(f"dcmqi/metadata/{metadata_file}"))
    present = set(np.unique(labels.array).tolist()) - {0}
    segments = [s for s in metadata.segments if s.number in present] or metadata.segments
    path = tmp_path / "seg.dcm"
    write_labelmap_seg(labels, segments, source, path.parent, ExportOptions(file_name=path.name, series=metadata.series))
    assert dciodvfy_errors(path) == []
    expected = on_grid(labels, source.geometry)
    np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, expected)
    np.testing.assert_array_equal(on_grid(read_with_dcmqi(path, tmp_path, scene), source.geometry), expected)


@pytest.mark.parametrize(
    ("label_file", "dcmqi_seg", "source_folder"),
    [
        ("dcmqi/liver_seg.nrrd", "dcmqi/liver.dcm", "dcmqi/ct-3slice"),
        ("dcmqi/24x38x3/nrrd/label.nrrd", "dcmqi/24x38x3/seg/label.seg", "dcmqi/24x38x3/image"),
        ("dcmqi/23x38x3/nrrd/label.nrrd", "dcmqi/23x38x3/seg/label.seg", "dcmqi/23x38x3/image"),
    ],
)
def test_labels_match_dcmqis_own_seg_of_the_same_input(scene, tmp_path, label_file, dcmqi_seg, source_folder):
    """dcmqi's BINARY SEG and our LABELMAP of the same input hold the same voxels (23 columns: odd bit packing)."""
    source = read_source_series_folder(shared_data(source_folder))
    labels = read_label_volume(shared_data(label_file))
    metadata = read_dcmqi_metadata(shared_data("dcmqi/metadata/seg-example.json"))
    path = tmp_path / "ours.dcm"
    write_labelmap_seg(labels, metadata.segments, source, path.parent, ExportOptions(file_name=path.name))
    theirs = on_grid(hd.seg.segread(shared_data(dcmqi_seg)).get_volume(combine_segments=True), source.geometry)
    assert theirs.any()
    np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, theirs)


def test_export_over_a_multiframe_source(scene, tmp_path):
    source = read_source_series_folder(shared_data("dcmqi/24x38x3/multiframe"))
    labels = read_label_volume(shared_data("dcmqi/24x38x3/nrrd/label.nrrd"))
    path = tmp_path / "seg.dcm"
    write_labelmap_seg(labels, read_dcmqi_metadata(shared_data("dcmqi/metadata/seg-example.json")).segments, source, path.parent,
        ExportOptions(file_name=path.name))
    assert dciodvfy_errors(path) == []
    np.testing.assert_array_equal(
        read_seg(path, source.geometry).labels.array, on_grid(labels, source.geometry)
    )
