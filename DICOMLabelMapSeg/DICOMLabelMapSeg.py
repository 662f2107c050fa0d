"""DICOMLabelMapSeg module panel: export a segmentation as DICOM Label Map Segmentation, load one back.

The panel keeps its state in a parameter node and hands every action to
:class:`DICOMLabelMapSegLogic`, which hands it to DicomManager. Python
packages are installed on the first action that needs them, never when
Slicer starts: what this file imports at module level needs neither
highdicom nor pydicom 3, so it loads on Slicer 5.10 (pydicom 2.4) too.
"""

import logging
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated


def _find_dicom_manager_in_source_tree() -> None:
    """Make ``DicomManager`` importable when Slicer runs this file from a source checkout.

    Slicer puts only this file's folder on ``sys.path``. Built and installed,
    ``DicomManager`` sits in that folder; in a checkout (Additional module
    paths, or the folder dropped on Slicer) it sits one folder up.
    """
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "DicomManager" / "__init__.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))


_find_dicom_manager_in_source_tree()

import slicer
import vtk
from slicer import vtkMRMLScalarVolumeNode, vtkMRMLSegmentationNode
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.parameterNodeWrapper import Choice, parameterNodeWrapper
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleLogic,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

from DicomManager.core.codecs.compression_choices import DEFAULT_COMPRESSION, Compression
from DicomManager.core.writing.overlap_policy import DEFAULT_OVERLAP_POLICY, OverlapPolicy
from DicomManager.errors import DicomLabelMapSegError, IncompleteRequestError


class DICOMLabelMapSeg(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        super().__init__(parent)
        self.parent.title = _("DICOM Label Map Segmentation")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Informatics")]
        # The plugin module registers the DICOM browser plugin that the panel's loads and self-tests go through.
        self.parent.dependencies = ["DICOM", "Segmentations", "Terminologies", "DICOMLabelMapSegPlugin"]
        self.parent.contributors = ["DICOMLabelMapSeg developers"]
        self.parent.helpText = _(
            "Export segmentations as DICOM Label Map Segmentation (LABELMAP SEG, Supplement 243): one frame "
            "per slice, every segment's name, colour and terminology codes, lossless compression; overlapping "
            "segments as a classic BINARY SEG or one LABELMAP per layer. Load any SEG file (LABELMAP, BINARY, "
            "FRACTIONAL) back as a segmentation. SEG series in the DICOM database load from the DICOM browser."
        )
        self.parent.acknowledgementText = _("Built on highdicom, pydicom and pylibjpeg.")


@parameterNodeWrapper
class DICOMLabelMapSegParameterNode:
    """The panel's state, saved with the scene."""

    segmentation: vtkMRMLSegmentationNode
    referenceVolume: vtkMRMLScalarVolumeNode
    seriesDescription: str = ""  # empty: the segmentation's name
    # Every compression, installed or not: exporting checks the codec and offers to install it.
    compression: Annotated[str, Choice([c.value for c in Compression])] = DEFAULT_COMPRESSION.value
    overlap: Annotated[str, Choice([policy.value for policy in OverlapPolicy])] = DEFAULT_OVERLAP_POLICY.value
    cropToSegments: bool = False
    outputFolder: Path
    addToDatabase: bool = True
    saveMeasurements: bool = False
    syntheticPatientID: str = "ANONYMOUS"
    sendTo: str = ""
    segFile: Path


class DICOMLabelMapSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    """The panel: selectors and buttons; every action goes to the logic inside tryWithErrorDisplay."""

    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic = None
        self._parameterNode = None
        self._parameterNodeGuiTag = None

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/DICOMLabelMapSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = DICOMLabelMapSegLogic(slicer.mrmlScene)

        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.ui.exportButton.connect("clicked(bool)", self.onExportButton)
        self.ui.loadButton.connect("clicked(bool)", self.onLoadButton)
        self.initializeParameterNode()

    def cleanup(self):
        self.removeObservers()

    def enter(self):
        self.initializeParameterNode()

    def exit(self):
        self.setParameterNode(None)

    def onSceneStartClose(self, caller, event):
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event):
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self):
        parameterNode = self.logic.getParameterNode()
        if not parameterNode.segmentation:
            parameterNode.segmentation = slicer.mrmlScene.GetFirstNodeByClass("vtkMRMLSegmentationNode")
        if not parameterNode.outputFolder or str(parameterNode.outputFolder) == ".":
            parameterNode.outputFolder = Path(slicer.app.defaultScenePath)
        self.setParameterNode(parameterNode)

    def setParameterNode(self, parameterNode):
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._parameterNodeGuiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._parameterNodeGuiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateButtons)
            self._updateButtons()

    def _updateButtons(self, caller=None, event=None):
        parameters = self._parameterNode
        segmentation = parameters.segmentation if parameters else None
        self.ui.exportButton.enabled = segmentation is not None
        # What an empty series description exports as: the segmentation's name, shown greyed.
        self.ui.seriesDescriptionLineEdit.placeholderText = segmentation.GetName() if segmentation else ""

        self.ui.loadButton.enabled = bool(parameters and parameters.segFile and Path(parameters.segFile).is_file())

    def onExportButton(self):
        written = None
        with self._progress(_("Exporting {name}...").format(name=self._parameterNode.segmentation.GetName())), \
                slicer.util.tryWithErrorDisplay(_("Export failed."), waitCursor=True):
            written = self.logic.export(self._parameterNode)
            self._showDone(_("Wrote {type} SEG: {paths}").format(
                type=written.segmentation_type, paths=", ".join(str(path) for path in written.paths)))
        if written is not None and self._parameterNode.saveMeasurements:
            self.saveMeasurements(written)
        if written is not None and self._parameterNode.sendTo:
            self.sendExported(written)

    def saveMeasurements(self, written):
        """Write the measurement report of what was just exported; a failure here leaves the SEG files in place and says so."""
        with self._progress(_("Measuring {name}...").format(name=self._parameterNode.segmentation.GetName())), \
                slicer.util.tryWithErrorDisplay(_("Saving measurements failed; the SEG files were written."), waitCursor=True):
            reports = self.logic.exportMeasurements(written, self._parameterNode)
            self._showDone(_("Wrote measurement report: {paths}").format(paths=", ".join(str(path) for path in reports)))

    def sendExported(self, written):
        """Send what was just written; a failure here leaves the written files in place and says so."""
        with self._progress(_("Sending to {destination}...").format(destination=self._parameterNode.sendTo)), \
                slicer.util.tryWithErrorDisplay(_("Sending failed; the SEG files were written."), waitCursor=True):
            sent = self.logic.send(written, self._parameterNode)
            self._showDone(_("Sent {count} instances to {destination}").format(
                count=len(sent.sop_instance_uids), destination=sent.destination))

    def onLoadButton(self):
        with self._progress(_("Loading {path}...").format(path=self._parameterNode.segFile)), \
                slicer.util.tryWithErrorDisplay(_("Load failed."), waitCursor=True):
            node = self.logic.load(Path(self._parameterNode.segFile))
            self._showDone(_("Loaded {name}: {count} segments").format(
                name=node.GetName(), count=node.GetSegmentation().GetNumberOfSegments()))

    @contextmanager
    def _progress(self, text):
        """A busy progress bar while one synchronous step runs, stopped however the step ends.

        ``tryWithErrorDisplay`` re-raises after showing the error, so the bar
        is stopped here, on the way out.
        """
        self.ui.progressBar.setRange(0, 0)
        self.ui.statusLabel.text = text
        slicer.app.processEvents()
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            self.ui.progressBar.setRange(0, 100)
            self.ui.progressBar.value = 100 if succeeded else 0
            if not succeeded:
                self.ui.statusLabel.text = _("Failed: see the error message.")

    def _showDone(self, text):
        self.ui.statusLabel.text = text


class DICOMLabelMapSegLogic(ScriptedLoadableModuleLogic):
    """What the panel does, usable from the Python console without the panel.

    Raises :class:`DicomManager.errors.DicomLabelMapSegError` subclasses with a
    message naming what is wrong.
    """

    def __init__(self, scene):
        ScriptedLoadableModuleLogic.__init__(self)
        self.scene = scene

    def getParameterNode(self):
        return DICOMLabelMapSegParameterNode(super().getParameterNode())

    def export(self, parameters):
        """Export ``parameters.segmentation`` as SEG; returns what was written (a ``WrittenSeries``).

        One LABELMAP SEG when no segments overlap; else as ``parameters.overlap`` says.

        The reference volume is the one chosen, else the segmentation's own
        reference geometry volume; the series description the one typed, else
        the segmentation's name. A volume that did not come from DICOM first
        gets a DICOM series (in the database, or beside the SEG when the
        database is not used) carrying only the given patient ID.
        """
        from DicomManager.app.package_requirements import requirements_to_write
        from DicomManager.core.writing.export_options import ExportOptions

        if parameters.segmentation is None:
            raise IncompleteRequestError("Choose a segmentation to export.")
        if not parameters.outputFolder or str(parameters.outputFolder) == ".":
            raise IncompleteRequestError("Choose an output folder.")
        options = ExportOptions(
            compression=parameters.compression, overlap=parameters.overlap, crop_to_segments=parameters.cropToSegments
        ).with_series(series_description=parameters.seriesDescription or None)
        actions = self._actions(requirements_to_write(options.compression), openDatabase=parameters.addToDatabase)
        volume = actions.reference_volume(parameters.segmentation, parameters.referenceVolume)
        actions.ensure_dicom_series(
            volume, parameters.syntheticPatientID, Path(parameters.outputFolder), add_to_database=parameters.addToDatabase)
        return actions.export(
            parameters.segmentation, Path(parameters.outputFolder), options, volume, add_to_database=parameters.addToDatabase)

    def exportMeasurements(self, written, parameters):
        """Measure each SEG just exported over the same reference volume; write its TID 1500 report beside it.

        ``written`` is what :meth:`export` returned for ``parameters``. A report
        goes to ``<SEG name>_measurements.dcm`` and, with the SEG, into the
        DICOM database; returns the paths written.
        """
        from DicomManager.app.package_requirements import requirements_to_read
        from DicomManager.core.codecs.compression_choices import parse_compression

        # Measuring decodes the SEG just written: the decoder of the compression it was written with.
        requirements = requirements_to_read(parse_compression(parameters.compression).transfer_syntax_uid)
        actions = self._actions(requirements, openDatabase=parameters.addToDatabase)
        volume = actions.reference_volume(parameters.segmentation, parameters.referenceVolume)
        return actions.export_measurements(written, volume, add_to_database=parameters.addToDatabase)

    def send(self, written, parameters):
        """Send an exported SEG and its source series to ``parameters.sendTo`` (DICOMweb or DIMSE)."""
        from DicomManager.app.package_requirements import BASE_REQUIREMENTS, NETWORK_REQUIREMENTS

        actions = self._actions([*BASE_REQUIREMENTS, *NETWORK_REQUIREMENTS], openDatabase=parameters.addToDatabase)
        return actions.send(written, parameters.segmentation, parameters.sendTo, parameters.referenceVolume)

    def load(self, path, referenceVolume=None):
        """Load a SEG file as a segmentation node, on ``referenceVolume``'s grid or the loaded referenced volume's."""
        from DicomManager.app.package_requirements import requirements_to_read
        from DicomManager.core.reading.seg_references import read_seg_references

        references = read_seg_references(Path(path))
        actions = self._actions(requirements_to_read(references.transfer_syntax_uid), openDatabase=False)
        return actions.load(Path(path), references, reference_volume_node=referenceVolume)

    def _actions(self, requirements, openDatabase):
        """The shared segmentation actions on this scene, once the Python packages the operation needs are installed."""
        from DicomManager.app.dependencies import ensure_requirements
        from DicomManager.app.dicom_database import ensure_database_initialized

        ensure_requirements(requirements)
        from DicomManager.app.segmentation_actions import SegmentationActions

        database = ensure_database_initialized() if openDatabase else getattr(slicer, "dicomDatabase", None)
        return SegmentationActions(self.scene, database)


class DICOMLabelMapSegTest(ScriptedLoadableModuleTest):
    """Headless self-tests: browser round trip, CrossSegmentationExplorer's loading, the console API, the panel logic."""

    def setUp(self):
        slicer.mrmlScene.Clear(0)

    def runTest(self):
        self.setUp()
        self.test_browser_round_trip()
        self.setUp()
        self.test_seg_loaded_with_its_ct_ends_on_the_ct_grid()
        self.setUp()
        self.test_cross_segmentation_explorer_round_trip()
        self.setUp()
        self.test_console_api_in_the_dicom_database()
        self.setUp()
        self.test_panel_logic_on_volume_not_from_dicom()

    def test_browser_round_trip(self):
        """CT into a temporary database, segment, export through the plugin, reload through the browser path."""
        import tempfile

        from DICOMLib import DICOMUtils

        from DicomManager.app.dicom_database import get_segmentations_for_volume, import_dicom_folder
        from DicomManager.cli.demo import make_demo_case
        from DicomManager.mrml.segmentation_nodes import create_segmentation_node

        plugin = slicer.modules.dicomPlugins["DICOMLabelMapSegPlugin"]()
        with tempfile.TemporaryDirectory() as folder, DICOMUtils.TemporaryDICOMDatabase():
            case = make_demo_case(Path(folder) / "ct")
            ct_series_uid = import_dicom_folder(Path(folder) / "ct")[0]
            loaded_ids = DICOMUtils.loadSeriesByUID([ct_series_uid])
            volume = next(node for node in map(slicer.mrmlScene.GetNodeByID, loaded_ids)
                          if node.IsA("vtkMRMLScalarVolumeNode"))
            segmentation = create_segmentation_node(slicer.mrmlScene, case.labels, case.segments, "Demo segmentation")
            segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
            shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
            study = shNode.GetItemParent(shNode.GetItemByDataNode(volume))
            shNode.SetItemParent(shNode.GetItemByDataNode(segmentation), study)

            self._exportThroughPlugin(plugin, segmentation, Path(folder) / "seg")

            seg_series = get_segmentations_for_volume(ct_series_uid)
            self.assertEqual(len(seg_series), 1)
            before = {node.GetID() for node in slicer.util.getNodesByClass("vtkMRMLSegmentationNode")}
            # Which plugin the browser preselects is DICOMLabelMapSegPluginTest's subject; here the other
            # plugins that offer a SEG (the core SEG plugin, and the scalar volume plugin, which takes a
            # LABELMAP SEG for an image) are set aside so that only our load is counted.
            with _pluginSetAside("DICOMSegmentationPlugin", "DICOMScalarVolumePlugin"):
                self.assertTrue(DICOMUtils.loadSeriesWithVerification(
                    seg_series, {plugin.loadType: 1}, {"vtkMRMLSegmentationNode": 1}))
            loaded = [node for node in slicer.util.getNodesByClass("vtkMRMLSegmentationNode") if node.GetID() not in before]
            self.assertEqual(len(loaded), 1)
            self.assertEqual(loaded[0].GetName(), "Demo segmentation")  # the name it was exported under, no "_1"
            reference = loaded[0].GetNodeReference(loaded[0].GetReferenceImageGeometryReferenceRole())
            self.assertIs(reference, volume)
            self._assertSameSegmentation(loaded[0], volume, case.labels.array, case.segments)
            self.assertEqual(shNode.GetItemParent(shNode.GetItemByDataNode(loaded[0])), study)

    def test_seg_loaded_with_its_ct_ends_on_the_ct_grid(self):
        """The SEG loaded before its CT in one browser load, the event loop run between them, ends on the CT's grid.

        As DICOMBrowser.proceedWithReferencedLoadablesSelection (v5.12.3 647-658) calls DICOMUtils.loadLoadables:
        with a progress callback that processes events before each loadable. Our loadable is put first; the SEG
        is cropped to its segments, so on its own grid it would have fewer slices than the CT.
        """
        import tempfile

        from DICOMLib import DICOMUtils

        from DicomManager import ExportOptions, write_labelmap_seg
        from DicomManager.cli.demo import write_demo_files
        from DicomManager.mrml.manager import DicomManager

        with tempfile.TemporaryDirectory() as folder, DICOMUtils.TemporaryDICOMDatabase():
            files = write_demo_files(Path(folder))
            cropped = write_labelmap_seg(files.case.labels, files.case.segments, files.source, Path(folder) / "cropped",
                                         ExportOptions(file_name="cropped.dcm", crop_to_segments=True))
            DICOMUtils.importDicom(folder)
            fileLists = [slicer.dicomDatabase.filesForSeries(written.series_instance_uid)
                         for written in (cropped, files.source)]
            loadablesByPlugin, _enabled = DICOMUtils.getLoadablesFromFileLists(fileLists)
            DICOMUtils.selectHighestConfidenceLoadables(loadablesByPlugin)
            ours = slicer.modules.dicomPlugins["DICOMLabelMapSegPlugin"]
            loadablesByPlugin = dict(sorted(loadablesByPlugin.items(), key=lambda item: not isinstance(item[0], ours)))

            def processEventsAsTheBrowser(_label, _progress):
                slicer.app.processEvents()
                return False  # not cancelled

            DICOMUtils.loadLoadables(loadablesByPlugin, progressCallback=processEventsAsTheBrowser)
            slicer.app.processEvents()  # the application's event loop, once the browser's load has returned
            (volume,) = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            (segmentation,) = slicer.util.getNodesByClass("vtkMRMLSegmentationNode")
            reference = segmentation.GetNodeReference(segmentation.GetReferenceImageGeometryReferenceRole())
            self.assertIs(reference, volume)
            self._assertSameSegmentation(segmentation, volume, files.case.labels.array, files.case.segments)
            on_ct_first = DicomManager(slicer.mrmlScene).load_segmentation(cropped.path, volume)
            self.assertEqual(_labelmapExtent(segmentation), _labelmapExtent(on_ct_first))

    def test_cross_segmentation_explorer_round_trip(self):
        """Two trials of one CT, exported through the plugin, found and loaded as CrossSegmentationExplorer does it.

        The steps of SegmentationComparison.py (ImagingDataCommons/CrossSegmentationExplorer at 0953cf8):
        ``onLoadSegmentations`` 738-747 (the volume's series from its first instance UID), ``loadDicomSeries``
        1786-1841 (SEG series of the study whose first ReferencedSeriesSequence item is that series, each
        skipped when a node's ``DICOM.instanceUIDs`` is its SOP Instance UID, else ``loadSeriesByUID`` with a
        progress callback that processes events), ``_buildSegmentationVolumeMap`` 493-502 (segmentation to
        volume through the reference image geometry), ``add_loaded_segmentations`` 1047-1056 (keywords in node
        names) and ``extract_structure_name_from_terminology`` 1636-1649 (the TerminologyEntry tag).
        """
        import tempfile

        import pydicom
        from DICOMLib import DICOMUtils

        from DicomManager.app.dicom_database import import_dicom_folder
        from DicomManager.cli.demo import make_demo_case
        from DicomManager.mrml.segmentation_nodes import create_segmentation_node

        plugin = slicer.modules.dicomPlugins["DICOMLabelMapSegPlugin"]()
        trials = ["TotalSegmentator trial", "MOOSE trial"]
        with tempfile.TemporaryDirectory() as folder, DICOMUtils.TemporaryDICOMDatabase():
            case = make_demo_case(Path(folder) / "ct")
            volume = self._loadVolume(import_dicom_folder(Path(folder) / "ct")[0])
            for index, name in enumerate(trials):
                segmentation = create_segmentation_node(slicer.mrmlScene, case.labels, case.segments, name)
                segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
                self._exportThroughPlugin(plugin, segmentation, Path(folder) / f"trial{index}")
                slicer.mrmlScene.RemoveNode(segmentation)

            database = slicer.dicomDatabase
            firstInstanceUID = volume.GetAttribute("DICOM.instanceUIDs").split()[0]
            seriesUID = database.seriesForFile(database.fileForInstance(firstInstanceUID))

            def referencedSeries(segSeriesUID):
                header = pydicom.dcmread(database.filesForSeries(segSeriesUID)[0], stop_before_pixels=True,
                                         specific_tags=["ReferencedSeriesSequence"])
                return header.ReferencedSeriesSequence[0].SeriesInstanceUID

            found = [uid for uid in database.seriesForStudy(database.studyForSeries(seriesUID))
                     if uid != seriesUID and database.fieldForSeries("Modality", uid) == "SEG"
                     and referencedSeries(uid) == seriesUID]
            self.assertEqual(len(found), len(trials))

            def progressCallback(pluginName, percent):
                slicer.app.processEvents()
                return False

            loaded = []
            for segSeriesUID in found:
                segFile = database.filesForSeries(segSeriesUID)[0]
                sopInstanceUID = pydicom.dcmread(segFile, stop_before_pixels=True).SOPInstanceUID
                self.assertIsNone(self._segmentationHolding(sopInstanceUID))
                with self.assertLogs("DicomManager.mrml.manager", logging.INFO) as logs:
                    loadedIDs = DICOMUtils.loadSeriesByUID([segSeriesUID], progressCallback=progressCallback)
                self.assertTrue(any(f"Loaded {segFile}" in line for line in logs.output), logs.output)  # by our plugin
                (node,) = [slicer.mrmlScene.GetNodeByID(nodeID) for nodeID in loadedIDs
                           if slicer.mrmlScene.GetNodeByID(nodeID).IsA("vtkMRMLSegmentationNode")]
                self.assertIs(self._segmentationHolding(sopInstanceUID), node)  # a second pass skips it
                self.assertIs(node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole()), volume)
                self.assertEqual(self._structureNames(node), {s.number: s.type.meaning for s in case.segments})
                loaded.append(node)

            self.assertEqual(sorted(node.GetName() for node in loaded), sorted(trials))
            for name in trials:
                keyword = name.split()[0].lower()
                self.assertEqual([node.GetName() for node in loaded if keyword in node.GetName().lower()], [name])

    def test_console_api_in_the_dicom_database(self):
        """What pipelines call, in Slicer's DICOM database: open, import, export over it, find, load by UID, synthesize."""
        import dataclasses
        import tempfile

        from DICOMLib import DICOMUtils

        from DicomManager.app.dicom_database import (
            create_synthetic_dicom,
            ensure_database_initialized,
            get_segmentations_for_volume,
            import_dicom_folder,
            load_segmentation_by_uid,
        )
        from DicomManager.app.segmentation_actions import DatabaseInstanceLocator
        from DicomManager.cli.demo import make_demo_case
        from DicomManager.errors import DicomDatabaseError
        from DicomManager.mrml.image_arrays import ijk_to_ras_of_grid
        from DicomManager.mrml.manager import DicomManager
        from DicomManager.mrml.segmentation_nodes import create_segmentation_node

        with tempfile.TemporaryDirectory() as folder, DICOMUtils.TemporaryDICOMDatabase():
            database = ensure_database_initialized()
            self.assertIs(database, slicer.dicomDatabase)
            self.assertTrue(database.isOpen)

            case = make_demo_case(Path(folder) / "ct")
            (ctSeriesUID,) = import_dicom_folder(Path(folder) / "ct")
            volume = self._loadVolume(ctSeriesUID)
            segmentation = create_segmentation_node(slicer.mrmlScene, case.labels, case.segments, "Console segmentation")
            renamed = dataclasses.replace(case.segments[0], label="Renamed by the pipeline")
            manager = DicomManager(slicer.mrmlScene, DatabaseInstanceLocator(database))
            segSeriesUID = manager.export_segmentation_as_dicom_seg(
                segmentation, volume, "Console export", Path(folder) / "seg", "rle", [renamed])

            self.assertEqual(import_dicom_folder(Path(folder) / "seg"), [segSeriesUID])
            self.assertEqual(get_segmentations_for_volume(ctSeriesUID), [segSeriesUID])
            loaded = load_segmentation_by_uid(segSeriesUID)
            self.assertEqual(loaded.GetName(), "Console export")
            self.assertIs(loaded.GetNodeReference(loaded.GetReferenceImageGeometryReferenceRole()), volume)
            self._assertSameSegmentation(loaded, volume, case.labels.array, [renamed, *case.segments[1:]])
            with self.assertRaises(DicomDatabaseError):
                load_segmentation_by_uid(ctSeriesUID)  # an image series, not a SEG

            made = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Made in Slicer")
            slicer.util.updateVolumeFromArray(made, case.labels.array.astype("int16"))
            made.SetIJKToRASMatrix(ijk_to_ras_of_grid(case.labels.get_geometry()))
            madeSeriesUID = create_synthetic_dicom(made, "SELFTEST")
            files = database.filesForSeries(madeSeriesUID)
            self.assertEqual(len(files), case.labels.array.shape[0])
            self.assertEqual(sorted(made.GetAttribute("DICOM.instanceUIDs").split()),
                             sorted(database.instanceForFile(path) for path in files))
            self.assertEqual(database.fileValue(files[0], "0010,0020"), "SELFTEST")

    def test_panel_logic_on_volume_not_from_dicom(self):
        """A volume made in Slicer gets a synthetic series; the SEG over it loads back identical."""
        import tempfile

        import numpy as np
        import pydicom
        from DICOMLib import DICOMUtils

        from DicomManager.cli.demo import make_demo_case
        from DicomManager.mrml.image_arrays import ijk_to_ras_of_grid
        from DicomManager.mrml.segmentation_nodes import create_segmentation_node

        logic = DICOMLabelMapSegLogic(slicer.mrmlScene)
        with tempfile.TemporaryDirectory() as folder, DICOMUtils.TemporaryDICOMDatabase():
            case = make_demo_case(Path(folder) / "ct")
            volume = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "Made in Slicer")
            slicer.util.updateVolumeFromArray(volume, case.labels.array.astype("int16") * 7 - 100)
            volume.SetIJKToRASMatrix(ijk_to_ras_of_grid(case.labels.get_geometry()))
            segmentation = create_segmentation_node(slicer.mrmlScene, case.labels, case.segments, "Segmented in Slicer")
            parameters = logic.getParameterNode()
            parameters.segmentation = segmentation
            parameters.referenceVolume = volume
            parameters.outputFolder = Path(folder) / "out"
            parameters.addToDatabase = True
            parameters.syntheticPatientID = "SELFTEST"
            written = logic.export(parameters)
            self.assertTrue(volume.GetAttribute("DICOM.instanceUIDs"))
            header = pydicom.dcmread(written.paths[0], stop_before_pixels=True)
            self.assertEqual(header.SeriesDescription, "Segmented in Slicer")  # no description typed: the node's name
            loaded = logic.load(written.paths[0])
            self._assertSameSegmentation(loaded, volume, case.labels.array, case.segments)

            parameters.saveMeasurements = True
            (reportPath,) = logic.exportMeasurements(written, parameters)
            self.assertEqual(reportPath.parent, written.paths[0].parent)
            self._assertMeasuresEachSegment(reportPath, header.SOPInstanceUID, case.labels.array, lambda n: n * 7 - 100)

            parameters.cropToSegments = True
            parameters.outputFolder = Path(folder) / "cropped"
            cropped = logic.export(parameters)
            header = pydicom.dcmread(cropped.paths[0], stop_before_pixels=True)
            rows, columns = np.nonzero(case.labels.array.any(axis=0))
            self.assertEqual((header.Rows, header.Columns), (np.ptp(rows) + 1, np.ptp(columns) + 1))
            self._assertSameSegmentation(logic.load(cropped.paths[0]), volume, case.labels.array, case.segments)

            parameters.referenceVolume = None
            with self.assertRaises(DicomLabelMapSegError):
                logic.export(parameters)  # no reference volume chosen and none in the segmentation

    def _assertMeasuresEachSegment(self, reportPath, segInstanceUID, labels, valueOfLabel):
        """The report is in the database and gives each segment of ``labels`` its voxel count and its one value."""
        import highdicom as hd
        import numpy as np

        report = hd.sr.srread(reportPath)
        self.assertTrue(slicer.dicomDatabase.fileForInstance(report.SOPInstanceUID))  # added with the SEG
        groups = report.content.get_volumetric_roi_measurement_groups()
        numbers = [int(number) for number in np.unique(labels) if number != 0]
        self.assertEqual(len(groups), len(numbers))
        for group in groups:
            reference = group.referenced_segment[0].ReferencedSOPSequence[0]
            self.assertEqual(reference.ReferencedSOPInstanceUID, segInstanceUID)
            number = int(reference.ReferencedSegmentNumber)
            measured = {(m.derivation.meaning if m.derivation else m.name.meaning): m.value for m in group.get_measurements()}
            self.assertEqual(measured["Number of voxels"], np.count_nonzero(labels == number))
            for name in ("Minimum", "Maximum", "Mean", "Median"):
                self.assertAlmostEqual(measured[name], valueOfLabel(number), places=6)
            self.assertAlmostEqual(measured["Standard Deviation"], 0.0, places=6)

    def _loadVolume(self, seriesUID):
        """The scalar volume DICOMUtils.loadSeriesByUID loads from an image series in the database."""
        from DICOMLib import DICOMUtils

        nodes = map(slicer.mrmlScene.GetNodeByID, DICOMUtils.loadSeriesByUID([seriesUID]))
        return next(node for node in nodes if node.IsA("vtkMRMLScalarVolumeNode"))

    def _exportThroughPlugin(self, plugin, segmentation, folder):
        """Export as the DICOM module's export dialog does, with the tags our plugin offers."""
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        exportables = plugin.examineForExport(shNode.GetItemByDataNode(segmentation))
        self.assertEqual(len(exportables), 1)
        exportables[0].directory = str(folder)
        Path(folder).mkdir()
        self.assertEqual(plugin.export(exportables), "")

    @staticmethod
    def _segmentationHolding(sopInstanceUID):
        """The segmentation node whose ``DICOM.instanceUIDs`` is ``sopInstanceUID`` (CrossSegmentationExplorer's test)."""
        nodes = slicer.util.getNodesByClass("vtkMRMLSegmentationNode")
        return next((node for node in nodes if str(node.GetAttribute("DICOM.instanceUIDs")) == sopInstanceUID), None)

    @staticmethod
    def _structureNames(node):
        """Label value -> the structure name CrossSegmentationExplorer reads from the segment's TerminologyEntry tag.

        Slicer's entry is ``context~category~type~typeModifier~...``, each code ``scheme^value^meaning``:
        the name is the type's meaning, followed by the type modifier's where there is one.
        """
        names = {}
        segmentation = node.GetSegmentation()
        for segmentID in segmentation.GetSegmentIDs():
            segment = segmentation.GetSegment(segmentID)
            tag = vtk.mutable("")
            if not segment.GetTag("TerminologyEntry", tag):
                raise AssertionError(f"Segment {segment.GetName()!r} has no TerminologyEntry tag")
            fields = str(tag).split("~")
            name = fields[2].split("^")[-1].strip()
            modifier = fields[3].split("^")[-1].strip()
            names[segment.GetLabelValue()] = f"{name} {modifier}" if modifier and modifier not in name else name
        return names

    def _assertSameSegmentation(self, node, volume, expected_labels, expected_segments):
        import numpy as np

        from DicomManager.mrml.segmentation_nodes import labels_from_segmentation_node, segment_metadata_from_node
        from DicomManager.mrml.volume_nodes import grid_of_volume_node

        labels, numbers = labels_from_segmentation_node(node, grid_of_volume_node(volume))
        self.assertTrue(np.array_equal(labels, expected_labels))
        metadata = [segment_metadata_from_node(node, segment_id, number) for segment_id, number in numbers.items()]
        self.assertEqual(metadata, list(expected_segments))


def _labelmapExtent(node):
    """The extent of a segmentation node's first labelmap: the grid its voxels are on."""
    segmentation = node.GetSegmentation()
    return segmentation.GetSegment(segmentation.GetNthSegmentID(0)).GetRepresentation("Binary labelmap").GetExtent()


class _pluginSetAside:
    """Take DICOM plugins out of ``slicer.modules.dicomPlugins`` for the duration of a with-block."""

    def __init__(self, *keys):
        self.keys = keys
        self.pluginClasses = {}

    def __enter__(self):
        plugins = slicer.modules.dicomPlugins
        self.pluginClasses = {key: plugins.pop(key) for key in self.keys if key in plugins}
        return self

    def __exit__(self, *exc_info):
        slicer.modules.dicomPlugins.update(self.pluginClasses)
