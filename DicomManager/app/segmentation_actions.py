"""What the module panel, the DICOM browser plugin and the console do with segmentations, on a scene and a DICOM database.

The module files translate between Slicer's widgets, loadables and
exportables and these actions; the decisions they share are taken here once:
which volume a segmentation is exported over, where a volume that did not come
from DICOM gets its series, that what is written is added to the database,
that a SEG goes to an archive with the series it references, and the name a
loaded SEG's node gets. Nothing here reaches for
``slicer.mrmlScene`` or ``slicer.dicomDatabase``: the caller passes them, so
the same actions run on slicer-core's scene outside the application, without
a database.

Needs highdicom and pydicom 3: the module files import this once they have
made sure those are installed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import slicer

from ..core.measurements.measurement_report import report_path_beside
from ..core.reading.seg_references import SegReferences, read_seg_references
from ..core.writing.export_options import ExportOptions
from ..core.writing.file_output import refuse_existing, safe_file_name
from ..core.writing.series_writer import WrittenSeries
from ..core.writing.synthetic_series import SyntheticSeriesInfo
from ..errors import IncompleteRequestError
from ..mrml.manager import DicomManager
from ..mrml.reference_placement import Deferred, ReferenceVolumeWatch
from ..mrml.volume_nodes import INSTANCE_UIDS_ATTRIBUTE
from ..network.destinations import Destination, parse_destination
from ..network.sending import SentInstances, send_files

logger = logging.getLogger(__name__)


class DicomDatabase(Protocol):
    """The part of Slicer's ``ctkDICOMDatabase`` these actions use."""

    @property
    def isOpen(self) -> bool: ...

    def fileForInstance(self, sop_instance_uid: str) -> str: ...

    def insert(self, path: str) -> None: ...


@dataclass(frozen=True)
class DatabaseInstanceLocator:
    """An :class:`~DicomManager.core.geometry.instance_index.InstanceLocator` backed by a Slicer DICOM database."""

    database: DicomDatabase

    def file_for_instance(self, sop_instance_uid: str) -> Path | None:
        path = self.database.fileForInstance(sop_instance_uid)
        return Path(path) if path else None


class SegmentationActions:
    """Export, send and load segmentations in ``scene``, finding source images in and adding SEGs to ``database``.

    ``database`` is Slicer's DICOM database; None or a closed one means
    working without: source images are then found only among the series
    :attr:`manager` read itself, and nothing written is indexed.
    """

    def __init__(self, scene: slicer.vtkMRMLScene, database: DicomDatabase | None = None) -> None:
        self.database = database if database is not None and database.isOpen else None
        locator = DatabaseInstanceLocator(self.database) if self.database is not None else None
        self.manager = DicomManager(scene, locator)

    def reference_volume(
        self,
        segmentation_node: slicer.vtkMRMLSegmentationNode,
        chosen: slicer.vtkMRMLScalarVolumeNode | None = None,
    ) -> slicer.vtkMRMLScalarVolumeNode:
        """The volume to export ``segmentation_node`` over: ``chosen``, else the segmentation's own reference geometry volume."""
        volume = chosen or self.manager.reference_volume_of(segmentation_node)
        if volume is None:
            raise IncompleteRequestError(
                f"Segmentation {segmentation_node.GetName()!r} has no reference volume; choose one."
            )
        return volume

    def ensure_dicom_series(
        self,
        volume_node: slicer.vtkMRMLScalarVolumeNode,
        patient_id: str,
        output_dir: Path,
        add_to_database: bool = True,
    ) -> None:
        """Give a volume that did not come from DICOM a DICOM series carrying only ``patient_id``, so a SEG can reference it.

        The series goes into the database when adding to it (as
        :func:`~DicomManager.app.dicom_database.create_synthetic_dicom` puts it
        there), else to ``<output_dir>/<volume name>_DICOM``, beside the SEG. A
        volume that names its DICOM images already is left as it is.
        """
        if volume_node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE):
            return
        if add_to_database and self.database is not None:
            from .dicom_database import create_synthetic_dicom  # calls into the Slicer application

            create_synthetic_dicom(volume_node, patient_id)
            return
        info = SyntheticSeriesInfo(patient_id=patient_id, series_description=volume_node.GetName(), rescale_type="US")
        folder = Path(output_dir) / f"{safe_file_name(volume_node.GetName(), 'Volume')}_DICOM"
        self.manager.create_synthetic_series(volume_node, folder, info)

    def export(
        self,
        segmentation_node: slicer.vtkMRMLSegmentationNode,
        output_dir: Path,
        options: ExportOptions = ExportOptions(),
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode | None = None,
        add_to_database: bool = True,
    ) -> WrittenSeries:
        """Write the segmentation as SEG over :meth:`reference_volume` in ``output_dir``; add it to the database.

        The series description is the one in ``options``, else the
        segmentation's name (see
        :meth:`~DicomManager.mrml.manager.DicomManager.export_segmentation`).
        Nothing is added to the database without ``add_to_database`` or without
        a database.
        """
        volume = self.reference_volume(segmentation_node, reference_volume_node)
        written = self.manager.export_segmentation(segmentation_node, volume, Path(output_dir), options)
        for path in written.paths:
            if add_to_database and self.database is not None:
                self.database.insert(str(path))
                logger.info("Wrote %s and added it to the DICOM database", path)
            else:
                logger.info("Wrote %s", path)
        return written

    def send(
        self,
        written: WrittenSeries,
        segmentation_node: slicer.vtkMRMLSegmentationNode,
        destination: str | Destination,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode | None = None,
        include_source: bool = True,
    ) -> SentInstances:
        """Send an exported SEG to an archive, with the series of :meth:`reference_volume` unless told not to.

        ``destination`` is ``http(s)://...`` (DICOMweb), ``dicom://AE@host:port``
        (DIMSE) or a destination object. Needs the ``network`` extra.
        """
        if isinstance(destination, str):
            destination = parse_destination(destination)
        source_files = []
        if include_source:
            volume = self.reference_volume(segmentation_node, reference_volume_node)
            source_files = self.manager.source_series_of(volume).paths
        return send_files([*source_files, *written.paths], destination)

    def export_measurements(
        self,
        written: WrittenSeries,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode,
        add_to_database: bool = True,
        overwrite: bool = False,
    ) -> list[Path]:
        """Measure each SEG of ``written`` over the volume it was exported over; write its report beside it.

        One TID 1500 measurement report per SEG file, at
        :func:`~DicomManager.core.measurements.measurement_report.report_path_beside`
        (``Liver.dcm`` -> ``Liver_measurements.dcm``), added to the database as
        :meth:`export` adds the SEG. An existing report is replaced only with
        ``overwrite``.
        """
        targets = {seg_path: report_path_beside(seg_path) for seg_path in written.paths}
        for target in targets.values():
            refuse_existing(target, overwrite)  # before the first is written: all reports or none
        reports = []
        for seg_path, target in targets.items():
            report = self.manager.export_measurements(seg_path, reference_volume_node, target, overwrite=overwrite)
            if add_to_database and self.database is not None:
                self.database.insert(str(report))
                logger.info("Wrote %s and added it to the DICOM database", report)
            else:
                logger.info("Wrote %s", report)
            reports.append(report)
        return reports

    def load(
        self,
        path: Path,
        references: SegReferences | None = None,
        name: str | None = None,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode | None = None,
        *,
        defer: Deferred | None = None,
    ) -> slicer.vtkMRMLSegmentationNode:
        """Load the SEG at ``path`` as a segmentation node called ``name`` (default: its series description).

        The labels go on ``reference_volume_node``'s grid, else on that of the
        volume in the scene loaded from the images the SEG references, else
        they keep the SEG's own grid. ``references`` are the SEG's, when the
        caller has read them already. With ``defer`` (how the application runs
        a call on the next turn of its event loop), a SEG left on its own grid
        moves onto the volume it references once that is loaded
        (:class:`~DicomManager.mrml.reference_placement.ReferenceVolumeWatch`),
        its decoded labels moved rather than read again.
        """
        path = Path(path)
        if reference_volume_node is None:
            references = references or read_seg_references(path)
            reference_volume_node = self.manager.reference_volume_for(references)
        node, contents = self.manager.load_segmentation_contents(path, reference_volume_node, name=name)
        if reference_volume_node is None and defer is not None and references and references.referenced_instance_uids:
            manager = self.manager
            ReferenceVolumeWatch(
                node,
                references.referenced_instance_uids,
                move=lambda volume: manager.move_onto_reference_volume(node, contents, volume),
                defer=defer,
            )
        return node
