"""Slicer's DICOM browser as our plugin meets it, outside Slicer: its database, base classes, CT plugin and loop.

Used by ``test_dicom_browser_loop.py`` and by ``benchmarks/browser_path.py``. The lines of Slicer
followed here (v5.12.3; the same code at v5.10.0):

- ``Modules/Scripted/DICOMLib/DICOMUtils.py`` 845-910, ``loadLoadables``: the
  selected loadables are loaded in the order of ``loadablesByPlugin`` (plugin
  order), and ``progressCallback(loadable.name, ...)`` runs before each
  ``plugin.load(loadable)`` (869-876).
- ``Modules/Scripted/DICOMLib/DICOMBrowser.py`` 647-658 (v5.10.0 619-631): the
  browser's progress callback calls ``slicer.app.processEvents()`` twice.
- ``Modules/Scripted/DICOMPlugins/DICOMScalarVolumePlugin.py`` 475-510,
  ``setVolumeNodeProperties``: a CT's subject hierarchy item gets its instance
  UIDs (``addSeriesInSubjectHierarchy``) before the node gets
  ``DICOM.instanceUIDs``.
- ``Modules/Scripted/DICOMLib/DICOMPlugin.py`` 297-389,
  ``addSeriesInSubjectHierarchy``: series UID, instance UIDs, then the
  referenced instance UIDs attribute of the new item; and 28-98, what a
  ``DICOMLoadable`` and a ``DICOMPlugin`` hold.

Real: our plugin's module file (loaded as Slicer's module factory loads it),
slicer-core's scene, subject hierarchy and Segmentations logic, and a Qt event
loop (PySide6's ``QTimer`` standing in for PythonQt's ``qt``). Stood in, as
Slicer's application cannot run outside it: the DICOM database's tag look-ups
(answered from the files with pydicom), the base classes of ``DICOMLib`` (the
lines above) and the scalar volume plugin's load (the volume read by
DicomManager, its subject hierarchy item and attribute set in Slicer's order).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

import pydicom
import slicer

from DicomManager import read_source_series
from DicomManager.mrml.manager import DicomManager
from DicomManager.mrml.volume_nodes import INSTANCE_UIDS_ATTRIBUTE

CLASSIC_SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"


class DicomDatabase:
    """The ``slicer.dicomDatabase`` calls the plugins make, answered from the files' headers with pydicom."""

    isOpen = True  # noqa: N815 (ctkDICOMDatabase's property)

    def __init__(self, files: list[Path]) -> None:
        self._headers = {str(path): pydicom.dcmread(path, stop_before_pixels=True) for path in files}

    def fileValue(self, path: str, tag: str) -> str:
        group, element = (int(part, 16) for part in tag.split(","))
        found = self._headers[str(path)].get((group, element))
        return "" if found is None or found.value is None else str(found.value)

    def filesForSeries(self, series_uid: str) -> list[str]:
        return [path for path, header in self._headers.items() if header.SeriesInstanceUID == series_uid]

    def fileForInstance(self, sop_instance_uid: str) -> str:
        return next((path for path, header in self._headers.items() if header.SOPInstanceUID == sop_instance_uid), "")


class DICOMLoadable:
    """``DICOMLib.DICOMLoadable`` (DICOMPlugin.py 28-70): what the browser lists and a plugin loads."""

    def __init__(self):
        self.files = []
        self.name = "Unknown"
        self.tooltip = ""
        self.warning = ""
        self.selected = False
        self.confidence = 0.5


class DICOMPlugin:
    """``DICOMLib.DICOMPlugin`` (DICOMPlugin.py 76-98, 212-224, 297-389) as far as our plugin uses it."""

    def __init__(self):
        self.loadType = "Generic DICOM"
        self.loadableCache = {}
        self.tags = {"seriesDescription": "0008,103E", "seriesInstanceUID": "0020,000E", "modality": "0008,0060",
                     "instanceUID": "0008,0018", "sopClassUID": "0008,0016"}

    def getCachedLoadables(self, files):
        return self.loadableCache.get(tuple(files))

    def cacheLoadables(self, files, loadables):
        self.loadableCache[tuple(files)] = loadables

    def addSeriesInSubjectHierarchy(self, loadable, dataNode):
        database = slicer.dicomDatabase
        shn = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        item = shn.CreateItem(shn.GetSceneItemID(), dataNode)
        constants = slicer.vtkMRMLSubjectHierarchyConstants
        shn.SetItemUID(item, constants.GetDICOMUIDName(), database.fileValue(loadable.files[0], self.tags["seriesInstanceUID"]))
        instance_uids = " ".join(database.fileValue(path, self.tags["instanceUID"]) for path in loadable.files)
        shn.SetItemUID(item, constants.GetDICOMInstanceUIDName(), instance_uids)
        referenced = " ".join(getattr(loadable, "referencedInstanceUIDs", []))
        shn.SetItemAttribute(item, constants.GetDICOMReferencedInstanceUIDsAttributeName(), referenced)


class ScalarVolumePlugin(DICOMPlugin):
    """``DICOMScalarVolumePlugin``: what it offers (195-201, 325: every series but a classic SEG, at 0.5,
    selected; so a LABELMAP SEG too) and its load (475-510, 603-626): volume node, subject hierarchy item,
    then ``DICOM.instanceUIDs``."""

    def __init__(self):
        super().__init__()
        self.loadType = "Scalar Volume"

    def examineForImport(self, fileLists):
        loadables = []
        for files in fileLists:
            if slicer.dicomDatabase.fileValue(files[0], self.tags["sopClassUID"]) != CLASSIC_SEG_SOP_CLASS_UID:
                loadable = DICOMLoadable()
                loadable.files, loadable.selected = list(files), True
                loadable.name = slicer.dicomDatabase.fileValue(files[0], self.tags["modality"])
                loadables.append(loadable)
        return loadables

    def load(self, loadable):
        volume = DicomManager(slicer.mrmlScene).volume_from_series(read_source_series([Path(f) for f in loadable.files]))
        instance_uids = volume.GetAttribute(INSTANCE_UIDS_ATTRIBUTE)
        volume.RemoveAttribute(INSTANCE_UIDS_ATTRIBUTE)  # Slicer sets it after the subject hierarchy item
        self.addSeriesInSubjectHierarchy(loadable, volume)
        volume.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, instance_uids)
        return volume


def application_modules(timer_class: type) -> dict[str, types.SimpleNamespace]:
    """The Slicer application's modules our plugin file imports, by name, for ``sys.modules``.

    ``timer_class`` is what ``qt.QTimer`` is: a Qt timer of the event loop that ``slicer.app.processEvents`` runs.
    """
    return {
        "qt": types.SimpleNamespace(QTimer=timer_class),
        "ctk": types.SimpleNamespace(),  # imported by dicom_database, not called here
        "DICOMLib": types.SimpleNamespace(DICOMLoadable=DICOMLoadable, DICOMPlugin=DICOMPlugin,
                                          DICOMUtils=types.SimpleNamespace()),
        "slicer.i18n": types.SimpleNamespace(tr=lambda text: text),
        "slicer.ScriptedLoadableModule": types.SimpleNamespace(ScriptedLoadableModule=object,
                                                               ScriptedLoadableModuleTest=object),
    }


def application_attributes(scene, database: DicomDatabase, process_events) -> dict[str, object]:
    """The attributes of the ``slicer`` module our plugin uses, by name: the scene, the database, the application.

    No core SEG plugin is registered (as on Slicer 5.10; on 5.12 it is).
    """
    return {
        "mrmlScene": scene,
        "dicomDatabase": database,
        "modules": types.SimpleNamespace(dicomPlugins={}),
        "app": types.SimpleNamespace(processEvents=process_events, testingEnabled=lambda: False),
    }


def load_plugin_module(plugin_file: Path) -> types.ModuleType:
    """Our plugin's module file, loaded as Slicer's module factory loads it, once ``application_modules`` are in place."""
    spec = importlib.util.spec_from_file_location("DICOMLabelMapSegPlugin", plugin_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules["DICOMLabelMapSegPlugin"] = module
    spec.loader.exec_module(module)
    return module


def browser_load(plugins: list, file_lists: list[list[str]]) -> list[str]:
    """Examine, preselect and load as the browser does; the names of the loadables that failed."""
    return load_selected(examine_and_select(plugins, file_lists))


def examine_and_select(plugins: list, file_lists: list[list[str]]) -> dict:
    """The selected loadables, with their plugins, in the order the browser loads them.

    Preselection as ``DICOMUtils.selectHighestConfidenceLoadables`` (222-256): per series, the loadables
    of the highest confidence are selected, the others not.
    """
    loadables_by_plugin = {plugin: plugin.examineForImport(file_lists) for plugin in plugins}
    by_series = {}
    for loadable in (loadable for loadables in loadables_by_plugin.values() for loadable in loadables):
        by_series.setdefault(slicer.dicomDatabase.fileValue(loadable.files[0], "0020,000E"), []).append(loadable)
    for loadables in by_series.values():
        highest = max(loadable.confidence for loadable in loadables)
        for loadable in loadables:
            loadable.selected = loadable.confidence == highest
    return {loadable: plugin for plugin, loadables in loadables_by_plugin.items()
            for loadable in loadables if loadable.selected}


def load_selected(selected: dict) -> list[str]:
    """Load as ``DICOMUtils.loadLoadables``, with the browser's progress callback before each loadable."""
    failed = []
    for loadable, plugin in selected.items():
        slicer.app.processEvents()  # DICOMBrowser.py 649 and 651, before each loadable
        slicer.app.processEvents()
        if not plugin.load(loadable):
            failed.append(loadable.name)
    return failed


class FileOpens:
    """Counts, by path, the files this process opens while recording: Python's audit event ``open``.

    Every open goes through it, pydicom's, numpy's and ours alike (``open``, ``io.FileIO``, ``os.open``).
    An audit hook cannot be removed, so one hook serves every recording.
    """

    _recording: list[str] | None = None

    @classmethod
    def _hook(cls, event: str, args: tuple) -> None:
        if event == "open" and cls._recording is not None and isinstance(args[0], (str, bytes, os.PathLike)):
            cls._recording.append(os.fsdecode(args[0]))

    def __init__(self, paths) -> None:
        self._paths = [str(path) for path in paths]
        self.counts: dict[str, int] = {}

    def __enter__(self) -> FileOpens:
        FileOpens._recording = []
        return self

    def __exit__(self, *exc_info) -> None:
        opened, FileOpens._recording = FileOpens._recording, None
        self.counts = {path: sum(1 for name in opened if Path(name).resolve() == Path(path).resolve())
                       for path in self._paths}


sys.addaudithook(FileOpens._hook)
