"""An export resolved once at its top: what the plan holds, what it refuses, and that the files follow it."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, demo_segments, make_grid, write_series

from DicomManager import Compression, ExportOptions, LayeredSegmentation, OverlapPolicy, read_source_series, write_segmentation
from DicomManager.core.codecs.compression_strategies import DeflatedDataset
from DicomManager.core.segments.sop_classes import SegmentationType
from DicomManager.core.writing.export_options import ExportPlan, SeriesAttributes
from DicomManager.core.writing.export_plan import PlannedSeg, plan_series
from DicomManager.errors import OutputExistsError


@pytest.fixture
def source(tmp_path):
    return read_source_series(write_series(make_grid((6, 24, 20)), tmp_path / "ct"))


def overlapping(source) -> tuple[LayeredSegmentation, np.ndarray, np.ndarray]:
    labels = blob_labels(source.geometry.spatial_shape, [2, 5])
    other = np.where(labels == 2, 7, 0).astype(labels.dtype)  # segment 7 lies on segment 2
    # the same voxels, given with columns reversed
    layers = [source.geometry.with_array(array).flip_spatial((2,)) for array in (labels, other)]
    return LayeredSegmentation(layers, demo_segments([2, 5, 7]), {2: 0, 5: 0, 7: 1}), labels, other


def test_one_plan_holds_every_instance_resolved(source, tmp_path):
    segmentation, labels, other = overlapping(source)
    options = ExportOptions(compression="deflate", overlap=OverlapPolicy.LAYERS, file_name="seg.dcm",
                            series=SeriesAttributes(series_description="Planned"))

    plan = plan_series(segmentation, source, tmp_path / "out", options)

    assert [instance.output_path.name for instance in plan.instances] == ["seg_layer1.dcm", "seg_layer2.dcm"]
    assert [instance.series.instance_number for instance in plan.instances] == [1, 2]
    uids = {instance.series.sop_instance_uid for instance in plan.instances}
    assert len(uids) == 2 and None not in uids
    assert {instance.series.series_instance_uid for instance in plan.instances} == {plan.series_instance_uid}
    assert all(instance.series.series_number == 300 and instance.series.series_description == "Planned"
               for instance in plan.instances)  # the default and the one given
    assert all(isinstance(instance.strategy, DeflatedDataset) for instance in plan.instances)
    np.testing.assert_array_equal(plan.instances[0].layers[0], labels)  # on the source grid, columns back in order
    np.testing.assert_array_equal(plan.instances[1].layers[0], other)


def test_a_binary_seg_gets_its_own_compression_in_the_plan(source, tmp_path):
    segmentation, _, _ = overlapping(source)
    plan = plan_series(segmentation, source, None, ExportOptions(compression="rle", overlap="binary"))
    (instance,) = plan.instances
    assert instance.segmentation_type is SegmentationType.BINARY and instance.output_path is None
    assert instance.strategy.compression is Compression.DEFLATE  # highdicom packs BINARY frames; RLE is not for them


def test_every_file_is_refused_before_anything_is_written(source, tmp_path):
    segmentation, _, _ = overlapping(source)
    out = tmp_path / "out"
    out.mkdir()
    (out / "seg_layer2.dcm").write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="seg_layer2.dcm"):
        write_segmentation(segmentation, source, out, ExportOptions(overlap="layers", file_name="seg.dcm"))
    assert sorted(path.name for path in out.iterdir()) == ["seg_layer2.dcm"]
    assert (out / "seg_layer2.dcm").read_bytes() == b"precious"


def test_the_files_carry_what_was_planned(source, tmp_path):
    segmentation, _, _ = overlapping(source)
    options = ExportOptions(overlap="layers", file_name="seg.dcm").with_series(sop_instance_uid="1.2.3.4")
    plan = plan_series(segmentation, source, tmp_path / "planned", options)
    written = write_segmentation(segmentation, source, tmp_path / "out", options.with_series(
        series_instance_uid=plan.series_instance_uid))
    datasets = [pydicom.dcmread(path) for path in written.paths]
    assert [dataset.InstanceNumber for dataset in datasets] == [1, 2]
    assert {dataset.SeriesInstanceUID for dataset in datasets} == {plan.series_instance_uid}
    assert "1.2.3.4" not in {dataset.SOPInstanceUID for dataset in datasets}  # each layer is an instance of its own


def test_an_unresolved_plan_cannot_be_made(source):
    strategy = DeflatedDataset(Compression.DEFLATE)
    labels = np.zeros(source.geometry.spatial_shape, np.uint8)
    with pytest.raises(ValueError, match="sop_instance_uid"):
        PlannedSeg(SegmentationType.LABELMAP, (labels,), tuple(demo_segments([1])), {1: 0},
                   SeriesAttributes(series_description="S", series_number=1, instance_number=1, content_label="L",
                                    series_instance_uid=hd.UID()), strategy, None)
    with pytest.raises(ValueError, match="series resolved"):
        ExportPlan(ExportOptions(), source.paths[0])
