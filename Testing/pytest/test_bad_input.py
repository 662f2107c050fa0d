"""Bad input gets the project's own error naming the problem, and leaves no output behind."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import PROJECT_ROOT, blob_labels, demo_segments, make_grid, shared_data, write_series

from DicomManager import (
    ExportOptions,
    SegmentMetadata,
    read_seg,
    read_source_series,
    read_source_series_folder,
    write_labelmap_seg,
)
from DicomManager.core.segments.dcmqi_metadata import read_dcmqi_metadata
from DicomManager.core.segments.terminology import codes_from_terminology_entry
from DicomManager.errors import (
    DicomLabelMapSegError,
    GeometryMismatchError,
    InvalidSegmentationError,
    MetadataFileError,
    OutputExistsError,
    SegFileError,
    SourceSeriesError,
    TerminologyError,
)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    return read_source_series(write_series(make_grid((6, 20, 18)), tmp_path_factory.mktemp("ct")))


def volume(source, array):
    return hd.Volume(array, source.geometry.affine, "PATIENT")


@pytest.mark.parametrize(
    ("array", "segments", "message"),
    [
        (np.full((6, 20, 18), 1.5), [1], "whole numbers"),
        (np.full((6, 20, 18), 70000, dtype=np.int32), [1], "above 65535"),
        (np.full((6, 20, 18), -1, dtype=np.int16), [1], "must not be negative"),
        (np.full((6, 20, 18), 3, dtype=np.uint8), [1, 2], "Label values 3 have no segment metadata"),
    ],
)
def test_bad_labels_are_refused(source, tmp_path, array, segments, message):
    with pytest.raises(InvalidSegmentationError, match=message):
        write_labelmap_seg(volume(source, array), demo_segments(segments), source, tmp_path, ExportOptions(file_name="seg.dcm"))
    assert list(tmp_path.iterdir()) == []


def test_bad_segment_metadata_is_named(source, tmp_path):
    labels = blob_labels((6, 20, 18), [1])
    with pytest.raises(InvalidSegmentationError, match=r"Segment 1 \('Liver'\): algorithm type AUTOMATIC needs"):
        write_labelmap_seg(volume(source, labels), [SegmentMetadata(1, "Liver", algorithm_type="AUTOMATIC")], source, tmp_path,
            ExportOptions(file_name="s.dcm"))
    with pytest.raises(InvalidSegmentationError, match=r"Segment numbers \[1\] are used by more than one"):
        write_labelmap_seg(volume(source, labels), demo_segments([1, 1]), source, tmp_path, ExportOptions(file_name="s.dcm"))
    assert list(tmp_path.iterdir()) == []


def test_grid_that_does_not_match_the_source_is_refused(source, tmp_path):
    labels = blob_labels((6, 20, 18), [1])
    coarse = source.geometry.affine.copy()
    coarse[:3, :3] *= 2
    with pytest.raises(GeometryMismatchError, match="spacing"):
        write_labelmap_seg(hd.Volume(labels, coarse, "PATIENT"), demo_segments([1]), source, tmp_path,
            ExportOptions(file_name="s.dcm"))
    too_big = np.zeros((8, 20, 18), dtype=np.uint8)
    too_big[7] = 1
    with pytest.raises(GeometryMismatchError, match="outside the reference grid"):
        write_labelmap_seg(volume(source, too_big), demo_segments([1]), source, tmp_path, ExportOptions(file_name="s.dcm"))
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_never_replaced_unasked(source, tmp_path):
    path = tmp_path / "seg.dcm"
    path.write_bytes(b"precious")
    labels = blob_labels((6, 20, 18), [1])
    with pytest.raises(OutputExistsError, match="exists already"):
        write_labelmap_seg(volume(source, labels), demo_segments([1]), source, path.parent, ExportOptions(file_name=path.name))
    assert path.read_bytes() == b"precious"
    write_labelmap_seg(volume(source, labels), demo_segments([1]), source, path.parent, ExportOptions(file_name=path.name,
        overwrite=True))
    assert path.read_bytes()[128:132] == b"DICM"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg.dcm"]


def test_unreadable_and_wrong_files_are_named(tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    with pytest.raises(SegFileError, match="junk.dcm: not a readable DICOM file"):
        read_seg(junk)
    with pytest.raises(SegFileError, match="no such file"):
        read_seg(tmp_path / "missing.dcm")
    with pytest.raises(SegFileError, match="01.dcm: SOPClassUID 1.2.840.10008.5.1.4.1.1.2 is not a Segmentation"):
        read_seg(shared_data("dcmqi/ct-3slice/01.dcm"))
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(shared_data("dcmqi/sparse-labelmap-ppv5.dcm").read_bytes()[:3000])
    with pytest.raises(SegFileError, match="truncated.dcm"):
        read_seg(truncated)


def test_seg_on_the_wrong_reference_is_refused():
    other = read_source_series_folder(shared_data("dcmqi/ct-3slice"))
    with pytest.raises(GeometryMismatchError, match="frame of reference|orientation|spacing|outside"):
        read_seg(shared_data("dcmqi/sparse-labelmap-noppv.dcm"), other.geometry)


def test_bad_source_series_is_named(tmp_path):
    with pytest.raises(SourceSeriesError, match="not a regularly spaced stack"):
        read_source_series_folder(shared_data("pydicom/CT2"))
    with pytest.raises(SourceSeriesError, match="no DICOM image series"):
        read_source_series_folder(tmp_path)
    multiframe = pydicom.dcmread(next(shared_data("dcmqi/24x38x3/multiframe").glob("*.dcm")))
    for number in (1, 2):
        multiframe.SOPInstanceUID = f"{multiframe.SOPInstanceUID}.{number}"
        multiframe.save_as(tmp_path / f"mf{number}.dcm")
    with pytest.raises(SourceSeriesError, match="holds several multi-frame images; give one"):
        read_source_series_folder(tmp_path)


def test_bad_metadata_and_terminology_are_named(tmp_path):
    bad = tmp_path / "meta.json"
    bad.write_text('{"segmentAttributes": [[{"SegmentLabel": "x"}]]}')
    with pytest.raises(MetadataFileError, match="has no labelID"):
        read_dcmqi_metadata(bad)
    with pytest.raises(TerminologyError, match="expected 7"):
        codes_from_terminology_entry("context~SCT^1^a")


def test_same_voxel_grid_accepts_flips_and_names_shifts(source):
    from DicomManager.core.geometry.grids import check_same_voxel_grid

    grid = source.geometry
    check_same_voxel_grid(grid.flip_spatial(axes=[0]), grid, "flipped")
    shifted = hd.VolumeGeometry(grid.affine + np.pad(np.full((3, 1), 0.4), ((0, 1), (3, 0))), grid.spatial_shape, "PATIENT")
    with pytest.raises(GeometryMismatchError, match="shifted: its corner voxels do not coincide"):
        check_same_voxel_grid(shifted, grid, "shifted")


def test_broken_seg_nrrd_is_refused_without_ending_the_process(tmp_path, scene):
    """Slicer's segmentation reader lets ITK exceptions end the process; a broken file must be refused first."""
    import subprocess
    import sys

    from DicomManager.errors import LabelFileError
    from DicomManager.mrml.segmentation_nodes import create_segmentation_node
    from DicomManager.mrml.storage import read_segmentation_file, write_segmentation_file

    grid = make_grid((4, 12, 10))
    node = create_segmentation_node(scene, hd.Volume(blob_labels(grid.spatial_shape, [1]), grid.affine, "PATIENT"),
                                    demo_segments([1]), "x")
    good = tmp_path / "good.seg.nrrd"
    write_segmentation_file(node, good)
    data = good.read_bytes()
    cases = {
        "header.seg.nrrd": (b"NRRD0004\nnot a field\n\n", "is not 'field: value'"),
        "nomagic.seg.nrrd": (b"P6\n", "not a NRRD file"),
        "truncated.seg.nrrd": (data[: len(data) - 4], "cut short"),  # into the gzip trailer
        "nosizes.seg.nrrd": (b"NRRD0004\ntype: uchar\ndimension: 3\nencoding: raw\n\n", "no 'sizes' field"),
    }
    for name, (content, message) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(LabelFileError, match=message):
            read_segmentation_file(scene, tmp_path / name)
    completed = subprocess.run(
        [sys.executable, "-m", "DicomManager.cli.program", "export", "--reference", str(shared_data("dcmqi/ct-3slice")),
         "--segmentation", str(tmp_path / "truncated.seg.nrrd"), "--output", str(tmp_path / "out.dcm")],
        capture_output=True, text=True, check=False,
    )
    assert completed.returncode == 1, completed.stderr[-2000:]
    assert read_segmentation_file(scene, good).GetSegmentation().GetNumberOfSegments() == 1


def test_outputs_get_the_permissions_of_an_ordinary_file(tmp_path):
    """Written through a private temporary file, an output must still be readable as open() would make it."""
    import os

    from DicomManager.core.writing.file_output import write_atomically

    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "out.txt", lambda path: path.write_text("x"))
    finally:
        os.umask(umask)
    assert (tmp_path / "out.txt").stat().st_mode & 0o777 == 0o644


# A broken SEG from another writer: every refusal ours, one line naming the attribute, the same in every reader.

def _refusal(path, reading=read_seg):
    """The message ``reading`` refuses ``path`` with, after checking that it is one line of ours naming the file."""
    with pytest.raises(DicomLabelMapSegError) as refused:
        reading(path)
    message = str(refused.value)
    assert message.startswith(f"{path}: ") and message.isprintable() and len(message) <= 400, message
    return message


def _written(tmp_path, seed, mutate, name="broken.dcm"):
    sys.path.insert(0, str(PROJECT_ROOT / "Testing" / "fuzz"))
    from mutations import write_case

    return write_case(shared_data(seed), mutate, tmp_path / name)


def _text_element(keyword):
    return pydicom.DataElement(pydicom.datadict.tag_for_keyword(keyword), "LO", "not a sequence")


def _shared_segment_identification_as_text(dataset):
    shared = dataset.SharedFunctionalGroupsSequence[0]
    shared["SegmentIdentificationSequence"] = _text_element("SegmentIdentificationSequence")


def _first_frames_source_images_as_text(dataset):
    derivation = dataset.PerFrameFunctionalGroupsSequence[0].DerivationImageSequence[0]
    derivation["SourceImageSequence"] = _text_element("SourceImageSequence")


def _first_frames_slide_position_as_text(dataset):
    dataset.PerFrameFunctionalGroupsSequence[0]["PlanePositionSlideSequence"] = _text_element("PlanePositionSlideSequence")


@pytest.mark.parametrize(
    ("seed", "mutate", "reason"),
    [
        ("dcmqi/sparse-labelmap-ppv5.dcm", lambda ds: setattr(ds, "PixelPaddingValue", [5, 6]),
         r"PixelPaddingValue \(0028,0120\) holds 2 values \[5, 6\]; it has one\."),
        ("dcmqi/liver.dcm", lambda ds: setattr(ds, "SeriesNumber", [1, 2]),
         r"SeriesNumber \(0020,0011\) holds 2 values .*; it has one\."),
        ("highdicom/seg_image_ct_binary_fractional.dcm", lambda ds: setattr(ds, "MaximumFractionalValue", [255, 255]),
         r"MaximumFractionalValue \(0062,000E\) holds 2 values"),
        ("dcmqi/sparse-labelmap-ppv5.dcm",
         lambda ds: ds.__setitem__("ReferencedSeriesSequence", _text_element("ReferencedSeriesSequence")),
         r"ReferencedSeriesSequence \(0008,1115\) is LO 'not a sequence', not a sequence of items\."),
        ("dcmqi/liver.dcm", _shared_segment_identification_as_text,
         r"SharedFunctionalGroupsSequence item 1: SegmentIdentificationSequence \(0062,000A\) is LO"),
        ("dcmqi/sparse-labelmap-ppv5.dcm", lambda ds: ds.__setitem__("BitsStored", pydicom.DataElement(0x00280101, "CS", "abc")),
         r"BitsStored \(0028,0101\) is 'abc', not a whole number\."),
        ("dcmqi/sparse-labelmap-ppv5.dcm", lambda ds: ds.__setitem__(
            "PhotometricInterpretation", pydicom.DataElement(0x00280004, "SQ", pydicom.Sequence([pydicom.Dataset()]))),
         r"PhotometricInterpretation \(0028,0004\) is a sequence; its VR is CS\."),
        ("dcmqi/liver.dcm", lambda ds: setattr(ds.SegmentSequence[0], "SegmentNumber", None),
         r"SegmentSequence item 1: SegmentNumber \(0062,0004\) is None, not a segment number\."),
        ("dcmqi/liver.dcm", _first_frames_source_images_as_text,
         r"frame 1: DerivationImageSequence item 1: SourceImageSequence \(0008,2112\) is LO 'not a sequence', "
         r"not a sequence of items\."),
        ("highdicom/seg_image_sm_control_labelmap.dcm", _first_frames_slide_position_as_text,
         r"frame 1: PlanePositionSlideSequence \(0048,021A\) is LO 'not a sequence', not a sequence of items\."),
        ("highdicom/seg_image_sm_control_labelmap.dcm", lambda ds: setattr(ds, "TotalPixelMatrixFocalPlanes", [1, 2]),
         r"TotalPixelMatrixFocalPlanes \(0048,0303\) holds 2 values \[1, 2\]; it has one\."),
        ("highdicom/seg_image_sm_control_labelmap.dcm", lambda ds: setattr(ds, "NumberOfOpticalPaths", [1, 1]),
         r"NumberOfOpticalPaths \(0048,0302\) holds 2 values \[1, 1\]; it has one\."),
    ],
)
def test_a_malformed_value_is_refused_by_name_in_every_reader(seed, mutate, reason, tmp_path):
    from DicomManager.core.reading.seg_reader import header_problem, read_seg_header
    from DicomManager.core.reading.seg_references import read_seg_references

    path = _written(tmp_path, seed, mutate)
    message = _refusal(path)
    assert re.search(reason, message), message
    assert header_problem(path) == message
    assert _refusal(path, read_seg_header) == message
    if "ReferencedSeriesSequence" in reason:
        assert _refusal(path, read_seg_references) == message


def test_a_referenced_series_without_its_uid_is_passed_over_by_every_reader(tmp_path):
    from DicomManager.core.reading.seg_reader import header_problem
    from DicomManager.core.reading.seg_references import read_seg_references

    path = _written(tmp_path, "dcmqi/liver.dcm", lambda ds: delattr(ds.ReferencedSeriesSequence[0], "SeriesInstanceUID"))
    assert read_seg(path).info.referenced_series_uid is None
    assert header_problem(path) is None
    assert read_seg_references(path).referenced_series_uids == ()


def test_a_series_number_that_is_not_a_number_is_named_by_every_reader(tmp_path):
    from DicomManager.core.reading.seg_reader import header_problem, read_seg_header

    path = _written(tmp_path, "dcmqi/liver.dcm", lambda ds: setattr(ds, "SeriesNumber", 987))
    _with_bytes_replaced(path, b"\x20\x00\x11\x00IS\x04\x00987 ", b"\x20\x00\x11\x00IS\x04\x00xxx ")
    message = _refusal(path)
    assert message.endswith("SeriesNumber (0020,0011) is 'xxx', not a whole number.")
    assert header_problem(path) == message == _refusal(path, read_seg_header)


def _with_bytes_replaced(path, old, new):
    """``path`` with the first ``old`` in it replaced by ``new``."""
    data = path.read_bytes()
    assert old in data
    path.write_bytes(data.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"\x08\x00\x3e\x10LO", b"\x08\x00\x3e\x10XX", r"SeriesDescription \(0008,103E\) cannot be read \(Unknown Value"),
        (b"\x08\x00\x50\x11UI", b"\x08\x00\x50\x11XX",  # the first is in ReferencedSeriesSequence
         r"ReferencedSeriesSequence item 1: ReferencedInstanceSequence item 1: ReferencedSOPClassUID \(0008,1150\) "
         r"cannot be read \(Unknown Value Representation 'XX'"),
        (b"\x28\x00\x10\x00US\x02\x00\x00\x02", b"\x28\x00\x10\x00US\x03\x00\x00\x02\x00",
         r"Rows \(0028,0010\) cannot be read \(.* with length 3 "),
    ],
)
def test_an_unknown_vr_or_a_value_of_the_wrong_length_is_named_by_info_and_the_browser_as_by_read_seg(
        old, new, reason, tmp_path):
    from DicomManager.core.reading.seg_reader import header_problem
    from DicomManager.core.reading.seg_references import read_seg_references

    path = tmp_path / "broken.dcm"
    path.write_bytes(shared_data("dcmqi/liver.dcm").read_bytes())  # 512 rows: 00 02
    _with_bytes_replaced(path, old, new)
    message = _refusal(path)
    assert re.search(reason, message), message
    assert header_problem(path) == message
    if "ReferencedSeriesSequence" in reason:
        assert _refusal(path, read_seg_references) == message
    completed = _cli("info", str(path))
    assert completed.returncode == 1
    assert completed.stderr.strip() == f"error: {message}"


def _cli(*arguments):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "DicomManager.cli.program", *arguments],
                          capture_output=True, text=True, check=False)


def test_the_named_corpus_gets_the_same_verdict_from_the_browser_as_from_read_seg(tmp_path):
    sys.path.insert(0, str(PROJECT_ROOT / "Testing" / "fuzz"))
    from mutations import BINARY_CASES, FRACTIONAL_CASES, LABELMAP_CASES

    from DicomManager.core.reading.seg_reader import header_problem

    corpus = [("dcmqi/sparse-labelmap-ppv5.dcm", LABELMAP_CASES), ("dcmqi/partial_overlaps.dcm", BINARY_CASES),
              ("highdicom/seg_image_ct_binary_fractional.dcm", FRACTIONAL_CASES)]
    judged_by_header = 0
    for seed, cases in corpus:
        for number, (case, (mutate, _)) in enumerate(cases.items()):
            path = _written(tmp_path, seed, mutate, f"{number}.dcm")
            problem = header_problem(path)
            message = _refusal(path)  # every case is refused
            if "pixel data" in case:  # the header alone shows at most that the frames cannot fit in the file
                assert problem is None or "NumberOfFrames" in problem, case
            elif problem is not None:
                assert problem == message, case
                judged_by_header += 1
    assert judged_by_header >= 12  # all but the labels of no segment, which only decoding finds


def test_a_value_with_control_characters_or_kilobytes_of_binary_is_quoted_escaped_and_cut(tmp_path):
    newline = _written(tmp_path, "dcmqi/sparse-labelmap-ppv5.dcm",
                       lambda ds: setattr(ds, "SegmentationType", "LABELMAP\nBINARY"), "newline.dcm")
    message = _refusal(newline)
    assert r"SegmentationType 'LABELMAP\nBINARY' does not belong" in message
    binary = _written(tmp_path, "dcmqi/liver.dcm", lambda ds: setattr(ds, "SOPClassUID", "\x89\x01" * 750), "binary.dcm")
    message = _refusal(binary)
    assert "SOPClassUID '\\x89\\x01" in message and "characters) is not a Segmentation Storage class" in message


def test_a_spacing_between_slices_that_is_not_finite_is_refused_by_name(tmp_path):
    def infinite_spacing(dataset):
        dataset.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0].SpacingBetweenSlices = "1e400"

    path = _written(tmp_path, "dcmqi/sparse-labelmap-ppv5.dcm", infinite_spacing)
    assert _refusal(path).endswith("SpacingBetweenSlices (0018,0088) is '1e400', not a finite number.")


@pytest.mark.parametrize("name", ["dcmqi/sparse-labelmap-ppv5.dcm", "highdicom/seg_image_ct_binary.dcm", "dcmqi/liver.dcm"])
@pytest.mark.parametrize("keep", [0.3, 0.5, 0.7, 0.9])
def test_a_truncated_file_is_said_to_be_cut_short_at_its_end(name, keep, tmp_path):
    data = shared_data(name).read_bytes()
    path = tmp_path / "cut.dcm"
    path.write_bytes(data[: int(len(data) * keep)])
    if pydicom.dcmread(shared_data(name), stop_before_pixels=True).get("PixelData") is None and keep < 0.05:
        return
    assert re.search(rf"the file is cut short at byte {path.stat().st_size}\b", _refusal(path))


def test_library_warnings_go_to_our_log_at_debug_in_process_and_in_the_cli(tmp_path, caplog):
    import logging
    import warnings

    class ApplicationHandler(logging.Handler):
        """What an application's handler on the root logger gets from pydicom and highdicom at WARNING."""

        def __init__(self):
            super().__init__(logging.WARNING)
            self.library_records = []

        def emit(self, record):
            if record.name.split(".")[0] in ("pydicom", "highdicom"):
                self.library_records.append(record.getMessage())

    path = _written(tmp_path, "dcmqi/liver.dcm", lambda ds: setattr(ds, "SeriesInstanceUID", "not-a-uid"))
    application = ApplicationHandler()
    logging.getLogger().addHandler(application)
    try:
        with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.DEBUG):
            warnings.simplefilter("always")
            read_seg(path)
    finally:
        logging.getLogger().removeHandler(application)
    assert caught == []
    assert application.library_records == []
    assert any(record.levelno == logging.DEBUG and "Invalid value for VR UI" in record.getMessage()
               for record in caplog.records)
    quiet, verbose = _cli("info", str(path)), _cli("--verbose", "info", str(path))
    assert quiet.returncode == verbose.returncode == 0, quiet.stderr
    assert "Invalid value for VR UI" not in quiet.stderr and "UserWarning" not in quiet.stderr, quiet.stderr
    assert "DEBUG: " in verbose.stderr and "Invalid value for VR UI" in verbose.stderr


# Decompression and allocation bombs: refused, in little memory and little time, before anything their size exists.

MEMORY_PROBE = """
import json, resource, sys
from pathlib import Path
from DicomManager import read_seg
from DicomManager.errors import DicomLabelMapSegError

size = int(Path("/proc/self/status").read_text().split("VmSize:")[1].split()[0]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (size + int(sys.argv[2]), resource.RLIM_INFINITY))
before = resource.getrusage(resource.RUSAGE_SELF)
try:
    read_seg(Path(sys.argv[1]))
    outcome = "loaded"
except DicomLabelMapSegError as error:
    outcome = str(error)
after = resource.getrusage(resource.RUSAGE_SELF)
cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
print(json.dumps({"outcome": outcome, "cpu_s": cpu, "peak_growth": (after.ru_maxrss - before.ru_maxrss) * 1024}))
"""
ADDRESS_SPACE_ALLOWANCE = 600 * 2**20
"""What the probe may map beyond its size after importing: 300 MB, twice the few MB of these labels, and slack."""
PEAK_ALLOWANCE = 300 * 2**20


def _read_with_bounded_memory(path):
    """read_seg in a process that may allocate ADDRESS_SPACE_ALLOWANCE more: its outcome, CPU seconds, growth of its peak."""
    import json
    import subprocess

    completed = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(path), str(ADDRESS_SPACE_ALLOWANCE)],
                               capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.splitlines()[-1])


def _deflated_dataset_file(tmp_path, name, change_body):
    """dcmqi's liver.dcm saved by pydicom in a deflated dataset, its inflated dataset changed by ``change_body``."""
    import struct
    import zlib

    dataset = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.DeflatedExplicitVRLittleEndian
    path = tmp_path / name
    dataset.save_as(path, enforce_file_format=True)
    data = path.read_bytes()
    start = 128 + 4 + 12 + struct.unpack_from("<I", data, 128 + 4 + 8)[0]
    body = zlib.decompress(data[start:], -zlib.MAX_WBITS)
    path.write_bytes(data[:start] + change_body(body))
    return path


def _deflate(data):
    import zlib

    compressor = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def _pixel_data_length_said_to_be(length):
    import struct

    def change(body):
        patched = bytearray(body)
        struct.pack_into("<I", patched, body.rfind(b"\xe0\x7f\x10\x00OB") + 8, length)
        return _deflate(bytes(patched))
    return change


def _gigabyte_of_zeros_after_the_pixel_data(body):
    import struct

    sys.path.insert(0, str(PROJECT_ROOT / "Testing" / "fuzz"))
    from mutations import inflate_bomb_stream

    return inflate_bomb_stream(body + struct.pack("<HH2sHI", 0x7FE1, 0x0010, b"OB", 0, 2**30), zeros_first=False)


def _frames_deflated(tmp_path, name, change_frame):
    """dcmqi's LABELMAP in Deflated Image Frame Compression, its first frame's deflate stream made by ``change_frame``."""
    import zlib

    from pydicom.encaps import encapsulate, generate_frames

    from DicomManager.core.codecs.deflated_frames import deflate_frames, save_with_deflated_frames

    dataset = pydicom.dcmread(shared_data("dcmqi/sparse-labelmap-ppv5.dcm"))
    deflate_frames(dataset)
    frames = list(generate_frames(dataset.PixelData, number_of_frames=int(dataset.NumberOfFrames)))
    frames[0] = change_frame(zlib.decompress(frames[0], -zlib.MAX_WBITS))
    dataset.PixelData = encapsulate(frames)
    save_with_deflated_frames(dataset, tmp_path / name)
    return tmp_path / name


def _inflating_to_a_gigabyte(frame):
    sys.path.insert(0, str(PROJECT_ROOT / "Testing" / "fuzz"))
    from mutations import inflate_bomb_stream

    return inflate_bomb_stream(frame)


def _cut_at_pixel_data_of_length(length):
    def change(path):
        import struct

        data = bytearray(path.read_bytes())
        struct.pack_into("<I", data, data.rfind(b"\xe0\x7f\x10\x00OB") + 8, length)
        path.write_bytes(bytes(data))
    return change


def _tiled_with(**values):
    def change(path):
        dataset = pydicom.dcmread(path)
        for keyword, value in values.items():
            setattr(dataset, keyword, value)
        dataset.save_as(path)
    return change


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: _deflated_dataset_file(tmp, "length.dcm", _pixel_data_length_said_to_be(0xFFFFFFF0)),
         r"the Pixel Data declares 4294967280 bytes, more than the 98304 of Rows x Columns x NumberOfFrames"),
        (lambda tmp: _deflated_dataset_file(tmp, "zeros.dcm", _gigabyte_of_zeros_after_the_pixel_data),
         r"an element of the deflated dataset declares 1073741824 bytes"),
        (lambda tmp: _frames_deflated(tmp, "bomb.dcm", _inflating_to_a_gigabyte),
         r"frame 1 inflates to more than the 912 bytes a frame has"),
        (lambda tmp: _frames_deflated(tmp, "extra.dcm", lambda frame: _deflate(frame + bytes(4096))),
         r"frame 1 inflates to more than the 912 bytes a frame has"),
        (lambda tmp: _frames_deflated(tmp, "trailing.dcm", lambda frame: _deflate(frame) + b"trailing"),
         r"frame 1 holds 9 bytes after its deflate stream"),  # 8, and 1 padding the fragment to an even length
        (lambda tmp: _frames_deflated(tmp, "cut.dcm", lambda frame: _deflate(frame)[:-4]),
         r"frame 1 is cut short: its deflate stream ends after \d+ of 912 bytes"),
        (lambda tmp: _changed_copy(tmp, "dcmqi/liver.dcm", _cut_at_pixel_data_of_length(0xFFFFFFF0)),
         r"the file is cut short at byte 102630: PixelData \(7FE0,0010\) declares 4294967280 bytes"),
        (lambda tmp: _changed_copy(tmp, "highdicom/seg_image_sm_control_labelmap_palette_color.dcm",
                                   _tiled_with(NumberOfFrames=2**31)),
         r"NumberOfFrames \(0028,0008\) is '2147483648', out of range"),
        (lambda tmp: _changed_copy(tmp, "highdicom/seg_image_sm_control_labelmap_palette_color.dcm",
                                   _tiled_with(NumberOfFrames=2**31 - 1)),
         r"Pixel Data \(7FE0,0010\) holds 2000 bytes; NumberOfFrames 2147483647 of 10x10 pixels of 8 bits need"),
        (lambda tmp: _changed_copy(tmp, "highdicom/seg_image_sm_control_labelmap.dcm",
                                   _tiled_with(TotalPixelMatrixRows=2**31 - 1)),
         r"a total pixel matrix of 2147483647x50 takes 1073741825 tiles of 10x10; 20 frames placed one by one cover"),
    ],
)
def test_a_bomb_is_refused_in_little_memory_and_time(make, reason, tmp_path):
    path = make(tmp_path)
    result = _read_with_bounded_memory(path)
    assert re.search(reason, result["outcome"]), result["outcome"]
    assert result["cpu_s"] < 2
    assert result["peak_growth"] < PEAK_ALLOWANCE


def test_the_memory_probe_loads_a_good_deflated_file(tmp_path):
    path = _deflated_dataset_file(tmp_path, "good.dcm", _deflate)
    assert _read_with_bounded_memory(path)["outcome"] == "loaded"
    assert _read_with_bounded_memory(_frames_deflated(tmp_path, "frames.dcm", _deflate))["outcome"] == "loaded"


PALETTE_SEG = "highdicom/seg_image_sm_control_labelmap_palette_color.dcm"
LINEAR_UP_AND_DOWN = [1, 65535, 65535, 1, 65535, 0]
"""Two linear segments of 65535 entries each, in 6 words."""


def _segmented_palette(words_of_colour):
    """The slide palette LABELMAP with each colour's table replaced by the segmented table ``words_of_colour(colour)``."""
    def change(path):
        dataset = pydicom.dcmread(path)
        for colour in ("Red", "Green", "Blue"):
            del dataset[f"{colour}PaletteColorLookupTableData"]
            setattr(dataset, f"{colour}PaletteColorLookupTableDescriptor", [22, 0, 16])
            keyword = f"Segmented{colour}PaletteColorLookupTableData"
            setattr(dataset, keyword, np.array(words_of_colour(colour), "<u2").tobytes())
            dataset[keyword].VR = "OW"
        dataset.save_as(path)
    return change


def test_a_segmented_palette_declaring_billions_of_entries_is_left_out_in_little_memory(tmp_path, caplog):
    # 16383 pairs of linear segments in 200 kB per colour: 2^31 entries for pydicom's apply_color_lut to expand.
    bomb = _changed_copy(tmp_path, PALETTE_SEG, _segmented_palette(lambda _: [0, 1, 0] + LINEAR_UP_AND_DOWN * 16383))
    result = _read_with_bounded_memory(bomb)
    assert result["outcome"] == "loaded"
    assert result["cpu_s"] < 2
    assert result["peak_growth"] < PEAK_ALLOWANCE
    with caplog.at_level(logging.WARNING):
        loaded = read_seg(bomb)
    assert "SegmentedRedPaletteColorLookupTableData (0028,1221) cannot be expanded: it expands to more than the 22 " \
           "entries its descriptor declares" in caplog.text
    assert all(segment.color is None for segment in loaded.segments)  # the palette colours nothing


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        ([0, 1, 0, 2, 1, 3, 0], "an indirect segment copies another indirect segment"),  # itself: endless recursion
        ([0, 1, 7, 1, 0, 9], "a segment of type 1 adds no entry"),  # pydicom divides by its length
        ([1, 4, 9], "its first segment is linear"),
        ([0, 1, 0, 3, 4, 5], "a segment is of type 3"),
        ([0, 1, 0, 1, 65535, 9], "it expands to more than the 22 entries"),
    ],
)
def test_a_malformed_segmented_palette_is_named_and_left_out(table, reason, tmp_path, caplog):
    path = _changed_copy(tmp_path, PALETTE_SEG, _segmented_palette(lambda _: table))
    with caplog.at_level(logging.WARNING):
        loaded = read_seg(path)
    assert f"SegmentedRedPaletteColorLookupTableData (0028,1221) cannot be expanded: {reason}" in caplog.text
    assert loaded.info.photometric_interpretation == "MONOCHROME2"


def test_a_segmented_alpha_table_is_bounded_as_the_colours_are(tmp_path, caplog):
    path = _changed_copy(tmp_path, PALETTE_SEG, _segmented_palette(lambda _: [0, 22, *range(0, 22000, 1000)]))
    dataset = pydicom.dcmread(path)  # pydicom expands an alpha table beside segmented colour tables too
    alpha = np.array([0, 1, 0] + LINEAR_UP_AND_DOWN * 1000, "<u2").tobytes()
    dataset["SegmentedAlphaPaletteColorLookupTableData"] = pydicom.DataElement(0x00281224, "OW", alpha)
    dataset.save_as(path)
    with caplog.at_level(logging.WARNING):
        read_seg(path)
    assert "SegmentedAlphaPaletteColorLookupTableData (0028,1224) cannot be expanded: it expands to more than the 22 " \
           "entries" in caplog.text


def test_a_segmented_palette_with_linear_and_indirect_segments_colours_each_segment_as_pydicom_expands_it(tmp_path):
    from pydicom.pixels import apply_color_lut

    # 2 discrete entries, a linear segment of 9 up to 65535, a copy of these 2 segments (11 entries): 22 in all.
    table = [0, 2, 0, 300, 1, 9, 65535, 2, 2, 0, 0]
    path = _changed_copy(tmp_path, PALETTE_SEG, _segmented_palette(lambda _: table))
    expected = apply_color_lut(np.arange(1, 21, dtype=np.uint8), pydicom.dcmread(path))  # segments 1 to 20
    loaded = read_seg(path)
    colours = {segment.number: segment.color for segment in loaded.segments}
    assert [colours[number] for number in range(1, 21)] == [tuple(round(int(v) * 255 / 65535) for v in rgb)
                                                            for rgb in expected]


def _changed_copy(tmp_path, name, change):
    path = tmp_path / Path(name).name
    path.write_bytes(shared_data(name).read_bytes())
    change(path)
    return path
