"""One measured operation, run in a process of its own so that its peak memory is its own.

``python benchmarks/measure.py OPERATION CASE_DIR WORK_DIR [--compression C]``
runs the operation twice and prints one JSON line: ``seconds`` (the second,
warm run of the operation only, set-up excluded), ``operation_mb`` (the most
memory the first run held above what set-up left in the process: dcmqi's
own processes are not counted), ``peak_rss_mb`` (of the whole process, set-up
such as the CT volume node included) and ``output_bytes``. Commands that are a process of their own
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


class measured:
    """Time a block and watch its memory.

    ``seconds`` is the block's wall time; ``extra_mb`` the most memory the block
    held above what the process held when it started. On Linux the kernel's
    high-water mark (VmHWM) is reset when the block starts and read when it
    ends, so nothing runs beside the block: a thread sampling the resident size
    every 5 ms, as elsewhere, competes for the GIL with the code it measures
    (seen: C's BINARY load 1.3 to 1.8 s with it, 1.2 s without). Memory freed
    by set-up is first handed back to the system (glibc ``malloc_trim``), or
    the block could reuse it unseen.
    """

    def __enter__(self) -> measured:
        _trim_heap()
        self._start_rss = current_rss_mb()
        self._peak = self._start_rss
        self._thread = None
        if not _reset_peak_rss():
            import threading

            self._running = True

            def sample() -> None:
                while self._running:
                    self._peak = max(self._peak, current_rss_mb())
                    time.sleep(0.005)

            self._thread = threading.Thread(target=sample, daemon=True)
            self._thread.start()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc_info) -> None:
        self.seconds = time.perf_counter() - self._started
        if self._thread is not None:
            self._running = False
            self._thread.join()
        else:
            self._peak = _status_mb("VmHWM:")
        self.extra_mb = max(0.0, max(self._peak, current_rss_mb()) - self._start_rss)


_PROCESS_PEAK_MB = [0.0]  # the high-water marks reset so far: the whole process's peak is their maximum


def _reset_peak_rss() -> bool:
    """Reset this process's resident-memory high-water mark (Linux 4.0+); False where that is not possible."""
    _PROCESS_PEAK_MB[0] = max(_PROCESS_PEAK_MB[0], _status_mb("VmHWM:"))
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _trim_heap() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the measure may miss reused memory
        pass


def ours_seg_path(work: Path, compression: str, cropped: bool = False) -> Path:
    """Where ``ours_export`` writes its SEG, which the load operations then read."""
    return work / f"ours_{compression}{'_cropped' if cropped else ''}.dcm"


def ours_export(
    case: Path, work: Path, compression: str, crop_to_segments: bool = False, workers: int = 0
) -> tuple[measured, Path]:
    """From a segmentation node and its DICOM volume node to the closed SEG file (source headers read inside)."""
    from DicomManager import DicomManager, ExportOptions
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.storage import read_segmentation_file

    session = start_session()
    manager = DicomManager(session.scene)
    volume = manager.load_reference_volume(case / "ct")
    node = read_segmentation_file(session.scene, case / "segmentation.seg.nrrd")
    output = ours_seg_path(work, compression, crop_to_segments)
    with measured() as timer:
        options = ExportOptions(
            compression=compression, file_name=output.name, overwrite=True, crop_to_segments=crop_to_segments, workers=workers
        )
        manager.export_segmentation(node, volume, work, options)
    return timer, output


def ours_export_all_cores(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    """``ours_export`` with frames encoded on every core where that pays (ExportOptions.workers=ALL_CORES, as the CLI)."""
    from DicomManager.core.codecs.encoding_workers import ALL_CORES

    return ours_export(case, work, compression, workers=ALL_CORES)


def ours_export_cropped(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    """``ours_export`` with frames cropped to the segments' rectangle: the smallest SEG."""
    return ours_export(case, work, compression, crop_to_segments=True)


def ours_load(case: Path, work: Path, compression: str, seg: Path | None = None) -> tuple[measured, Path]:
    """From a SEG file to a segmentation node on the reference volume's grid."""
    from DicomManager.mrml.manager import DicomManager
    from DicomManager.mrml.scene_setup import start_session

    session = start_session()
    manager = DicomManager(session.scene)
    volume = manager.load_reference_volume(case / "ct")
    seg = seg or ours_seg_path(work, compression)
    with measured() as timer:
        manager.load_segmentation(seg, volume)
    return timer, seg


def ours_load_cropped(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    return ours_load(case, work, compression, ours_seg_path(work, compression, cropped=True))


def ours_load_binary(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    return ours_load(case, work, compression, case / "binary.dcm")


def highdicom_export(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    """highdicom alone: source headers + label array -> Segmentation(...) + save_as."""
    import highdicom as hd
    import numpy as np
    import pydicom

    from DicomManager import Compression
    from DicomManager.core.label_files.label_volume_files import read_label_volume

    labels = read_label_volume(case / "labels.nrrd")
    description = [
        hd.seg.SegmentDescription(n, f"Organ {n}", hd.sr.CodedConcept("85756007", "SCT", "Tissue"),
                                  hd.sr.CodedConcept("85756007", "SCT", "Tissue"), "MANUAL")
        for n in range(1, int(labels.array.max()) + 1)
    ]
    dtype = np.uint8 if len(description) <= np.iinfo(np.uint8).max else np.uint16
    chosen = Compression(compression)
    syntax = chosen.frame_transfer_syntax_uid
    output = work / f"highdicom_{compression}.dcm"
    with measured() as timer:
        sources = [pydicom.dcmread(p, stop_before_pixels=True) for p in sorted((case / "ct").glob("*.dcm"))]
        seg = hd.seg.Segmentation(
            source_images=sources, pixel_array=labels.with_array(labels.array.astype(dtype)),
            segmentation_type=hd.seg.SegmentationTypeValues.LABELMAP, segment_descriptions=description,
            series_instance_uid=hd.UID(), series_number=300, sop_instance_uid=hd.UID(), instance_number=1,
            manufacturer="bench", manufacturer_model_name="bench", software_versions="0", device_serial_number="1",
            transfer_syntax_uid=syntax, omit_empty_frames=True,
        )
        if not chosen.encodes_pixels:
            seg.file_meta.TransferSyntaxUID = chosen.transfer_syntax_uid
        seg.save_as(output)
    return timer, output


def highdicom_load(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    """highdicom alone, pydicom's default decoders: segread + get_volume(combine_segments=True)."""
    import highdicom as hd

    seg_path = ours_seg_path(work, compression)
    with measured() as timer:
        hd.seg.segread(seg_path).get_volume(combine_segments=True, skip_overlap_checks=True)
    return timer, seg_path


def segnrrd_write(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    """Slicer's own file: a segmentation node written as .seg.nrrd through its storage node."""
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.storage import read_segmentation_file, write_segmentation_file

    session = start_session()
    node = read_segmentation_file(session.scene, case / "segmentation.seg.nrrd")
    output = work / "written.seg.nrrd"
    output.unlink(missing_ok=True)
    with measured() as timer:
        write_segmentation_file(node, output)
    return timer, output


def segnrrd_read(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    from DicomManager.mrml.scene_setup import start_session
    from DicomManager.mrml.storage import read_segmentation_file

    session = start_session()
    with measured() as timer:
        read_segmentation_file(session.scene, case / "segmentation.seg.nrrd")
    return timer, case / "segmentation.seg.nrrd"


def today_export(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    """Slicer's path today: .seg.nrrd -> labelmap NRRD (Segmentations logic) -> dcmqi itkimage2segimage, BINARY."""
    import slicer

    from DicomManager.mrml.scene_setup import start_session

    session = start_session()
    scene = session.scene
    with measured() as timer:
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
             "--useLabelIDAsSegmentNumber"],
            check=True, capture_output=True,
        )
    return timer, output


def today_load(case: Path, work: Path, compression: str, seg: Path | None = None) -> tuple[measured, Path]:
    """Slicer's core plugin's path: dcmqi segimage2itkimage -> NRRD(s) -> import into a segmentation node."""
    import slicer

    from DicomManager.mrml.scene_setup import start_session

    session = start_session()
    scene = session.scene
    seg = seg or work / "today.dcm"
    output = work / "today_load"
    with measured() as timer:
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
    return timer, seg


def today_load_binary(case: Path, work: Path, compression: str) -> tuple[measured, Path]:
    return today_load(case, work, compression, case / "binary.dcm")


def _tool(name: str) -> str:
    import shutil

    found = shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        raise SystemExit(f"{name} is not installed beside {sys.executable} (pip install dcmqi)")
    return found


OPERATIONS = {function.__name__: function for function in (
    ours_export, ours_export_all_cores, ours_load, ours_export_cropped, ours_load_cropped, ours_load_binary,
    highdicom_export, highdicom_load, segnrrd_write, segnrrd_read, today_export, today_load, today_load_binary,
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
    # that a command-line process pays once and the Slicer application once per session. Its memory is what
    # the operation needs (a second call reuses what the allocator kept); the second call's time is reported.
    first, _ = operation(arguments.case, arguments.work, arguments.compression)
    timer, output = operation(arguments.case, arguments.work, arguments.compression)
    timer.extra_mb = first.extra_mb
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, _PROCESS_PEAK_MB[0])
    print(json.dumps({
        "seconds": timer.seconds,
        "peak_rss_mb": peak,
        "operation_mb": timer.extra_mb,
        "output_bytes": output.stat().st_size,
    }))


def current_rss_mb() -> float:
    """This process's resident memory now (Linux), to tell an operation's own peak from what set-up holds."""
    return _status_mb("VmRSS:")


def _status_mb(field: str) -> float:
    """A memory field of /proc/self/status in MB (0 where there is none)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
