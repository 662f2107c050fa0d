"""One DICOM browser session in a process of its own: examine and load of a SEG and its CT by one checkout's plugin.

    python benchmarks/browser_session.py CHECKOUT CASE_DIR SEG ORDER RESULT_JSON

``CHECKOUT`` is the source tree whose plugin file and ``DicomManager`` are measured (this one, or a
baseline's); the browser around them is this checkout's ``Testing/pytest/dicom_browser.py``, as
``test_dicom_browser_loop.py`` drives the plugin. ``ORDER`` is ``ct-first`` (the CT's plugin loads
first: the SEG goes onto the CT's grid as it loads) or ``seg-first`` (our plugin first: the SEG is
loaded on its own grid and moved onto the CT once the CT's volume arrives, on the Qt event loop).
The session runs twice, into an emptied scene: the first pays for imports and first-use tables,
as a Slicer session's first load does. Writes one JSON object: the seconds (of the second session)
and memory added (of the first; measure.py's ``measured``) of the examine step and of the load step
(the whole batch, the CT's load and the move included), the seconds of the CT's load alone, and how
often each step opened the SEG file. The process stops with an error unless the segmentation ended
on the CT's grid with the case's labels.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDERS = ("ct-first", "seg-first")


def main() -> None:
    checkout, case, seg, order, result = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), Path(sys.argv[3]), *sys.argv[4:6]
    if order not in ORDERS:
        raise SystemExit(f"ORDER is one of {', '.join(ORDERS)}, not {order!r}")
    sys.path[:0] = [str(checkout), str(HERE), str(HERE.parent / "Testing" / "pytest")]  # the measured DicomManager first
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import slicer
    from dicom_browser import (
        DicomDatabase,
        FileOpens,
        ScalarVolumePlugin,
        application_attributes,
        application_modules,
        examine_and_select,
        load_plugin_module,
        load_selected,
    )
    from measure import measured
    from PySide6.QtCore import QCoreApplication, QTimer

    import DicomManager
    from DicomManager.mrml.scene_setup import start_session

    application = QCoreApplication([])
    session = start_session()
    ct_files = [str(path) for path in sorted((case / "ct").glob("*.dcm"))]
    database = DicomDatabase([seg, *map(Path, ct_files)])  # Slicer's database has these tags from the import
    sys.modules.update(application_modules(QTimer))
    for name, value in application_attributes(session.scene, database, application.processEvents).items():
        setattr(slicer, name, value)
    plugin_module = load_plugin_module(checkout / "DICOMLabelMapSegPlugin" / "DICOMLabelMapSegPlugin.py")

    def browse() -> dict:
        """Examine and load into an empty scene, as a user's first browser load of the study."""
        session.scene.Clear(0)
        ours, ct_plugin = plugin_module.DICOMLabelMapSegPluginClass(), ScalarVolumePlugin()
        ct_seconds = _timed(ct_plugin)
        plugins = [ct_plugin, ours] if order == "ct-first" else [ours, ct_plugin]  # the browser loads in plugin order
        with FileOpens([seg]) as examine_opens, measured() as examine:
            selected = examine_and_select(plugins, [[str(seg)], ct_files])
        with FileOpens([seg]) as load_opens, measured() as load:
            failed = load_selected(selected)
            application.processEvents()  # where a SEG loaded before its CT moves onto it
        if failed:
            raise SystemExit(f"the browser could not load {failed}")
        return {"examine_s": examine.seconds, "examine_mb": examine.extra_mb,
                "load_s": load.seconds, "load_mb": load.extra_mb, "ct_load_s": ct_seconds[0],
                "seg_opens_examine": examine_opens.counts[str(seg)], "seg_opens_load": load_opens.counts[str(seg)]}

    # As measure.py: the first session pays for lazy imports and first-use tables, once per Slicer session; its
    # memory is what the path needs (a second reuses what the allocator kept); the second's times are reported.
    first = browse()
    second = browse()
    _check_on_ct_with_labels(session.scene, case / "labels.nrrd")
    Path(result).write_text(json.dumps(second | {
        "dicom_manager": str(Path(DicomManager.__file__).parent),
        "examine_mb": first["examine_mb"], "load_mb": first["load_mb"],
        "first_examine_s": first["examine_s"], "first_load_s": first["load_s"],
    }))


def _timed(plugin) -> list[float]:
    """Make ``plugin.load`` add its seconds to the one-item list returned."""
    seconds = [0.0]
    load = plugin.load

    def timed_load(loadable):
        started = time.perf_counter()
        try:
            return load(loadable)
        finally:
            seconds[0] += time.perf_counter() - started

    plugin.load = timed_load
    return seconds


def _check_on_ct_with_labels(scene, labels_file: Path) -> None:
    """Stop unless the one segmentation references the CT's volume and holds the labels of ``labels_file`` on its grid."""
    import numpy as np

    from DicomManager.core.label_files.label_volume_files import read_label_volume
    from DicomManager.mrml.segmentation_nodes import labels_from_segmentation_node
    from DicomManager.mrml.volume_nodes import grid_of_volume_node

    volume = scene.GetFirstNodeByClass("vtkMRMLScalarVolumeNode")
    segmentation = scene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
    if segmentation is None or segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole()) is not volume:
        raise SystemExit("the SEG was not loaded onto its CT's grid")
    grid = grid_of_volume_node(volume)
    on_ct, _numbers = labels_from_segmentation_node(segmentation, grid)
    expected = read_label_volume(labels_file).match_geometry(grid).array
    if not np.array_equal(on_ct, expected):
        raise SystemExit(f"the loaded labels differ from the case's in {np.count_nonzero(on_ct != expected)} voxels")


if __name__ == "__main__":
    main()
