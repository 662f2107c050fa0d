"""dicomlabelmapseg convert: a tree of classic SEGs and .seg.nrrd files -> LABELMAP SEG, on a process pool."""

from __future__ import annotations

import multiprocessing
import re
import shutil
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pydicom
from conftest import demo_segments, on_grid, shared_data
from test_classic_seg import segment_masks

from DicomManager import read_seg, read_source_series_folder
from DicomManager.batch.conversion import ConversionStatus, convert_tree, plan_conversion
from DicomManager.cli.main import main
from DicomManager.core.label_files.label_volume_files import read_label_volume
from DicomManager.core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID, SEGMENTATION_SOP_CLASS_UID
from DicomManager.mrml.segmentation_nodes import create_segmentation_node
from DicomManager.mrml.storage import write_segmentation_file


def build_tree(root, scene):
    """Two cases as an archive holds them: source series beside their SEGs, plus a broken and a LABELMAP SEG."""
    shutil.copytree(shared_data("dcmqi/ct-3slice"), root / "caseA" / "ct")
    (root / "caseA" / "seg").mkdir(parents=True)
    shutil.copy(shared_data("dcmqi/liver.dcm"), root / "caseA" / "seg" / "liver.dcm")
    shutil.copy(shared_data("dcmqi/partial_overlaps.dcm"), root / "caseA" / "seg" / "overlaps.dcm")
    shutil.copytree(shared_data("dcmqi/23x38x3/image"), root / "caseB" / "image")
    shutil.copy(shared_data("dcmqi/23x38x3/seg/label.seg"), root / "caseB" / "label.seg")
    labels = read_label_volume(shared_data("dcmqi/23x38x3/nrrd/label.nrrd"))
    node = create_segmentation_node(scene, labels, demo_segments([1]), "label")
    write_segmentation_file(node, root / "caseB" / "nested" / "label.seg.nrrd")
    shutil.copy(shared_data("dcmqi/sparse-labelmap-noppv.dcm"), root / "labelmap.dcm")
    data = shared_data("dcmqi/liver.dcm").read_bytes()
    (root / "caseA" / "seg" / "broken.dcm").write_bytes(data[: len(data) // 2])
    (root / "notes.txt").write_text("not DICOM")


def test_tree_converts_on_a_process_pool_keeping_its_layout(tmp_path, scene, capsys):
    source, target = tmp_path / "archive", tmp_path / "converted"
    build_tree(source, scene)
    assert main(["convert", str(source), str(target), "--workers", "2"]) == 1  # broken.dcm fails
    captured = capsys.readouterr()
    assert "4 converted, 1 skipped, 1 failed" in captured.out
    assert "failed: caseA/seg/broken.dcm" in captured.err
    assert re.search(r"planning \d+\.\d s, \d+\.\d\d s per item in its worker with 2 workers", captured.out)

    liver = target / "caseA" / "seg" / "liver.dcm"
    assert pydicom.dcmread(liver, stop_before_pixels=True).SOPClassUID == LABELMAP_SEG_SOP_CLASS_UID
    grid = read_source_series_folder(source / "caseA" / "ct").geometry
    original = read_seg(shared_data("dcmqi/liver.dcm"), grid)
    converted = read_seg(liver, grid)
    np.testing.assert_array_equal(segment_masks(converted)[1], segment_masks(original)[1])
    assert converted.segments == original.segments
    new, old = (pydicom.dcmread(p, stop_before_pixels=True) for p in (liver, shared_data("dcmqi/liver.dcm")))
    for keyword in ("SeriesDescription", "ContentLabel", "ContentDescription", "ClinicalTrialSeriesID"):
        assert str(new.get(keyword, "")) == str(old.get(keyword, "")), keyword

    # Overlapping segments follow the default policy: a classic BINARY SEG that keeps every one.
    overlaps = target / "caseA" / "seg" / "overlaps.dcm"
    assert pydicom.dcmread(overlaps, stop_before_pixels=True).SOPClassUID == SEGMENTATION_SOP_CLASS_UID
    before, after = segment_masks(read_seg(shared_data("dcmqi/partial_overlaps.dcm"), grid)), segment_masks(
        read_seg(overlaps, grid))
    assert all(np.array_equal(before[n], after[n]) for n in before)

    label = target / "caseB" / "label.seg"
    grid_b = read_source_series_folder(source / "caseB" / "image").geometry
    expected = on_grid(read_label_volume(shared_data("dcmqi/23x38x3/nrrd/label.nrrd")), grid_b)
    np.testing.assert_array_equal(read_seg(label, grid_b).layers[0].array, expected)
    nested = target / "caseB" / "nested" / "label.dcm"
    assert read_seg(nested, grid_b).info.series_description == "label"
    np.testing.assert_array_equal(read_seg(nested, grid_b).layers[0].array, expected)
    assert not (target / "labelmap.dcm").exists() and not (target / "caseA" / "ct").exists()

    # A second run skips what exists and retries only the failure.
    assert main(["convert", str(source), str(target), "--workers", "1"]) == 1
    assert "0 converted, 5 skipped, 1 failed" in capsys.readouterr().out


def test_the_summary_tells_planning_start_up_and_items_apart(tmp_path, scene):
    source, target = tmp_path / "archive", tmp_path / "converted"
    build_tree(source, scene)
    summary = convert_tree(source, target, workers=2)
    attempted = summary.count(ConversionStatus.CONVERTED) + summary.count(ConversionStatus.FAILED)
    assert len(summary.item_seconds) == attempted == 5 and all(seconds > 0 for seconds in summary.item_seconds)
    assert 0 < summary.planning_seconds < summary.seconds and summary.workers == 2
    assert 0 < summary.worker_start_seconds < summary.seconds  # the initializer's imports, once per worker
    # Planning on a pool's workers finds what planning in this process finds.
    here = plan_conversion(source, tmp_path / "again")
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert plan_conversion(source, tmp_path / "again", pool) == here
    assert len(here[0]) == 5 and len(here[1]) == 1  # five tasks; the LABELMAP already converted is skipped


def test_overlap_policy_layers_in_a_tree(tmp_path, scene):
    source, target = tmp_path / "archive", tmp_path / "converted"
    (source / "seg").mkdir(parents=True)
    shutil.copytree(shared_data("dcmqi/ct-3slice"), source / "ct")
    shutil.copy(shared_data("dcmqi/partial_overlaps.dcm"), source / "seg" / "po.dcm")
    assert main(["convert", str(source), str(target), "--overlap", "layers", "--workers", "1"]) == 0
    layers = sorted((target / "seg").glob("po_layer*.dcm"))
    assert len(layers) >= 2
    assert {pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID for p in layers} == {LABELMAP_SEG_SOP_CLASS_UID}


def test_the_same_conversion_runs_on_a_dask_cluster(tmp_path, scene, capsys):
    """A local Dask cluster of two worker processes, reached by address as a site's cluster would be."""
    from distributed import LocalCluster

    source = tmp_path / "archive"
    build_tree(source, scene)
    assert main(["convert", str(source), str(tmp_path / "on-pool"), "--workers", "2"]) == 1
    capsys.readouterr()

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        exit_code = main(["convert", str(source), str(tmp_path / "on-dask"), "--dask-scheduler", cluster.scheduler_address])

    assert exit_code == 1  # broken.dcm fails there too
    captured = capsys.readouterr()
    assert "4 converted, 1 skipped, 1 failed" in captured.out
    assert "failed: caseA/seg/broken.dcm" in captured.err
    on_pool = sorted(p.relative_to(tmp_path / "on-pool") for p in (tmp_path / "on-pool").rglob("*") if p.is_file())
    on_dask = sorted(p.relative_to(tmp_path / "on-dask") for p in (tmp_path / "on-dask").rglob("*") if p.is_file())
    assert on_dask == on_pool and len(on_dask) == 4
    grids = {"caseA": source / "caseA" / "ct", "caseB": source / "caseB" / "image"}
    grids = {case: read_source_series_folder(folder).geometry for case, folder in grids.items()}
    for relative in on_dask:
        grid = grids[relative.parts[0]]
        pool_result = read_seg(tmp_path / "on-pool" / relative, grid)
        dask_result = read_seg(tmp_path / "on-dask" / relative, grid)
        assert dask_result.segments == pool_result.segments
        for dask_layer, pool_layer in zip(dask_result.layers, pool_result.layers, strict=True):
            np.testing.assert_array_equal(dask_layer.array, pool_layer.array)


def test_an_absent_dask_scheduler_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "archive").mkdir()
    assert main(["convert", str(tmp_path / "archive"), str(tmp_path / "out"), "--dask-scheduler", "tcp://127.0.0.1:9"]) == 1
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in capsys.readouterr().err


def test_tree_converts_to_cropped_frames_on_request(tmp_path):
    source, target = tmp_path / "archive", tmp_path / "converted"
    (source / "seg").mkdir(parents=True)
    shutil.copytree(shared_data("dcmqi/ct-3slice"), source / "ct")
    shutil.copy(shared_data("dcmqi/liver.dcm"), source / "seg" / "liver.dcm")
    assert main(["convert", str(source), str(target), "--crop-to-segments", "--workers", "1"]) == 0

    converted = target / "seg" / "liver.dcm"
    header = pydicom.dcmread(converted, stop_before_pixels=True)
    grid = read_source_series_folder(source / "ct").geometry
    assert header.Rows * header.Columns < grid.spatial_shape[1] * grid.spatial_shape[2]
    original = segment_masks(read_seg(shared_data("dcmqi/liver.dcm"), grid))[1]
    np.testing.assert_array_equal(segment_masks(read_seg(converted, grid))[1], original)


def test_one_item_converts_in_this_process_without_starting_workers(tmp_path):
    source, target = tmp_path / "archive", tmp_path / "converted"
    shutil.copytree(shared_data("dcmqi/ct-3slice"), source / "ct")
    shutil.copy(shared_data("dcmqi/liver.dcm"), source / "liver.dcm")
    summary = convert_tree(source, target, workers=2)
    assert summary.count(ConversionStatus.CONVERTED) == 1 and summary.workers == 1
    assert summary.worker_start_seconds is None  # no worker's initializer ran
    grid = read_source_series_folder(source / "ct").geometry
    np.testing.assert_array_equal(segment_masks(read_seg(target / "liver.dcm", grid))[1],
                                  segment_masks(read_seg(shared_data("dcmqi/liver.dcm"), grid))[1])


def test_one_worker_plans_and_converts_a_tree_in_this_process(tmp_path, scene):
    source, target = tmp_path / "archive", tmp_path / "converted"
    build_tree(source, scene)
    summary = convert_tree(source, target, workers=1)
    assert summary.workers == 1 and summary.worker_start_seconds is None
    assert (summary.count(ConversionStatus.CONVERTED), summary.count(ConversionStatus.FAILED)) == (4, 1)
    failed = [outcome for outcome in summary.outcomes if outcome.status == ConversionStatus.FAILED]
    assert failed[0].input == "caseA/seg/broken.dcm" and "broken.dcm" in failed[0].reason
    grid = read_source_series_folder(source / "caseA" / "ct").geometry
    np.testing.assert_array_equal(segment_masks(read_seg(target / "caseA" / "seg" / "liver.dcm", grid))[1],
                                  segment_masks(read_seg(shared_data("dcmqi/liver.dcm"), grid))[1])
