"""The package's public face and the one export options value every layer passes whole."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import PROJECT_ROOT, blob_labels, dciodvfy_errors, demo_segments, make_grid, on_grid, shared_data, write_series

import DicomManager
from DicomManager import (
    Compression,
    DicomLabelMapSegError,
    ExportOptions,
    LayeredSegmentation,
    OverlapPolicy,
    SegContents,
    SeriesAttributes,
    read_seg,
    read_source_series,
    write_segmentation,
)
from DicomManager.errors import CodecUnavailableError, InvalidSegmentationError


def test_importing_the_package_imports_no_dependency():
    """Slicer imports DicomManager at startup, also where highdicom is not installed yet."""
    program = "import sys, DicomManager; print([m for m in ('highdicom', 'pydicom', 'numpy', 'slicer') if m in sys.modules])"
    completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=PROJECT_ROOT)
    assert completed.stdout.strip() == "[]"


def test_every_public_name_is_importable_and_nothing_else_is_invented():
    for name in DicomManager.__all__:
        assert getattr(DicomManager, name) is not None, name
    assert DicomManager.DicomManager.__module__ == "DicomManager.mrml.manager"
    with pytest.raises(AttributeError, match="no attribute 'write_labelmap'"):
        _ = DicomManager.write_labelmap


def test_one_read_result_for_every_segmentation_type():
    labelmap = read_seg(shared_data("dcmqi/sparse-labelmap-ppv5.dcm"))
    binary = read_seg(shared_data("dcmqi/liver.dcm"))
    assert type(labelmap) is type(binary) is SegContents
    assert (labelmap.info.segmentation_type, binary.info.segmentation_type) == ("LABELMAP", "BINARY")
    assert labelmap.labels is labelmap.layers[0]


def test_labels_of_overlapping_segments_is_refused_by_name():
    volume = read_seg(shared_data("dcmqi/sparse-labelmap-ppv5.dcm")).labels
    two_layers = LayeredSegmentation([volume, volume], demo_segments([1, 2]), {1: 0, 2: 1})
    with pytest.raises(InvalidSegmentationError, match="overlap \\(2 layers\\)"):
        _ = two_layers.labels


def test_options_take_names_and_refuse_unknown_ones():
    options = ExportOptions(compression="jpegls", overlap="layers")
    assert (options.compression, options.overlap) == (Compression.JPEGLS, OverlapPolicy.LAYERS)
    with pytest.raises(CodecUnavailableError, match="Unknown compression 'zip'"):
        ExportOptions(compression="zip")
    with pytest.raises(InvalidSegmentationError, match="Unknown overlap policy 'merge'"):
        ExportOptions(overlap="merge")
    assert issubclass(CodecUnavailableError, DicomLabelMapSegError)


def test_series_attributes_set_win_and_unset_ones_come_from_below():
    kept = SeriesAttributes(series_description="From the node", content_creator_name="Doe^Jane", series_number=7)
    asked = SeriesAttributes(series_description="Asked for", series_number=None)
    merged = asked.over(kept)
    assert (merged.series_description, merged.content_creator_name, merged.series_number) == ("Asked for", "Doe^Jane", 7)
    options = ExportOptions().with_series(series_description="Liver & spleen", series_instance_uid="1.2.3")
    assert options.plan(Path("out")).output_path == Path("out/Liver_spleen_1.2.3.dcm")
    assert ExportOptions(file_name="a.dcm").plan(Path("out")).output_path == Path("out/a.dcm")


def test_options_reach_the_file_whole(tmp_path):
    grid = make_grid((6, 40, 36))
    source = read_source_series(write_series(grid, tmp_path / "ct"))
    labels = blob_labels(grid.spatial_shape, [2, 5])
    overlapping = labels.copy()
    overlapping[overlapping == 5] = 0
    overlapping[labels == 2] = 7  # segment 7 lies on segment 2
    layers = [hd.Volume(array, source.geometry.affine, "PATIENT", source.geometry.frame_of_reference_uid)
              for array in (labels, overlapping)]
    segmentation = LayeredSegmentation(layers, demo_segments([2, 5, 7]), {2: 0, 5: 0, 7: 1})
    options = ExportOptions(
        compression=Compression.NONE,
        overlap=OverlapPolicy.LAYERS,
        crop_to_segments=True,
        series=SeriesAttributes(series_description="Options", series_number=42, content_creator_name="Doe^Jane"),
        file_name="options.dcm",
    )
    written = write_segmentation(segmentation, source, tmp_path / "out", options)

    assert [path.name for path in written.paths] == ["options_layer1.dcm", "options_layer2.dcm"]
    for number, path in enumerate(written.paths, start=1):
        dataset = pydicom.dcmread(path)
        assert dataset.file_meta.TransferSyntaxUID == Compression.NONE.transfer_syntax_uid
        assert (dataset.SeriesDescription, dataset.SeriesNumber, dataset.InstanceNumber) == ("Options", 42, number)
        assert (dataset.ContentCreatorName, dataset.ContentLabel) == ("Doe^Jane", "SEGMENTATION")  # set, and the default
        assert dataset.SeriesInstanceUID == written.series_instance_uid
        assert (dataset.Rows, dataset.Columns) != tuple(grid.spatial_shape[1:])  # cropped
        assert dciodvfy_errors(path) == []
    with pytest.raises(DicomManager.errors.OutputExistsError):
        write_segmentation(segmentation, source, tmp_path / "out", options)
    write_segmentation(segmentation, source, tmp_path / "out", replace(options, overwrite=True))
    expected = [labels, np.where(overlapping == 7, 7, 0)]
    for path, layer in zip(written.paths, expected, strict=True):
        np.testing.assert_array_equal(read_seg(path, source.geometry).labels.array, layer)
        theirs = hd.seg.segread(path).get_volume(combine_segments=True, skip_overlap_checks=True)
        np.testing.assert_array_equal(on_grid(theirs, source.geometry), layer)
