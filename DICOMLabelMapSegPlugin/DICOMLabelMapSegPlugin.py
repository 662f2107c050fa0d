"""DICOM browser plugin for Segmentation objects: LABELMAP SEG (SOP Class ...66.7) and classic SEG (...66.4).

It also loads the TID 1500 measurement reports of segments (Enhanced and
Comprehensive SR) as table nodes, with the SEGs they reference; which reports
it offers above Slicer's own TID 1500 plugin is decided in
:mod:`DicomManager.app.report_offer`.

Registered as ``DICOMLabelMapSegPlugin`` beside Slicer's core
``DICOMSegmentationPlugin``; which of the two the browser preselects is decided
in :mod:`DicomManager.app.loadable_offer`. Loading and exporting are done by
:class:`DicomManager.app.segmentation_actions.SegmentationActions`, the actions
the module panel shares; this file only speaks the DICOM browser's language.

Imported by Slicer at startup, also on Slicer 5.10 (pydicom 2.4, no
highdicom): what it imports at module level needs neither; highdicom and
pydicom 3 are installed and imported on the first load or export.
"""

import logging
import sys
from pathlib import Path


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

import qt
import slicer
from DICOMLib import DICOMLoadable, DICOMPlugin
from slicer.i18n import tr as _
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest

from DicomManager.app.dependencies import ensure_requirements
from DicomManager.app.loadable_offer import (
    PLUGIN_KEY,
    SEG_PLUGIN_KEY,
    export_offer,
    offer_for_seg_file,
    offer_for_seg_series,
)
from DicomManager.app.package_requirements import (
    BASE_REQUIREMENTS,
    missing_requirements,
    requirements_to_read,
    requirements_to_write,
)
from DicomManager.app.report_offer import REPORT_SOP_CLASS_UIDS
from DicomManager.core.codecs.compression_choices import DEFAULT_COMPRESSION
from DicomManager.core.reading.seg_references import read_header_with_references, read_seg_references
from DicomManager.errors import DicomLabelMapSegError


def _loadable_of(path, offer):
    """The browser's loadable for the one file ``path``, as ``offer`` (a LoadableOffer) describes it."""
    loadable = DICOMLoadable()
    loadable.files = [path]
    loadable.name = offer.name
    loadable.tooltip = offer.tooltip
    loadable.warning = offer.warning
    loadable.confidence = offer.confidence
    loadable.selected = offer.selected
    return loadable


class DICOMLabelMapSegPluginClass(DICOMPlugin):
    """Offers SEG series (LABELMAP and classic) for loading, and segmentation nodes for export as LABELMAP SEG."""

    def __init__(self):
        super().__init__()
        self.loadType = _("Segmentation (DICOMLabelMapSeg)")
        self.tags["sopClassUID"] = "0008,0016"
        self.tags["modality"] = "0008,0060"
        self.tags["dimensionOrganizationType"] = "0020,9311"

    def examineForImport(self, fileLists):
        """One loadable per LABELMAP SEG file in the given series (cached per file list), measurement reports last.

        The browser loads a plugin's loadables in the order given: a report
        then finds its SEG loaded already when both are selected.
        """
        loadables = []
        for files in fileLists:
            cached = self.getCachedLoadables(files)
            if cached is None:
                cached = self.examineFiles(files)
                self.cacheLoadables(files, cached)
            loadables.extend(cached)
        return sorted(loadables, key=lambda loadable: self._is_measurement_report(loadable.files[0]))

    def examineFiles(self, files):
        """Decide from the database's tag cache and each SEG's header, read once; no pixel data is read.

        Each loadable keeps the SEG's references (a few UIDs, not its header), which its load uses.
        """
        database = slicer.dicomDatabase
        seg_plugin_registered = SEG_PLUGIN_KEY in slicer.modules.dicomPlugins
        loadables = []
        for path in files:
            if self._is_measurement_report(path):
                loadables.extend(self._examine_measurement_report(path))
                continue
            offer = offer_for_seg_series(
                database.fileValue(path, self.tags["sopClassUID"]),
                database.fileValue(path, self.tags["modality"]),
                database.fileValue(path, self.tags["seriesDescription"]),
                database.fileValue(path, self.tags["dimensionOrganizationType"]),
            )
            if offer is None:
                continue
            try:
                header, references = read_header_with_references(Path(path))
            except DicomLabelMapSegError as error:
                logging.warning(f"{self.loadType}: not offering {path}: {error}")
                continue
            offer = offer_for_seg_file(
                offer, Path(path), references.transfer_syntax_uid, seg_plugin_registered, header=header
            )
            loadable = _loadable_of(path, offer)
            loadable.uid = references.sop_instance_uid
            loadable.referencedInstanceUIDs = list(references.referenced_instance_uids)
            if references.referenced_series_uid:
                loadable.referencedSeriesUID = references.referenced_series_uid
            loadable.segReferences = references  # what load needs of the header, so the file is read once there
            loadables.append(loadable)
        return loadables

    def _is_measurement_report(self, path):
        """Whether the database lists the file as a Structured Report of a class TID 1500 reports come in."""
        return slicer.dicomDatabase.fileValue(path, self.tags["sopClassUID"]) in REPORT_SOP_CLASS_UIDS

    def _examine_measurement_report(self, path):
        """The loadable of an SR that is a TID 1500 report measuring segments, as a one-item list; else an empty one.

        Reading a report takes highdicom: where it is missing (Slicer 5.10) no
        report is offered, and Slicer's own TID 1500 plugin, if any, has them.
        """
        if missing_requirements(BASE_REQUIREMENTS):
            logging.debug(f"{self.loadType}: not examining {path}: highdicom or pydicom 3 is not installed")
            return []
        from DicomManager.app.report_offer import offer_for_report_file

        offer = offer_for_report_file(Path(path))
        if offer is None:
            return []
        return [_loadable_of(path, offer)]

    def load(self, loadable):
        """Load for the DICOM browser: True on success; on failure False, with the reason logged.

        The browser itself tells the user which loadables failed, as it does
        for Slicer's own plugins, so no dialog of ours is added to it.
        """
        try:
            if self._is_measurement_report(loadable.files[0]):
                self.load_measurement_report(loadable)
            else:
                self.load_segmentation(loadable)
        except DicomLabelMapSegError as error:
            logging.error(_("Could not load {name}: {reason}").format(name=loadable.name, reason=error))
            return False
        return True

    def load_segmentation(self, loadable):
        """Load a loadable as a segmentation node under its study; raises DicomLabelMapSegError on failure.

        The labels are placed on the grid of the referenced volume when it is
        in the scene (it then becomes the node's reference geometry), else on
        the SEG's own grid until that volume is loaded, later in the browser's
        batch or afterwards (:class:`~DicomManager.mrml.reference_placement.ReferenceVolumeWatch`).
        No node is added when loading fails.
        """
        path = Path(loadable.files[0])
        references = loadable.segReferences
        ensure_requirements(requirements_to_read(references.transfer_syntax_uid))
        from DicomManager.app.segmentation_actions import SegmentationActions

        # Named as the browser listed it, as DICOMSegmentationPlugin names its nodes.
        actions = SegmentationActions(slicer.mrmlScene, slicer.dicomDatabase)
        # The browser may load the referenced volume later in this batch, or the user later on.
        node = actions.load(path, references, name=loadable.name, defer=lambda call: qt.QTimer.singleShot(0, call))
        self.addSeriesInSubjectHierarchy(loadable, node)
        return node

    @staticmethod
    def _await_reference_volume(node, path, references, manager):
        """Move ``node``, loaded from the SEG at ``path`` by a report, onto the volume it references once that is loaded.

        Nothing to do when the node has its reference geometry already (the
        volume was in the scene) or the SEG names no source images.
        """
        reference = node.GetNodeReference(node.GetReferenceImageGeometryReferenceRole())
        if reference is None and references.referenced_instance_uids:
            from DicomManager.core.reading.seg_reader import read_seg
            from DicomManager.mrml.reference_placement import ReferenceVolumeWatch

            # The browser may load the referenced volume later in this batch, or the user later on.
            ReferenceVolumeWatch(
                node,
                references.referenced_instance_uids,
                move=lambda volume: manager.move_onto_reference_volume(node, read_seg(path), volume),
                defer=lambda call: qt.QTimer.singleShot(0, call),
            )

    def load_measurement_report(self, loadable):
        """Load a TID 1500 report as a table node under its study, with the SEGs it measures; raises DicomLabelMapSegError.

        A SEG already in the scene is used as it is; one that is not is loaded
        from the DICOM database by our loader and placed as the browser would
        have placed it: under its own study, and on the grid of the volume it
        references, now or when that volume is loaded. The table is shown.
        """
        ensure_requirements(BASE_REQUIREMENTS)
        from DicomManager.app.segmentation_actions import SegmentationActions
        from DicomManager.mrml.subject_hierarchy import nodes_outside_studies
        from DicomManager.mrml.volume_nodes import INSTANCE_UIDS_ATTRIBUTE

        manager = SegmentationActions(slicer.mrmlScene, slicer.dicomDatabase).manager
        table, segmentations = manager.load_measurement_report(Path(loadable.files[0]))
        self.addSeriesInSubjectHierarchy(loadable, table)
        for node in nodes_outside_studies(slicer.mrmlScene, segmentations):
            seg_file = slicer.dicomDatabase.fileForInstance(node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE))
            if seg_file:  # else loaded from a file outside the database: it stays where it is
                seg_loadable = DICOMLoadable()
                seg_loadable.files = [seg_file]
                self.addSeriesInSubjectHierarchy(seg_loadable, node)
                self._await_reference_volume(node, Path(seg_file), read_seg_references(Path(seg_file)), manager)
        self._show_table(table)
        return table

    @staticmethod
    def _show_table(table):
        """Switch to a layout with a table view showing ``table``, as Slicer's TID 1500 plugin shows its tables."""
        layoutManager = slicer.app.layoutManager()
        if layoutManager is None:
            return  # no views: Slicer runs without its main window
        layoutManager.setLayout(slicer.modules.tables.logic().GetLayoutWithTable(layoutManager.layout))
        slicer.app.applicationLogic().GetSelectionNode().SetActiveTableID(table.GetID())
        slicer.app.applicationLogic().PropagateTableSelection()

    def examineForExport(self, subjectHierarchyItemID):
        """Offer a segmentation node whose reference volume's images are all in the DICOM database.

        Where highdicom or pydicom 3 is missing (Slicer 5.10) the node is
        offered below the core exporter; exporting installs them first.
        """
        shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
        node = shNode.GetItemDataNode(subjectHierarchyItemID)
        if node is None or not node.IsA("vtkMRMLSegmentationNode"):
            return []
        missing = missing_requirements(requirements_to_write(DEFAULT_COMPRESSION))
        if not missing:
            from DicomManager.app.segmentation_actions import SegmentationActions

            problem = SegmentationActions(slicer.mrmlScene, slicer.dicomDatabase).manager.export_problem(node)
            if problem:
                logging.debug(f"{self.loadType}: not offering {node.GetName()!r} for export: {problem}")
                return []
        offer = export_offer(missing)
        exportable = slicer.qSlicerDICOMExportable()
        exportable.name = _("DICOM Label Map Segmentation")
        exportable.tooltip = offer.tooltip
        exportable.subjectHierarchyItemID = subjectHierarchyItemID
        exportable.pluginClass = self.__module__
        exportable.confidence = offer.confidence
        exportable.setTag("Modality", "SEG")
        exportable.setTag("SeriesDescription", node.GetName())
        exportable.setTag("SeriesNumber", "300")
        exportable.setTag("ContentCreatorName", "")
        return [exportable]

    def export(self, exportables):
        """Write each exportable as a LABELMAP SEG in its folder and add it to the database; "" or the error.

        The series description is the one typed in the export dialog, else
        the segmentation's name.
        """
        try:
            ensure_requirements(requirements_to_write(DEFAULT_COMPRESSION))
            from DicomManager.app.segmentation_actions import SegmentationActions
            from DicomManager.core.writing.export_options import ExportOptions

            actions = SegmentationActions(slicer.mrmlScene, slicer.dicomDatabase)
            shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
            for exportable in exportables:
                segmentation = shNode.GetItemDataNode(exportable.subjectHierarchyItemID)
                problem = actions.manager.export_problem(segmentation)
                if problem:
                    return problem
                options = ExportOptions().with_series(
                    series_description=exportable.tag("SeriesDescription") or None,
                    series_number=_whole_number(exportable.tag("SeriesNumber")),
                    content_creator_name=exportable.tag("ContentCreatorName") or None,
                )
                actions.export(segmentation, Path(exportable.directory), options)
        except DicomLabelMapSegError as error:
            return str(error)
        return ""


def _whole_number(text):
    """``text`` as an int, or None when it is empty or not a number."""
    try:
        return int(str(text).strip())
    except ValueError:
        return None


class DICOMLabelMapSegPlugin(ScriptedLoadableModule):
    """Hidden module whose only job is to register the plugin with the DICOM module."""

    def __init__(self, parent):
        super().__init__(parent)
        self.parent.title = _("DICOM Label Map Segmentation Plugin")
        self.parent.categories = ["Developer Tools.DICOM Plugins"]
        self.parent.contributors = ["DICOMLabelMapSeg developers"]
        self.parent.helpText = _(
            "Loads DICOM Segmentation series (LABELMAP, BINARY, FRACTIONAL) from the DICOM browser and exports "
            "segmentations as LABELMAP SEG. No panel of its own: use the DICOM module or DICOMLabelMapSeg."
        )
        self.parent.acknowledgementText = _("Built on highdicom and pydicom.")
        self.parent.dependencies = ["DICOM", "Segmentations", "Terminologies"]
        self.parent.hidden = True
        if not hasattr(slicer.modules, "dicomPlugins"):
            slicer.modules.dicomPlugins = {}
        slicer.modules.dicomPlugins[PLUGIN_KEY] = DICOMLabelMapSegPluginClass


class DICOMLabelMapSegPluginTest(ScriptedLoadableModuleTest):
    """The plugin in the real DICOM browser path: what it offers, what it loads, and that a failed load leaves nothing."""

    def setUp(self):
        slicer.mrmlScene.Clear(0)

    def runTest(self):
        self.setUp()
        self.test_offers_labelmap_above_core_plugin()
        self.setUp()
        self.test_failed_load_leaves_no_node()
        self.setUp()
        self.test_classic_seg_with_overlaps_loads_into_layers()
        self.setUp()
        self.test_measurement_report_loads_as_a_table_with_its_seg_once()

    def test_offers_labelmap_above_core_plugin(self):
        from DICOMLib import DICOMUtils

        with _WrittenDemoCase() as case, DICOMUtils.TemporaryDICOMDatabase():
            DICOMUtils.importDicom(str(case.folder))
            loadablesByPlugin, _enabled = DICOMUtils.getLoadablesFromFileLists(
                [slicer.dicomDatabase.filesForSeries(case.seg_series_uid)]
            )
            DICOMUtils.selectHighestConfidenceLoadables(loadablesByPlugin)
            offered = [(plugin, item) for plugin, items in loadablesByPlugin.items() for item in items]
            selected = {plugin.loadType for plugin, item in offered if item.selected}
            self.assertEqual(selected, {DICOMLabelMapSegPluginClass().loadType})
            ours = [item for plugin, item in offered if isinstance(plugin, DICOMLabelMapSegPluginClass)]
            self.assertEqual(len(ours), 1)
            self.assertEqual(set(ours[0].referencedInstanceUIDs), set(case.ct_instance_uids))
            ct_files = slicer.dicomDatabase.filesForSeries(case.ct_series_uid)
            self.assertEqual(DICOMLabelMapSegPluginClass().examineForImport([ct_files]), [])

    def test_failed_load_leaves_no_node(self):
        from DICOMLib import DICOMUtils

        with _WrittenDemoCase() as case, DICOMUtils.TemporaryDICOMDatabase():
            DICOMUtils.importDicom(str(case.folder))
            seg_file = slicer.dicomDatabase.filesForSeries(case.seg_series_uid)[0]
            plugin = DICOMLabelMapSegPluginClass()
            loadable = plugin.examineForImport([[seg_file]])[0]
            data = Path(seg_file).read_bytes()
            Path(seg_file).write_bytes(data[: len(data) // 2])
            nodes_before = slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode")
            self.assertFalse(plugin.load(loadable))
            self.assertEqual(slicer.mrmlScene.GetNumberOfNodesByClass("vtkMRMLSegmentationNode"), nodes_before)

    def test_classic_seg_with_overlaps_loads_into_layers(self):
        import highdicom as hd
        import numpy as np
        from DICOMLib import DICOMUtils

        from DicomManager import ExportOptions, LayeredSegmentation, OverlapPolicy, SegmentMetadata, write_segmentation
        from DicomManager.mrml.segmentation_nodes import layers_from_segmentation_node

        with _WrittenDemoCase() as case, DICOMUtils.TemporaryDICOMDatabase():
            labels = case.files.case.labels
            box = np.zeros_like(labels.array)
            box[10:20, 30:60, 30:60] = 11  # overlaps the liver
            segments = [*case.files.case.segments, SegmentMetadata(number=11, label="Lesion", color=(250, 250, 0))]
            layers = [labels, hd.Volume(box, labels.affine, "PATIENT", labels.frame_of_reference_uid)]
            layer_of_segment = {**{s.number: 0 for s in case.files.case.segments}, 11: 1}
            written = write_segmentation(
                LayeredSegmentation(layers, segments, layer_of_segment), case.files.source, case.folder / "binary",
                ExportOptions(overlap=OverlapPolicy.BINARY, file_name="overlap.dcm"),
            )
            self.assertEqual(written.segmentation_type, "BINARY")
            DICOMUtils.importDicom(str(case.folder))
            plugin = DICOMLabelMapSegPluginClass()
            loadables = plugin.examineForImport([slicer.dicomDatabase.filesForSeries(written.series_instance_uid)])
            self.assertEqual(len(loadables), 1)
            node = plugin.load_segmentation(loadables[0])
            segmentation = node.GetSegmentation()
            self.assertEqual(segmentation.GetNumberOfSegments(), len(segments))
            self.assertEqual(segmentation.GetNumberOfLayers(), 2)
            loaded = layers_from_segmentation_node(node, case.files.source.geometry)
            self.assertEqual(sorted(loaded.layer_of_segment), sorted(layer_of_segment))
            for number, index in loaded.layer_of_segment.items():
                self.assertTrue(np.array_equal(loaded.layers[index], layers[layer_of_segment[number]].array))

    def test_measurement_report_loads_as_a_table_with_its_seg_once(self):
        """A report of the demo SEG, imported with it: offered above Slicer's TID 1500 plugin, loaded under its study."""
        import numpy as np
        from DICOMLib import DICOMUtils

        from DicomManager.core.measurements.measurement_report import write_measurement_report
        from DicomManager.core.measurements.measuring import measure_seg

        with _WrittenDemoCase() as case, DICOMUtils.TemporaryDICOMDatabase():
            report = measure_seg(case.files.seg.path, case.files.source).report()
            write_measurement_report(report, case.folder / "report" / "report.dcm")
            DICOMUtils.importDicom(str(case.folder))
            report_file = slicer.dicomDatabase.fileForInstance(report.SOPInstanceUID)
            self.assertTrue(report_file)

            loadablesByPlugin, _enabled = DICOMUtils.getLoadablesFromFileLists([[report_file]])
            DICOMUtils.selectHighestConfidenceLoadables(loadablesByPlugin)
            selected = [(plugin, item) for plugin, items in loadablesByPlugin.items() for item in items if item.selected]
            self.assertEqual([plugin.loadType for plugin, _item in selected], [DICOMLabelMapSegPluginClass().loadType])
            plugin, loadable = selected[0]
            self.assertTrue(plugin.load(loadable))

            (table,) = slicer.util.getNodesByClass("vtkMRMLTableNode")
            labels = case.files.case.labels.array
            numbers = [int(number) for number in np.unique(labels) if number != 0]
            self.assertEqual(table.GetNumberOfRows(), len(numbers))
            self.assertEqual(table.GetColumnUnitLabel("Volume"), "mm3")
            self.assertEqual(table.GetColumnUnitLabel("Number of voxels"), "voxels")
            vtkTable = table.GetTable()
            voxelVolume = float(np.prod(case.files.case.labels.spacing))
            for row in range(table.GetNumberOfRows()):
                number = vtkTable.GetValueByName(row, "Segment number").ToInt()
                count = int(np.count_nonzero(labels == number))
                self.assertEqual(vtkTable.GetValueByName(row, "Number of voxels").ToDouble(), count)
                self.assertAlmostEqual(vtkTable.GetValueByName(row, "Volume").ToDouble(), count * voxelVolume, places=3)

            shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
            studyLevel = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMLevelStudy()
            dicomUID = slicer.vtkMRMLSubjectHierarchyConstants.GetDICOMUIDName()
            studyUID = case.files.source.datasets[0].StudyInstanceUID

            def studyOf(node):
                return shNode.GetItemUID(shNode.GetItemAncestorAtLevel(shNode.GetItemByDataNode(node), studyLevel), dicomUID)

            self.assertEqual(studyOf(table), studyUID)
            (segmentation,) = self._segmentationsOf(case.files.seg.sop_instance_uid)
            self.assertEqual(studyOf(segmentation), studyUID)

            self.assertTrue(plugin.load(loadable))  # again: a second table, the same SEG node
            self.assertEqual(len(slicer.util.getNodesByClass("vtkMRMLTableNode")), 2)
            self.assertEqual(self._segmentationsOf(case.files.seg.sop_instance_uid), [segmentation])

    @staticmethod
    def _segmentationsOf(sopInstanceUID):
        """The segmentation nodes loaded from the SEG instance ``sopInstanceUID``."""
        nodes = slicer.util.getNodesByClass("vtkMRMLSegmentationNode")
        return [node for node in nodes if node.GetAttribute("DICOM.instanceUIDs") == sopInstanceUID]


class _WrittenDemoCase:
    """The built-in demo case written to a temporary folder: CT series and its LABELMAP SEG."""

    def __enter__(self):
        import tempfile

        from DicomManager.cli.demo import write_demo_files

        self._folder = tempfile.TemporaryDirectory(prefix="DICOMLabelMapSegPluginTest-")
        self.folder = Path(self._folder.name)
        files = write_demo_files(self.folder)
        self.files = files
        self.ct_series_uid = files.source.series_instance_uid
        self.ct_instance_uids = files.source.sop_instance_uids
        self.seg_series_uid = files.seg.series_instance_uid
        return self

    def __exit__(self, *exc_info):
        self._folder.cleanup()
