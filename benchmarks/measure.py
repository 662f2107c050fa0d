"""One measured operation, run in a process of its own so that its peak memory is its own.

``python benchmarks/measure.py OPERATION CASE_DIR WORK_DIR [--compression C]``
runs the operation twice and prints one JSON line: ``seconds`` (the second,
warm run of the operation only, set-up excluded),
``peak_rss_mb`` (of this process, set-up included: what a user's process
would hold) and ``output_bytes``. Commands that are a process of their own
(``cli_*``, ``today_*``) are timed from outside by run.py instead.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def ours_export(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    """From a segmentation node and its DICOM volume node to the closed SEG file (source headers read inside)."""
    from DicomManager.core.compression import Compression
    from DicomManager.mrml.manager import DicomManager
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.storage import read_segmentation_file

    session = start_session()
    manager = DicomManager(session.scene)
    volume = manager.load_reference_volume(case / "ct")
    node = read_segmentation_file(session.scene, case / "segmentation.seg.nrrd")
    output = work / f"ours_{compression}.dcm"
    started = time.perf_counter()
    manager.export_segmentation(
        node, volume, work, compression=Compression(compression), file_name=output.name, overwrite=True
    )
    return time.perf_counter() - started, output


def ours_load(case: Path, work: Path, compression: str, seg: Path | None = None) -> tuple[float, Path]:
    """From a SEG file to a segmentation node on the reference volume's grid."""
    from DicomManager.mrml.manager import DicomManager
    from DicomManager.mrml.scene_setup import start_session

    session = start_session()
    manager = DicomManager(session.scene)
    volume = manager.load_reference_volume(case / "ct")
    seg = seg or work / f"ours_{compression}.dcm"
    started = time.perf_counter()
    manager.load_segmentation(seg, volume)
    return time.perf_counter() - started, seg


def ours_load_binary(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    return ours_load(case, work, compression, case / "binary.dcm")


def highdicom_export(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    """highdicom alone: source headers + label array -> Segmentation(...) + save_as."""
    import highdicom as hd
    import numpy as np
    import pydicom

    from DicomManager.core.compression import Compression
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.storage import read_label_volume

    labels = read_label_volume(start_session().scene, case / "labels.nrrd")
    description = [
        hd.seg.SegmentDescription(n, f"Organ {n}", hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
                                  hd.sr.CodedConcept("85756007", "SCT", "Tissue"), "MANUAL")
        for n in range(1, int(labels.array.max()) + 1)
    ]
    chosen = Compression(compression)
    syntax = chosen.transfer_syntax_uid if chosen.encodes_pixels else Compression.NONE.transfer_syntax_uid
    output = work / f"highdicom_{compression}.dcm"
    started = time.perf_counter()
    sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted((case / "ct").glob("*.dcm"))]
    seg = hd.seg.Segmentation(
        source_images=sources, pixel_array=labels.with_array(labels.array.astype(np.uint8)),
        segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP, segment_descriptions=description,
        series_instance_uid=hd.UID(), series_number=300, sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="bench", manufacturer_model_name="bench", software_versions="0", device_serial_number="1",
        transfer_syntax_uid=syntax, omit_empty_frames=True,
    )
    if not chosen.encodes_pixels:
        seg.file_meta.TransferSyntaxUID = chosen.transfer_syntax_uid
    seg.save_as(output)
    return time.perf_counter() - started, output


def highdicom_load(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    """highdicom alone, pydicom's default decoders: segread + get_volume(combine_segments=True)."""
    import highdicom as hd

    seg_path = work / f"ours_{compression}.dcm"
    started = time.perf_counter()
    hd.seg.segread(seg_path).get_volume(combine_segments=True, skip_overlap_checks=True)
    return time.perf_counter() - started, seg_path


def segnrrd_write(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    """Slicer's own file: a segmentation node written as .seg.nrrd through its storage node."""
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.storage import read_segmentation_file, write_segmentation_file

    session = start_session()
    node = read_segmentation_file(session.scene, case / "segmentation.seg.nrrd")
    output = work / "written.seg.nrrd"
    output.unlink(missing_ok=True)
    started = time.perf_counter()
    write_segmentation_file(node, output)
    return time.perf_counter() - started, output


def segnrrd_read(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.storage import read_segmentation_file

    session = start_session()
    started = time.perf_counter()
    read_segmentation_file(session.scene, case / "segmentation.seg.nrrd")
    return time.perf_counter() - started, case / "segmentation.seg.nrrd"


def today_export(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    """Slicer's path today: .seg.nrrd -> labelmap NRRD (Segmentations logic) -> dcmqi itkimage2segimage."""
    import slicer

    from DicomManager.mrml.scene_setup import start_session

    session = start_session()
    scene = session.scene
    started = time.perf_counter()
    storage = slicer.vtkMRMLSegmentationStorageNode()
    storage.SetFileName(str(case / "segmentation.seg.nrrd"))
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    storage.ReadData(node)
    labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
    session.segmentations_logic.ExportAllSegmentsToLabelmapNode(node, labelmap)
    nrrd = work / "today_labels.nrrd"
    writer = slicer.vtkMRMLVolumeArchetypeStorageNode()
    writer.SetFileName(str(nrrd))
    writer.WriteData(labelmap)
    output = work / "today.dcm"
    output.unlink(missing_ok=True)
    subprocess.run(
        [_tool("itkimage2segimage"), "--inputImageList", str(nrrd), "--inputDICOMDirectory", str(case / "ct"),
         "--inputMetadata", str(case / "dcmqi.json"), "--outputDICOM", str(output),
         "--segmentationType", "labelmap", "--useLabelIDAsSegmentNumber"],
        check=True, capture_output=True,
    )
    return time.perf_counter() - started, output


def today_load(case: Path, work: Path, compression: str, seg: Path | None = None) -> tuple[float, Path]:
    """Slicer's core plugin's path: dcmqi segimage2itkimage -> NRRD(s) -> import into a segmentation node."""
    import slicer

    from DicomManager.mrml.scene_setup import start_session

    session = start_session()
    scene = session.scene
    seg = seg or work / "today.dcm"
    output = work / "today_load"
    started = time.perf_counter()
    output.mkdir(exist_ok=True)
    for old in output.glob("*"):
        old.unlink()
    subprocess.run([_tool("segimage2itkimage"), "--inputDICOM", str(seg), "--outputDirectory", str(output),
                    "--mergeSegments"], check=True, capture_output=True)
    node = scene.AddNewNodeByClass("vtkMRMLSegmentationNode")
    for nrrd in sorted(output.glob("*.nrrd")):
        labelmap = scene.AddNewNodeByClass("vtkMRMLLabelMapVolumeNode")
        reader = slicer.vtkMRMLVolumeArchetypeStorageNode()
        reader.SetFileName(str(nrrd))
        reader.SetSingleFile(True)
        reader.ReadData(labelmap)
        session.segmentations_logic.ImportLabelmapToSegmentationNode(labelmap, node)
        scene.RemoveNode(labelmap)
    return time.perf_counter() - started, seg


def today_load_binary(case: Path, work: Path, compression: str) -> tuple[float, Path]:
    return today_load(case, work, compression, case / "binary.dcm")


def _tool(name: str) -> str:
    import shutil

    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit(f"{name} is not installed beside {sys.executable} (pip install dcmqi)")
    return found


OPERATIONS = {function.__name__: function for function in (
    ours_export, ours_load, ours_load_binary, highdicom_export, highdicom_load,
    segnrrd_write, segnrrd_read, today_export, today_load, today_load_binary,
)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("operation", choices=sorted(OPERATIONS))
    parser.add_argument("case", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--compression", default="rle")
    arguments = parser.parse_args()
    operation = OPERATIONS[arguments.operation]
    # The first call pays for lazy imports and first-use tables (highdicom's IOD map, codecs): a cold start
    # that a command-line process pays once and the Slicer application once per session. The second is timed.
    operation(arguments.case, arguments.work, arguments.compression)
    seconds, output = operation(arguments.case, arguments.work, arguments.compression)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "peak_rss_mb": max(peak, children), "output_bytes": output.stat().st_size}))


if __name__ == "__main__":
    main()
