"""A real PACS: our SEGs and their source series stored in Orthanc, retrieved, and loaded identically.

Orthanc (Debian's, with its DICOMweb plugin) runs on loopback; the tests hold for
an Orthanc that knows Label Map Segmentation Storage as for one that does not. Storing is
done by DicomManager's own sender, over DICOMweb STOW-RS and over DIMSE C-STORE
(pynetdicom); retrieving by the independent dicomweb-client (WADO-RS) and by
Orthanc's REST API.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from conftest import shared_data
from dicomweb_client.api import DICOMwebClient
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from DicomManager import Compression, ExportOptions, read_seg, write_labelmap_seg
from DicomManager.cli.demo import DemoFiles, write_demo_files
from DicomManager.cli.main import main
from DicomManager.core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID
from DicomManager.errors import SendError
from DicomManager.network import DicomWebDestination, parse_destination, send_files


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    """The demo's CT series and its 10-segment LABELMAP SEG (RLE), written once for this module."""
    return write_demo_files(tmp_path_factory.mktemp("pacs-demo"))


def retrieve_with_wado_rs(url: str, seg_path: Path, folder: Path) -> Path:
    """Fetch the instance of ``seg_path`` back with dicomweb-client and save it to ``folder``."""
    sent = pydicom.dcmread(seg_path, stop_before_pixels=True)
    client = DICOMwebClient(url)
    dataset = client.retrieve_instance(sent.StudyInstanceUID, sent.SeriesInstanceUID, sent.SOPInstanceUID)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{sent.SOPInstanceUID}.dcm"
    dataset.save_as(path, enforce_file_format=True)
    return path


def assert_loads_identically(original: Path, retrieved: Path) -> None:
    expected, got = read_seg(original), read_seg(retrieved)
    assert got.segments == expected.segments
    assert len(got.layers) == len(expected.layers)
    for got_layer, expected_layer in zip(got.layers, expected.layers, strict=True):
        np.testing.assert_array_equal(got_layer.array, expected_layer.array)
        np.testing.assert_allclose(got_layer.affine, expected_layer.affine)


def test_stow_rs_stores_labelmap_seg_and_series_and_wado_rs_gives_them_back(orthanc_as_shipped, demo, tmp_path):
    files = [*demo.case.series_files, demo.seg.path]
    sent = send_files(files, DicomWebDestination(orthanc_as_shipped.dicomweb_url))

    assert len(sent.sop_instance_uids) == len(files)
    seg = pydicom.dcmread(demo.seg.path, stop_before_pixels=True)
    series = orthanc_as_shipped.get_json("/series?expand")
    instances_by_series = {s["MainDicomTags"]["SeriesInstanceUID"]: len(s["Instances"]) for s in series}
    assert instances_by_series[seg.SeriesInstanceUID] == 1
    assert instances_by_series[pydicom.dcmread(demo.case.series_files[0]).SeriesInstanceUID] == len(demo.case.series_files)

    retrieved = retrieve_with_wado_rs(orthanc_as_shipped.dicomweb_url, demo.seg.path, tmp_path)
    assert pydicom.dcmread(retrieved, stop_before_pixels=True).file_meta.TransferSyntaxUID == RLELossless
    assert orthanc_as_shipped.instance_file(seg.SOPInstanceUID) == demo.seg.path.read_bytes()
    assert_loads_identically(demo.seg.path, retrieved)


def test_labelmap_seg_over_dimse_is_either_stored_whole_or_refused_with_nothing_sent(orthanc_as_shipped, demo, tmp_path):
    """Orthanc before Supplement 243 (Debian's 1.10) knows no Label Map Segmentation Storage; later ones may.

    Whichever this Orthanc does, we must report it truthfully: a refusal as a
    SendError with nothing stored, an acceptance as an instance stored that
    reads back as sent.
    """
    copy = tmp_path / "seg.dcm"
    ds = pydicom.dcmread(demo.seg.path)
    ds.SOPInstanceUID = pydicom.uid.generate_uid()  # not the instance STOW-RS may have stored already
    ds.save_as(copy)

    try:
        sent = send_files([copy], parse_destination(orthanc_as_shipped.dimse_url))
    except SendError as refusal:
        expected = "does not accept Label Map Segmentation Storage (1.2.840.10008.5.1.4.1.1.66.7), so nothing was sent"
        assert expected in str(refusal)
        stored = {item["MainDicomTags"]["SOPInstanceUID"] for item in orthanc_as_shipped.get_json("/instances?expand")}
        assert ds.SOPInstanceUID not in stored
        return
    assert sent.sop_instance_uids == (ds.SOPInstanceUID,)
    retrieved = tmp_path / "back.dcm"
    retrieved.write_bytes(orthanc_as_shipped.instance_file(ds.SOPInstanceUID))
    assert_loads_identically(copy, retrieved)


def test_c_store_sends_a_classic_binary_seg_in_its_own_transfer_syntax(orthanc_as_shipped, tmp_path):
    seg_path = shared_data("dcmqi/liver.dcm")
    source = sorted(shared_data("dcmqi/ct-3slice").glob("*.dcm"))

    sent = send_files([*source, seg_path], parse_destination(orthanc_as_shipped.dimse_url))

    assert sent.sent_decompressed == ()
    seg_uid = pydicom.dcmread(seg_path, stop_before_pixels=True).SOPInstanceUID
    assert seg_uid in sent.sop_instance_uids
    retrieved = retrieve_with_wado_rs(orthanc_as_shipped.dicomweb_url, seg_path, tmp_path)
    assert_loads_identically(seg_path, retrieved)


def test_c_store_sends_a_jpeg_ls_labelmap_decompressed_where_only_uncompressed_is_accepted(
    orthanc_uncompressed_any_class, demo, tmp_path
):
    seg_path = write_labelmap_seg(demo.case.labels, demo.case.segments, demo.source, tmp_path,
        ExportOptions(file_name="jpegls.dcm", compression=Compression.JPEGLS)).path
    assert pydicom.dcmread(seg_path, stop_before_pixels=True).file_meta.TransferSyntaxUID == JPEGLSLossless

    sent = send_files([*demo.case.series_files, seg_path], parse_destination(orthanc_uncompressed_any_class.dimse_url))

    assert sent.sent_decompressed == (seg_path,)
    stored = pydicom.dcmread(
        pydicom.filebase.DicomBytesIO(
            orthanc_uncompressed_any_class.instance_file(pydicom.dcmread(seg_path, stop_before_pixels=True).SOPInstanceUID)
        )
    )
    assert stored.SOPClassUID == LABELMAP_SEG_SOP_CLASS_UID
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    retrieved = retrieve_with_wado_rs(orthanc_uncompressed_any_class.dicomweb_url, seg_path, tmp_path / "back")
    assert_loads_identically(seg_path, retrieved)


def test_cli_send_reports_what_was_stored(orthanc_uncompressed_any_class, demo, capsys, tmp_path):
    exit_code = main(["send", str(demo.seg.path), "--to", orthanc_uncompressed_any_class.dicomweb_url])

    assert exit_code == 0
    assert f"sent 1 instance(s) to {orthanc_uncompressed_any_class.dicomweb_url}" in capsys.readouterr().out
    retrieved = tmp_path / "stored.dcm"
    sop_instance_uid = pydicom.dcmread(demo.seg.path, stop_before_pixels=True).SOPInstanceUID
    retrieved.write_bytes(orthanc_uncompressed_any_class.instance_file(sop_instance_uid))
    assert_loads_identically(demo.seg.path, retrieved)


def test_unreachable_destinations_give_a_send_error_naming_them(demo):
    with pytest.raises(SendError, match=r"dicom://NOBODY@127\.0\.0\.1:9 cannot be reached"):
        send_files([demo.seg.path], parse_destination("dicom://NOBODY@127.0.0.1:9"))
    with pytest.raises(SendError, match=r"http://127\.0\.0\.1:9/dicom-web cannot be reached"):
        send_files([demo.seg.path], parse_destination("http://127.0.0.1:9/dicom-web"))


@pytest.mark.parametrize(
    "text",
    ["ftp://host/x", "dicom://host:104", "dicom://AE@host", "dicom://AE@host:notaport",
        "dicom://THIS_AE_TITLE_IS_TOO_LONG@h:104"],
)
def test_bad_destinations_are_refused_by_name(text):
    with pytest.raises(SendError, match="destination|AE title|dicom://AE_TITLE@host:port"):
        parse_destination(text)


def test_an_exported_segmentation_is_sent_with_its_source_series(orthanc_as_shipped, scene, demo, tmp_path):
    from DicomManager.app.segmentation_actions import SegmentationActions
    from DicomManager.mrml.segmentation_nodes import create_segmentation_node

    actions = SegmentationActions(scene)
    volume = actions.manager.load_reference_volume(demo.case.series_files[0].parent)
    node = create_segmentation_node(scene, demo.case.labels, demo.case.segments, "organs")
    node.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    written = actions.export(node, tmp_path)

    sent = actions.send(written, node, orthanc_as_shipped.dicomweb_url)  # over the segmentation's own volume

    assert len(sent.sop_instance_uids) == len(demo.case.series_files) + 1
    retrieved = retrieve_with_wado_rs(orthanc_as_shipped.dicomweb_url, written.paths[0], tmp_path / "back")
    assert_loads_identically(written.paths[0], retrieved)


def test_c_store_sends_a_seg_with_deflated_frames_inflated(orthanc_as_shipped, tmp_path):
    """Deflated Image Frame Compression cannot go on the wire through pydicom: it is sent inflated, and stored so."""
    from test_real_world_variants import write_with_deflated_frames_by_pydicom

    original = tmp_path / "liver.dcm"
    dataset = pydicom.dcmread(shared_data("dcmqi/liver.dcm"))
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()  # not the instance another test stored
    dataset.save_as(original)
    deflated = tmp_path / "liver-deflated-frames.dcm"
    write_with_deflated_frames_by_pydicom(original, deflated)
    source = sorted(shared_data("dcmqi/ct-3slice").glob("*.dcm"))

    sent = send_files([*source, deflated], parse_destination(orthanc_as_shipped.dimse_url))

    assert sent.sent_decompressed == (deflated,)
    stored = pydicom.dcmread(pydicom.filebase.DicomBytesIO(orthanc_as_shipped.instance_file(dataset.SOPInstanceUID)))
    assert stored.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    retrieved = retrieve_with_wado_rs(orthanc_as_shipped.dicomweb_url, deflated, tmp_path / "back")
    assert_loads_identically(original, retrieved)
