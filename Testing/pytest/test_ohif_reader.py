"""OHIF's reader: our LABELMAP SEGs loaded by Cornerstone3D's SEG adapter in Node give our labels.

``Testing/ohif/read_seg_like_ohif.mjs`` runs the code OHIF runs to load a SEG
(``@cornerstonejs/adapters`` with ``dcmjs``, frames decoded by the image loader's
``decodeImageFrame``); its npm packages are pinned in ``Testing/ohif/package-lock.json``
and installed here on first use.
"""

from __future__ import annotations

import json
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import PROJECT_ROOT, demo_segments, external_program

from DicomManager import Compression, ExportOptions, write_labelmap_seg
from DicomManager.cli.demo import DemoFiles, write_demo_files

OHIF_FOLDER = PROJECT_ROOT / "Testing" / "ohif"


@dataclass(frozen=True)
class OhifResult:
    """What OHIF holds after loading a SEG: one labelmap slice per source SOP Instance UID, and the segments."""

    slices: dict[str, np.ndarray]
    dtype: str
    segment_labels: dict[int, str]


@pytest.fixture(scope="session")
def ohif_reader():
    node = external_program("node", "install Node.js 18+ (the CI machine has it)")
    npm = external_program("npm", "install npm with Node.js")
    if not (OHIF_FOLDER / "node_modules" / ".package-lock.json").exists():
        completed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=OHIF_FOLDER, capture_output=True, text=True
        )
        assert completed.returncode == 0, f"npm ci in {OHIF_FOLDER} failed:\n{completed.stdout}{completed.stderr}"

    def read(seg: Path, source_folder: Path, work: Path) -> OhifResult:
        prefix = work / f"ohif-{seg.stem}"
        completed = subprocess.run(
            [node, "read_seg_like_ohif.mjs", str(seg), str(source_folder), str(prefix)],
            cwd=OHIF_FOLDER,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert completed.returncode == 0, f"OHIF's reader failed on {seg}:\n{completed.stderr[-3000:]}"
        info = json.loads(prefix.with_suffix(".json").read_text())
        dtype = {"Uint8Array": np.uint8, "Uint16Array": np.uint16}[info["dtype"]]
        raw = np.fromfile(prefix.with_suffix(".raw"), dtype=dtype)
        slices = raw.reshape(len(info["sopInstanceUIDs"]), info["rows"], info["columns"])
        return OhifResult(
            dict(zip(info["sopInstanceUIDs"], slices, strict=True)),
            info["dtype"],
            {segment["number"]: segment["label"] for segment in info["segments"]},
        )

    return read


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    return write_demo_files(tmp_path_factory.mktemp("ohif-demo"))


def expected_slices(labels: hd.Volume, sop_instance_uids: list[str]) -> dict[str, np.ndarray]:
    """Our labels per source image: the demo's labels are on the source grid, slice k on image k."""
    return dict(zip(sop_instance_uids, labels.array, strict=True))


@pytest.mark.parametrize("compression", list(Compression))
def test_ohif_gets_our_labels_per_source_image(ohif_reader, demo, compression, tmp_path):
    seg = write_labelmap_seg(demo.case.labels, demo.case.segments, demo.source, tmp_path,
        ExportOptions(file_name=f"{compression.value}.dcm", compression=compression))

    loaded = ohif_reader(seg.path, demo.case.series_files[0].parent, tmp_path)

    expected = expected_slices(demo.case.labels, demo.source.sop_instance_uids)
    assert loaded.slices.keys() == expected.keys()
    for sop_instance_uid, labels in expected.items():
        np.testing.assert_array_equal(loaded.slices[sop_instance_uid], labels, err_msg=sop_instance_uid)
    header = pydicom.dcmread(seg.path, stop_before_pixels=True)
    written = {int(item.SegmentNumber): item.SegmentLabel for item in header.SegmentSequence}
    assert loaded.segment_labels == written
    assert written.items() >= {segment.number: segment.label for segment in demo.case.segments}.items()


def test_ohif_gets_a_segmentation_of_a_few_slices_on_the_right_images(ohif_reader, demo, tmp_path):
    """Empty slices are not written as frames: OHIF must place each frame by its source image."""
    array = np.zeros_like(demo.case.labels.array)
    array[5:8, 20:40, 30:50] = 2
    array[20, 10:20, 10:20] = 7
    labels = hd.Volume(array, demo.case.labels.affine, "PATIENT", demo.case.labels.frame_of_reference_uid)
    seg = write_labelmap_seg(labels, demo.case.segments, demo.source, tmp_path, ExportOptions(file_name="few.dcm"))

    loaded = ohif_reader(seg.path, demo.case.series_files[0].parent, tmp_path)

    for sop_instance_uid, expected in expected_slices(labels, demo.source.sop_instance_uids).items():
        np.testing.assert_array_equal(loaded.slices[sop_instance_uid], expected, err_msg=sop_instance_uid)


def test_ohif_keeps_8_bit_labelmaps_so_export_warns_for_16_bit(ohif_reader, demo, tmp_path, caplog):
    """Segment numbers above 255 need a 16-bit SEG, which OHIF loads into 8-bit labelmaps."""
    array = np.zeros(demo.case.labels.array.shape, dtype=np.uint16)
    array[5:8, 20:40, 30:50] = 3
    array[10:12, 20:40, 30:50] = 300
    labels = hd.Volume(array, demo.case.labels.affine, "PATIENT", demo.case.labels.frame_of_reference_uid)

    with caplog.at_level(logging.WARNING):
        seg = write_labelmap_seg(labels, demo_segments([3, 300]), demo.source, tmp_path, ExportOptions(file_name="sixteen.dcm"))
    assert "OHIF" in caplog.text and "255" in caplog.text

    loaded = ohif_reader(seg.path, demo.case.series_files[0].parent, tmp_path)
    assert loaded.dtype == "Uint8Array"
    ohif = np.stack([loaded.slices[uid] for uid in demo.source.sop_instance_uids])
    np.testing.assert_array_equal(ohif[array == 3], 3)
    np.testing.assert_array_equal(ohif[array == 300], 0)  # segment 300 is lost in OHIF: what the warning says


def test_ohif_cannot_load_frames_cropped_to_the_segments(ohif_reader, demo, tmp_path):
    """Why cropping is opt-in: OHIF copies each frame into its source image's pixels, which must be the same size."""
    seg = write_labelmap_seg(demo.case.labels, demo.case.segments, demo.source, tmp_path, ExportOptions(file_name="cropped.dcm",
        crop_to_segments=True))
    header = pydicom.dcmread(seg.path, stop_before_pixels=True)
    assert (header.Rows, header.Columns) != (demo.source.datasets[0].Rows, demo.source.datasets[0].Columns)

    with pytest.raises(AssertionError, match="frames have different geometry dimensions .Rows and Columns."):
        ohif_reader(seg.path, demo.case.series_files[0].parent, tmp_path)
