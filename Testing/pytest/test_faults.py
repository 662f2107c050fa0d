"""Faults, through the command line as a subprocess: full and read-only disks, kill -9, two runs at once.

Each command that writes must end with one line naming the path and the
cause, leave no file half-written or left over, and finish on a later run.

Full and read-only disks are small tmpfs file systems the test mounts (as
root, where the machine allows it): a full one is filled up first, a
read-only one is remounted read-only. Where mounting is refused, a full disk
is a file size limit on the command (RLIMIT_FSIZE of 512 bytes: a longer
write fails with EFBIG, "file too large"), and a read-only folder is one without
write permission (root's capabilities that override permissions are then
dropped for the command). The test says which it used; neither way is skipped.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from conftest import blob_labels, dciodvfy_errors, demo_segments, make_grid, shared_data, unavailable

from DicomManager.core.label_files.label_volume_files import write_label_volume
from DicomManager.core.segments.sop_classes import LABELMAP_SEG_SOP_CLASS_UID
from DicomManager.mrml.segmentation_nodes import create_segmentation_node
from DicomManager.mrml.storage import write_segmentation_file

CLI = [sys.executable, "-m", "DicomManager.cli.program"]
DATA = "dcmqi/23x38x3"
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


@dataclass
class Disk:
    """A folder whose writes fail, how it was made, and what the command is to say."""

    folder: Path
    cause: str
    how: str
    preexec: Callable[[], None] | None = None
    only_this_folder: bool = True
    """False for a file size limit, which refuses writes everywhere."""

    def run(self, *arguments: object, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_cli(*arguments, preexec=self.preexec, timeout=timeout)


def run_cli(*arguments: object, preexec: Callable[[], None] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, *map(str, arguments)], capture_output=True, text=True, check=False, preexec_fn=preexec, timeout=timeout
    )


@contextlib.contextmanager
def tmpfs(folder: Path, size: str) -> Iterator[bool]:
    """A tmpfs of ``size`` mounted on ``folder`` while in use; False (nothing mounted) where mounting is refused."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = (
        os.geteuid() == 0
        and shutil.which("mount") is not None
        and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                           capture_output=True, check=False).returncode == 0
    )
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> None:
    """Write a filler file until the file system has no space left."""
    with open(folder / "filler", "wb", buffering=0) as file:
        for chunk in (b"\0" * 4096, b"\0"):  # pages, then the bytes left over: a small output must not fit
            with contextlib.suppress(OSError):
                while True:
                    file.write(chunk)


def _no_file_size(limit: int) -> Callable[[], None]:
    def limit_file_size() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return limit_file_size


def _without_permission_override() -> None:
    """Root's capabilities that pass over file permissions, given up for good (dropped from the bounding set)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0)


@pytest.fixture(params=["full", "read-only"])
def refusing_disk(request, tmp_path, scene) -> Iterator[Disk]:
    """A disk that refuses writes, holding a run folder (``run``) for ``migrate`` put there before."""
    folder = tmp_path / request.param
    with tmpfs(folder, "256k") as mounted:
        migration_run(folder / "run", scene)
        if request.param == "full":
            if mounted:
                fill(folder)
                yield Disk(folder, "no space left on the device", "a full tmpfs")
            else:
                # 512 bytes: multiprocessing's semaphores still fit, no output does
                yield Disk(folder, "file too large", "a file size limit of 512 bytes", _no_file_size(512),
                           only_this_folder=False)
        elif mounted:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
            yield Disk(folder, "read-only file system", "a read-only tmpfs")
        else:
            for each in (folder, *(path for path in folder.rglob("*") if path.is_dir())):
                each.chmod(0o555)
            if os.geteuid() != 0:
                yield Disk(folder, "permission denied", "a folder without write permission")
            else:
                probe = run_cli("demo", "--output", folder / "probe", preexec=_without_permission_override)
                if "permission denied" not in probe.stderr:
                    unavailable(f"root here can neither mount a tmpfs nor give up overriding permissions: {probe.stderr}")
                yield Disk(folder, "permission denied", "a folder without write permission, root's override given up",
                           _without_permission_override)


def files_under(folder: Path) -> list[Path]:
    """The files under ``folder``, but for what a refusing disk held before (the filler, the run folder's inputs)."""
    def held_before(path: Path) -> bool:
        return path.name == "filler" or (path.relative_to(folder).parts[0] == "run" and "dicom" not in path.parts)

    return sorted(path for path in folder.rglob("*") if path.is_file() and not held_before(path))


def assert_one_line_naming(completed: subprocess.CompletedProcess, disk: Disk) -> None:
    assert completed.returncode == 1, (disk.how, completed.stdout, completed.stderr)
    assert "Traceback" not in completed.stderr, disk.how
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, (disk.how, completed.stderr)
    assert str(disk.folder) in errors[0] and disk.cause in errors[0], (disk.how, errors[0])


CASES = 4
ITEMS = {  # a classic SEG from dcmqi, and its source series, as each case holds them
    "liver.dcm": ("dcmqi/liver.dcm", "dcmqi/ct-3slice"),
    "a/label.seg": (f"{DATA}/seg/label.seg", f"{DATA}/image"),
    "b/label.seg": ("dcmqi/24x38x3/seg/label.seg", "dcmqi/24x38x3/image"),
}
EXPECTED_OUTPUTS = sorted(f"case{case}/{name}" for case in range(CASES) for name in ITEMS)


@pytest.fixture
def tree(tmp_path) -> Path:
    """Classic SEGs from dcmqi beside their source series, in cases that are copies with UIDs of their own."""
    root = tmp_path / "tree"
    for case in range(CASES):
        uids: dict[str, str] = {}
        for name, (seg, series) in ITEMS.items():
            target = root / f"case{case}" / name
            copy_with_new_uids(shared_data(seg), target, uids)
            for image in sorted(shared_data(series).iterdir()):
                copy_with_new_uids(image, target.parent / f"{Path(series).name}" / image.name, uids)
    return root


def copy_with_new_uids(source: Path, target: Path, uids: dict[str, str]) -> None:
    """``source`` written to ``target`` with each instance, series, study and frame of reference UID replaced
    as ``uids`` says (new ones added), so that copies stay linked among themselves but not to the original."""
    dataset = pydicom.dcmread(source)

    def replace(dataset: pydicom.Dataset, element: pydicom.DataElement) -> None:
        if element.VR == "UI" and element.value and not str(element.value).startswith("1.2.840.10008."):
            element.value = uids.setdefault(str(element.value), hd.UID())

    dataset.walk(replace)
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    target.parent.mkdir(parents=True, exist_ok=True)
    dataset.save_as(target, enforce_file_format=True)


def assert_converted(output_tree: Path) -> None:
    """Every input converted once, each a complete LABELMAP SEG highdicom reads, nothing else left."""
    outputs = files_under(output_tree)
    assert [str(path.relative_to(output_tree)) for path in outputs] == EXPECTED_OUTPUTS
    for path in outputs:
        seg = hd.seg.segread(path)
        assert seg.SOPClassUID == LABELMAP_SEG_SOP_CLASS_UID
        assert seg.get_volume().array.any()
    assert not [p for p in output_tree.rglob("*") if ".partial-" in p.name]


def test_every_writing_command_on_a_refusing_disk_says_so_in_one_line(refusing_disk, tmp_path, tree):
    disk = refusing_disk
    data = shared_data(DATA)
    run = disk.folder / "run"
    commands = {
        "export": ["export", "--reference", data / "image", "--segmentation", data / "nrrd/label.nrrd",
                   "--output", disk.folder / "label.dcm"],
        "import": ["import", data / "seg/label.seg", "--output", disk.folder / "label.seg.nrrd"],
        "preview": ["preview", data / "seg/label.seg", "--output", disk.folder / "label.png"],
        "demo": ["demo", "--output", disk.folder / "demo"],
        "migrate": ["migrate", run, "--reference", run / "volume.nrrd"],
    }
    for name, arguments in commands.items():
        assert_one_line_naming(disk.run(*arguments), disk)
        assert files_under(disk.folder) == [], (name, disk.how)

    # import --labelmap: the .seg.nrrd goes where it can be written, the label volume cannot: neither is left.
    # (Under a file size limit nothing can be written; the read-only disk, always a folder of its own, tests this.)
    if disk.only_this_folder:
        completed = disk.run("import", data / "seg/label.seg", "--output", tmp_path / "label.seg.nrrd",
                             "--labelmap", disk.folder / "label.nrrd")
        assert_one_line_naming(completed, disk)
        assert not (tmp_path / "label.seg.nrrd").exists()

    # convert: each item fails in one line with the cause; nothing is written.
    completed = disk.run("convert", tree, disk.folder / "out", "--workers", "2")
    assert completed.returncode == 1 and "Traceback" not in completed.stderr, completed.stderr
    failures = [line for line in completed.stderr.splitlines() if line.startswith("failed:")]
    assert len(failures) == len(EXPECTED_OUTPUTS), completed.stderr
    assert all(str(disk.folder) in line and disk.cause in line for line in failures), failures
    assert files_under(disk.folder) == []


def migration_run(folder: Path, scene, shape=(6, 24, 20), origin=(-20.0, -15.0, 30.0)) -> Path:
    """A run folder: a NRRD volume beside it, three trials as Slicer writes them, results.json."""
    grid = make_grid(shape, origin=origin)
    voxels = (np.indices(shape).sum(axis=0) * 7).astype(np.int16)
    folder.mkdir(parents=True)
    write_label_volume(hd.Volume(voxels, grid.affine, "PATIENT"), folder / "volume.nrrd")
    for number in range(3):
        labels = hd.Volume(blob_labels(shape, [1, 2], seed=number), grid.affine, "PATIENT")
        node = create_segmentation_node(scene, labels, demo_segments([1, 2]), f"trial {number}")
        write_segmentation_file(node, folder / "segmentations" / f"trial_{number:03d}.seg.nrrd")
    trials = [{"trial": number, "algorithm": "watershed", "parameters": {"level": number}} for number in range(3)]
    (folder / "results.json").write_text(json.dumps({"sample_data": "Phantom", "run": "run_A", "trials": trials}))
    return folder


def pages(path: Path) -> int:
    return -(-path.stat().st_size // 4096)


def test_migrate_stops_at_a_full_disk_with_its_report_and_resumes(tmp_path, scene):
    """The disk fills at the second trial: the report and results.json name what was done; a run with space finishes.

    Without a mount, a file size limit between the volume's images and a SEG refuses the first trial instead.
    """
    shape = (24, 64, 64)
    measured = migration_run(tmp_path / "measured", scene, shape)
    assert run_cli("migrate", measured, "--reference", measured / "volume.nrrd", "--compression", "none").returncode == 0
    dicom = measured / "dicom"
    inputs = sum(pages(path) for path in measured.rglob("*") if path.is_file() and "dicom" not in path.parts)
    volume = sum(pages(path) for path in (dicom / "volume").iterdir())
    first = pages(dicom / "segmentations/trial_000.dcm") + pages(dicom / "previews/trial_000.png")
    second = pages(dicom / "segmentations/trial_001.dcm")
    assert second > 8, "a SEG bigger than the reports, so its removed partial leaves room for them"
    room = inputs + volume + first + second // 2 + 4  # the second SEG does not fit, the reports do

    folder = tmp_path / "disk"
    with tmpfs(folder, f"{room * 4}k") as mounted:
        run = folder / "run"
        shutil.copytree(measured, run, ignore=shutil.ignore_patterns("dicom", "*.before-dicom"))
        (run / "results.json").write_text((measured / "results.json.before-dicom").read_text())
        if mounted:
            limit, cause, done = None, "no space left on the device", ["trial_000"]
        else:
            largest_other = max(path.stat().st_size for path in [*(dicom / "volume").iterdir(), *(dicom / "previews").iterdir()])
            assert largest_other < (dicom / "segmentations/trial_000.dcm").stat().st_size
            limit, cause, done = _no_file_size(largest_other + 1), "file too large", []
        stopped = run_cli("migrate", run, "--reference", run / "volume.nrrd", "--compression", "none", preexec=limit)
        assert stopped.returncode == 1, stopped.stdout + stopped.stderr
        assert "Traceback" not in stopped.stderr and "stopped" in stopped.stdout, stopped.stdout
        report = json.loads((run / "dicom/migration_report.json").read_text())
        statuses = [(o["name"], o["status"]) for o in report["outcomes"]]
        failed = f"trial_{len(done):03d}"
        assert statuses == [*((name, "migrated") for name in done), (failed, "failed")], statuses
        assert cause in report["outcomes"][-1]["error"] and failed in report["outcomes"][-1]["error"]
        records = json.loads((run / "results.json").read_text())["trials"]
        assert ["dicom_seg_path" in record for record in records] == [n < len(done) for n in range(3)]
        assert not [p for p in run.rglob("*") if ".partial-" in p.name or p.name == ".volume-partial"]
        assert sorted(p.stem for p in (run / "dicom/segmentations").iterdir()) == done

        if mounted:
            subprocess.run(["mount", "-o", f"remount,size={room * 16}k", str(folder)], check=True)
        resumed = run_cli("migrate", run, "--reference", run / "volume.nrrd", "--compression", "none")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert f"{3 - len(done)} migrated, {len(done)} already done" in resumed.stdout
        records = json.loads((run / "results.json").read_text())["trials"]
        assert [r["dicom_seg_path"] for r in records] == [f"dicom/segmentations/trial_{n:03d}.dcm" for n in range(3)]
        for path in (run / "dicom/segmentations").iterdir():
            assert dciodvfy_errors(path) == []


def children_of(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def in_session(session: int) -> list[int]:
    """Live processes (not zombies) of the session ``session`` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def start_convert(tree: Path, output: Path) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "convert", str(tree), str(output), "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killing_convert_alone_ends_its_workers_and_a_rerun_finishes(tree, tmp_path):
    output = tmp_path / "out"
    convert = start_convert(tree, output)
    try:
        assert wait_for(lambda: len(children_of(convert.pid)) >= 3, 60), "two workers and the resource tracker"
        assert wait_for(lambda: output.exists(), 60), "converting"
        convert.send_signal(signal.SIGKILL)
        convert.wait()
        # A worker still importing when its parent died ends when it reaches its initializer: on a loaded machine
        # that takes a while, so the wait is long; without the fix they wait on (the issue saw them after 120 s).
        assert wait_for(lambda: not in_session(convert.pid), 60), f"left running: {in_session(convert.pid)}"
    finally:
        with contextlib.suppress(ProcessLookupError):  # what a failure left, in the session the command started
            os.killpg(convert.pid, signal.SIGKILL)
    rerun = run_cli("convert", tree, output)
    assert rerun.returncode == 0, rerun.stderr
    assert_converted(output)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_after_kill_9_of_the_whole_group_a_rerun_finishes_and_leaves_nothing(tree, tmp_path):
    output = tmp_path / "out"
    for delay in (0.0, 0.3, 0.6):  # killed at different points of the conversion
        convert = start_convert(tree, output)
        wait_for(lambda: output.exists(), 60)
        time.sleep(delay)
        os.killpg(convert.pid, signal.SIGKILL)
        convert.wait()
        assert wait_for(lambda session=convert.pid: not in_session(session), 60)
        for path in files_under(output):
            assert ".partial-" in path.name or pydicom.dcmread(path).SOPClassUID == LABELMAP_SEG_SOP_CLASS_UID
            assert not (".partial-" in path.name and path.suffix == ".dcm"), "a partial a DICOM tool would take for a file"
    rerun = run_cli("convert", tree, output)
    assert rerun.returncode == 0, rerun.stderr
    assert_converted(output)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_after_kill_9_of_migrate_a_rerun_finishes_and_leaves_nothing(tmp_path, scene):
    run = migration_run(tmp_path / "run", scene, shape=(24, 64, 64))
    for delay in (0.0, 0.5):  # killed while making the volume's series, then among the trials
        migrate = subprocess.Popen([*CLI, "migrate", str(run), "--reference", str(run / "volume.nrrd")],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        assert wait_for(lambda: (run / "dicom").exists(), 60)
        time.sleep(delay)
        os.killpg(migrate.pid, signal.SIGKILL)
        migrate.wait()
    rerun = run_cli("migrate", run, "--reference", run / "volume.nrrd")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    report = json.loads((run / "dicom/migration_report.json").read_text())
    assert [o["status"] in ("migrated", "skipped") for o in report["outcomes"]] == [True] * 3
    assert not [p for p in run.rglob("*") if ".partial-" in p.name or p.name == ".volume-partial"]
    assert len(list((run / "dicom/volume").iterdir())) == 24
    for path in (run / "dicom/segmentations").iterdir():
        assert dciodvfy_errors(path) == []


WRITER = """
import sys, time
from pathlib import Path
from DicomManager.core.writing.file_output import write_atomically

def write(temporary):
    temporary.write_bytes(b"half a file")
    print(temporary, flush=True)
    time.sleep(600)

write_atomically(Path(sys.argv[1]), write)
"""


def start_writer(target: Path) -> tuple[subprocess.Popen, Path]:
    """Another process writing ``target``, stopped half-way; returns it and its temporary file."""
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    return writer, Path(writer.stdout.readline().strip())


def test_a_rerun_removes_partials_of_killed_writers_and_skips_items_being_written(tree, tmp_path):
    output = tmp_path / "out"
    killed, stale = start_writer(output / "case0/liver.dcm")
    killed.kill()
    killed.wait()
    alive, live = start_writer(output / "case1/liver.dcm")
    try:
        assert stale.name.startswith(".liver.dcm.partial-") and not stale.name.endswith(".dcm")
        completed = run_cli("convert", tree, output)
        assert completed.returncode == 0, completed.stderr
        assert not stale.exists(), "the partial of a writer that is gone"
        assert live.exists(), "the partial of a writer still at work"
        assert "skipped case1/liver.dcm" in completed.stderr
        assert not (output / "case1/liver.dcm").exists()
    finally:
        alive.kill()
        alive.wait()
    completed = run_cli("convert", tree, output)
    assert completed.returncode == 0, completed.stderr
    assert not live.exists(), "its writer is gone now"
    assert_converted(output)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_partial_of_a_killed_writer_not_yet_reaped_is_stale(tree, tmp_path):
    output = tmp_path / "out"
    zombie, partial = start_writer(output / "case0/liver.dcm")
    zombie.kill()  # not waited for: it stays a zombie, as workers whose parent was killed can until init reaps them
    try:
        assert wait_for(lambda: zombie.pid not in in_session(os.getsid(0)), 60), "ended: a zombie, which in_session leaves out"
        completed = run_cli("convert", tree, output)
        assert completed.returncode == 0, completed.stderr
        assert not partial.exists(), "the partial of a writer that has ended"
        assert_converted(output)
    finally:
        zombie.wait()


def _named_for(partial: Path, pid: int, folder: Path, changed: float) -> Path:
    """A copy of a real writer's ``partial`` in ``folder``, named for process ``pid``, last changed at ``changed``."""
    writer_pid = re.search(r"\.partial-(\d+)@", partial.name)[1]
    copy = folder / partial.name.replace(f".partial-{writer_pid}@", f".partial-{pid}@")
    folder.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(b"half a file")
    os.utime(copy, (changed, changed))
    return copy


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_partial_whose_pid_a_later_process_has_is_stale_and_one_that_process_may_write_is_not(tree, tmp_path):
    # After a reboot, or the PID counter wrapping, a killed writer's PID may name a process that started later.
    output = tmp_path / "out"
    writer, partial = start_writer(tmp_path / "elsewhere/liver.dcm")
    writer.kill()
    writer.wait()
    later = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        an_hour_before = time.time() - 3600
        reused = _named_for(partial, later.pid, output / "case0", an_hour_before)
        fresh = _named_for(partial, later.pid, output / "case1", time.time())
        completed = run_cli("convert", tree, output)
        assert completed.returncode == 0, completed.stderr
        assert not reused.exists(), "last changed before its PID's process started: that process is not its writer"
        assert fresh.exists() and "skipped case1/liver.dcm" in completed.stderr, "may be that process's"
        assert (output / "case0/liver.dcm").exists()
    finally:
        later.kill()
        later.wait()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_partial_named_for_this_process_but_older_than_it_is_stale(tmp_path):
    from DicomManager.core.writing.file_output import being_written_elsewhere, remove_stale_partials

    writer, partial = start_writer(tmp_path / "elsewhere/liver.dcm")
    writer.kill()
    writer.wait()
    older = _named_for(partial, os.getpid(), tmp_path / "a", time.time() - 3600 * 24 * 365)  # before this test run began
    ours = _named_for(partial, os.getpid(), tmp_path / "b", time.time())
    remove_stale_partials(older.parent)
    remove_stale_partials(ours.parent)
    assert not older.exists(), "this process started after it last changed: another, gone, process with our PID wrote it"
    assert ours.exists(), "may be this process's own"
    assert not being_written_elsewhere(ours.parent / "liver.dcm"), "not elsewhere: here"


def test_a_file_that_is_not_dicom_at_an_output_path_is_neither_done_nor_replaced(tree, tmp_path):
    output = tmp_path / "out"
    (output / "case2/a").mkdir(parents=True)
    (output / "case2/a/label.seg").touch()
    completed = run_cli("convert", tree, output)
    assert completed.returncode == 1
    failures = [line for line in completed.stderr.splitlines() if line.startswith("failed:")]
    assert failures == [f"failed: case2/a/label.seg: {output / 'case2/a/label.seg'}: exists but is not a DICOM file (0 bytes), "
                        "so not a finished output; nothing was replaced: remove it to convert this item"]
    assert (output / "case2/a/label.seg").stat().st_size == 0
    (output / "case2/a/label.seg").unlink()
    assert run_cli("convert", tree, output).returncode == 0
    assert_converted(output)


def test_two_converts_on_one_tree_both_succeed_and_write_each_output_once(tree, tmp_path):
    output = tmp_path / "out"
    runs = [start_convert(tree, output) for _ in range(2)]
    results = [run.communicate(timeout=300) for run in runs]
    counts = []
    for run, (stdout, stderr) in zip(runs, results, strict=True):
        assert run.returncode == 0, stderr
        assert "--force" not in stderr and "failed:" not in stderr, stderr
        summary = re.search(r"(\d+) converted, (\d+) skipped, (\d+) failed", stdout)
        counts.append(tuple(map(int, summary.groups())))
    assert all(converted + skipped == len(EXPECTED_OUTPUTS) and failed == 0 for converted, skipped, failed in counts)
    assert sum(converted for converted, _, _ in counts) == len(EXPECTED_OUTPUTS), counts
    assert_converted(output)


def test_the_cause_of_a_refused_write_is_named():
    from DicomManager.core.writing.file_output import describe_os_error

    assert describe_os_error(OSError(errno.ENOSPC, "No space left on device", "/a/b.dcm")) == \
        "/a/b.dcm: no space left on the device"
    assert describe_os_error(OSError(errno.EROFS, "Read-only file system", "/a")) == "/a: read-only file system"
