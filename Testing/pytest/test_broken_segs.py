"""The corpus of broken SEGs made from real ones, and a bounded fuzz run: only our own errors, never a crash."""

from __future__ import annotations

import gc
import logging
import os
import sys

import pydicom
import pytest
from conftest import PROJECT_ROOT, shared_data

sys.path.insert(0, str(PROJECT_ROOT / "Testing" / "fuzz"))
from fuzz_reader import fuzz  # noqa: E402
from mutations import (  # noqa: E402
    BINARY_CASES,
    FRACTIONAL_CASES,
    LABELMAP_CASES,
    MUTATION_CLASSES,
    seed_files,
    truncated,
    write_case,
)

from DicomManager import read_seg  # noqa: E402
from DicomManager.errors import DicomLabelMapSegError  # noqa: E402

FUZZ_COUNT = int(os.environ.get("DICOMLABELMAPSEG_FUZZ_COUNT", "300"))
"""Inputs of the bounded fuzz run: CI runs 5,000 on its first dependency set (see .ci/run), 300 elsewhere."""


CORPUS = [
    ("dcmqi/sparse-labelmap-ppv5.dcm", LABELMAP_CASES),
    ("dcmqi/partial_overlaps.dcm", BINARY_CASES),
    ("highdicom/seg_image_ct_binary_fractional.dcm", FRACTIONAL_CASES),
]


@pytest.mark.parametrize(("seed", "case"), [(seed, case) for seed, cases in CORPUS for case in sorted(cases)])
def test_broken_seg_is_refused_naming_file_and_reason(seed, case, tmp_path):
    mutation, reason = dict(CORPUS)[seed][case]
    path = write_case(shared_data(seed), mutation, tmp_path / "broken.dcm")
    with pytest.raises(DicomLabelMapSegError, match=reason) as raised:
        read_seg(path)
    assert str(raised.value).startswith(f"{path}: ")


def test_reading_pauses_garbage_collection_and_always_restores_it(tmp_path):
    # The reader pauses the cyclic collector (see garbage_collection_paused): it must come back on after a
    # refused file as after a read one, and reading must leave no reference cycles for it to find later.
    path = truncated(shared_data("dcmqi/partial_overlaps.dcm"), tmp_path / "cut.dcm", 0.5)
    with pytest.raises(DicomLabelMapSegError):
        read_seg(path)
    assert gc.isenabled()
    gc.collect()
    for name in ("dcmqi/partial_overlaps.dcm", "dcmqi/sparse-labelmap-ppv5.dcm"):
        result = read_seg(shared_data(name))
        del result
        assert gc.isenabled() and gc.collect() == 0, name
    gc.disable()
    try:
        read_seg(shared_data("dcmqi/liver.dcm"))
        assert not gc.isenabled()  # a caller's choice to keep it off is kept
    finally:
        gc.enable()


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.97, 0.9999])
@pytest.mark.parametrize("name", ["dcmqi/sparse-labelmap-ppv5.dcm", "dcmqi/liver.dcm"])
def test_truncated_seg_is_refused(name, keep, tmp_path):
    path = truncated(shared_data(name), tmp_path / "cut.dcm", keep)
    with pytest.raises(DicomLabelMapSegError):
        read_seg(path)


def test_referenced_series_absent_still_loads_on_its_own_grid(tmp_path):
    path = write_case(shared_data("dcmqi/sparse-labelmap-ppv5.dcm"),
                      lambda ds: delattr(ds, "ReferencedSeriesSequence"), tmp_path / "unreferenced.dcm")
    result = read_seg(path)
    assert result.info.referenced_series_uid is None
    assert result.layers[0].array.any()


@pytest.mark.parametrize("uid", ["\x00\x01\x1b[31m", "1.2 3"])
def test_a_frame_of_reference_no_series_can_match_is_left_out_and_the_seg_loads_onto_its_series(uid, tmp_path, caplog):
    # Found by the fuzzer, reading onto the source series: the refusal quoted the UID's control characters raw.
    from DicomManager.core.geometry.source_series import reference_of_folder

    path = write_case(shared_data("dcmqi/liver.dcm"), lambda ds: setattr(ds, "FrameOfReferenceUID", uid),
                      tmp_path / "frame-of-reference.dcm")
    reference = reference_of_folder(shared_data("dcmqi/ct-3slice"))
    with caplog.at_level(logging.WARNING):
        result = read_seg(path, reference.geometry, image_positions=reference.image_positions)
    assert f"FrameOfReferenceUID (0020,0052) is {uid!r}, not a UID; it is left out" in caplog.text
    assert result.layers[0].array.any()


def test_a_seg_in_another_frame_of_reference_is_refused_in_one_line_naming_both(tmp_path):
    from DicomManager.core.geometry.source_series import reference_of_folder

    path = write_case(shared_data("dcmqi/liver.dcm"), lambda ds: setattr(ds, "FrameOfReferenceUID", "1.2.3"),
                      tmp_path / "elsewhere.dcm")
    reference = reference_of_folder(shared_data("dcmqi/ct-3slice"))
    with pytest.raises(DicomLabelMapSegError) as raised:
        read_seg(path, reference.geometry, image_positions=reference.image_positions)
    assert str(raised.value) == (f"{path}: the SEG is in frame of reference 1.2.3, the reference series in "
                                 f"{reference.geometry.frame_of_reference_uid}.")


def test_bounded_fuzz_run_finds_only_our_own_errors(capsys):
    outcomes, failures = fuzz(FUZZ_COUNT, seed=20261122, timeout=20.0, crashes=None, workers=os.cpu_count() or 1)
    totals = {key: count for key, count in outcomes.items() if ":" not in key}
    with capsys.disabled():
        print(f"\nfuzz: {sum(totals.values())} inputs: {totals}")
    assert failures == []
    assert sum(totals.values()) == FUZZ_COUNT
    kinds = {key.split(":")[0] for key in outcomes if ":" in key and not key.endswith("mutation not made")}
    assert kinds == set(MUTATION_CLASSES)  # every class made inputs that were read


def test_every_seed_loads_unmutated_and_every_syntax_and_type_has_one(tmp_path):
    path = tmp_path / "seed.dcm"
    syntaxes, kinds = set(), set()
    for name, data in seed_files().items():
        assert data is not None, name
        path.write_bytes(data)
        read_seg(path)
        header = pydicom.dcmread(path, stop_before_pixels=True)
        syntaxes.add(str(header.file_meta.TransferSyntaxUID))
        kinds.add((header.SegmentationType, header.BitsAllocated, header.PhotometricInterpretation,
                   "TotalPixelMatrixRows" in header))
    assert syntaxes == {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.5",
                        "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.8.1"}
    assert {kind[0] for kind in kinds} == {"LABELMAP", "BINARY", "FRACTIONAL"}
    assert ("LABELMAP", 16, "MONOCHROME2", False) in kinds and ("LABELMAP", 8, "PALETTE COLOR", True) in kinds
    assert ("BINARY", 1, "MONOCHROME2", True) in kinds  # a tiled slide SEG of the classic SOP class


def test_palette_seeds_hold_plain_and_segmented_tables_of_8_and_16_bits(tmp_path):
    tables = set()
    for data in seed_files().values():
        path = tmp_path / "seed.dcm"
        path.write_bytes(data)
        header = pydicom.dcmread(path, stop_before_pixels=True)
        if header.PhotometricInterpretation == "PALETTE COLOR":
            segmented = "SegmentedRedPaletteColorLookupTableData" in header
            tables.add((segmented, header.RedPaletteColorLookupTableDescriptor[2]))
            assert all(segment.color is not None for segment in read_seg(path).segments)  # the palette colours them
    assert tables == {(False, 8), (True, 8), (True, 16)}


def test_seeds_that_name_their_source_images_are_read_onto_those_series_by_the_fuzzer(tmp_path):
    from mutations import reference_series

    from DicomManager.core.geometry.source_series import reference_of_folder

    files = seed_files()
    named = {name: reference_series(name) for name in files if reference_series(name) is not None}
    assert {folder.name for folder in named.values()} == {"ct-3slice", "CT2"}
    for name, folder in named.items():
        reference = reference_of_folder(folder)
        path = tmp_path / "seed.dcm"
        path.write_bytes(files[name])
        header = pydicom.dcmread(path, stop_before_pixels=True)
        sources = {str(source.ReferencedSOPInstanceUID)
                   for frame in header.PerFrameFunctionalGroupsSequence
                   for source in frame.DerivationImageSequence[0].SourceImageSequence}
        assert sources <= set(reference.image_positions), name  # every source image it names is in that series
        read_seg(path, reference.geometry, image_positions=reference.image_positions)
