"""MrmlDicomManager: the one object the module panel, the DICOM plugin and the console use.

It works on the scene it is given and finds source images through an
:class:`~DicomManager.core.geometry.instance_index.InstanceLocator` (Slicer's DICOM
database inside Slicer); every decision about DICOM is made in the core
modules it calls.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import slicer

from ..core.codecs.compression_choices import Compression
from ..core.geometry.grids import check_same_voxel_grid
from ..core.geometry.instance_index import InstanceFileIndex, InstanceLocator
from ..core.geometry.source_series import SourceSeries, read_source_series, read_source_series_folder
from ..core.measurements.measurement_report import ReportSeries, write_measurement_report
from ..core.measurements.measuring import measure_seg
from ..core.measurements.report_reading import read_measurement_report
from ..core.reading.seg_contents import SegContents, placed_on_grid
from ..core.reading.seg_reader import read_seg
from ..core.reading.seg_references import SegReferences, read_seg_references
from ..core.segments.segment_metadata import SegmentMetadata
from ..core.writing.export_options import ExportOptions
from ..core.writing.series_writer import WrittenSeries, write_segmentation
from ..core.writing.synthetic_series import SyntheticSeriesInfo, write_ct_series
from ..errors import DicomDatabaseError, GeometryMismatchError, SourceSeriesError
from .image_arrays import array_from_image
from .measurement_tables import create_measurement_table_node
from .segmentation_nodes import (
    create_layered_segmentation_node,
    layered_segmentation_of_node,
    replace_segments,
    series_attributes_of_node,
    set_series_attributes,
)
from .volume_nodes import (
    INSTANCE_UIDS_ATTRIBUTE,
    create_volume_node_from_series,
    find_volume_node_for_instances,
    grid_of_volume_node,
    instance_uids_of_volume_node,
)

logger = logging.getLogger(__name__)


class MrmlDicomManager:
    """Exports segmentation nodes of one MRML scene as LABELMAP SEG and loads SEGs into segmentation nodes.

    ``instance_locator`` is asked for the files of instances this manager has
    not read itself (Slicer's DICOM database, inside Slicer).
    """

    def __init__(self, scene: slicer.vtkMRMLScene, instance_locator: InstanceLocator | None = None) -> None:
        self.scene = scene
        self._read_instances = InstanceFileIndex()
        self._read_series: dict[frozenset[str], SourceSeries] = {}
        self._instance_locator = instance_locator

    def load_reference_volume(self, dicom_folder: Path, name: str | None = None) -> slicer.vtkMRMLScalarVolumeNode:
        """Load the one image series in ``dicom_folder`` as a volume node that exports can reference."""
        return self.volume_from_series(read_source_series_folder(Path(dicom_folder)), name)

    def volume_from_series(self, source: SourceSeries, name: str | None = None) -> slicer.vtkMRMLScalarVolumeNode:
        """A volume node of a source series already read, which exports can reference."""
        self._remember(source)
        return create_volume_node_from_series(self.scene, source, name)

    def create_synthetic_series(
        self, volume_node: slicer.vtkMRMLScalarVolumeNode, output_dir: Path, info: SyntheticSeriesInfo
    ) -> SourceSeries:
        """Write a DICOM series for a volume that did not come from DICOM, so that a SEG can reference it.

        The images are CT Image Storage on the volume's exact grid, carrying
        only what ``info`` gives. The volume node then names them in its
        ``DICOM.instanceUIDs`` attribute, as if it had been loaded from them.
        """
        grid = grid_of_volume_node(volume_node)
        if volume_node.GetImageData().GetNumberOfScalarComponents() != 1:
            raise SourceSeriesError(f"Volume {volume_node.GetName()!r} has more than one component per voxel.")
        voxels = array_from_image(volume_node.GetImageData())
        paths = write_ct_series(voxels, grid, Path(output_dir), info)
        source = read_source_series(paths)
        self._remember(source)
        volume_node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, " ".join(source.sop_instance_uids))
        logger.info("Wrote %d images for volume %r to %s", len(paths), volume_node.GetName(), output_dir)
        return source

    def export_segmentation_as_dicom_seg(
        self,
        segmentation_node: slicer.vtkMRMLSegmentationNode,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode,
        series_description: str,
        output_dir: Path,
        compression: Compression | str | None = None,
        segment_metadata: Sequence[SegmentMetadata] | None = None,
        *,
        options: ExportOptions = ExportOptions(),
    ) -> str:
        """Write the segmentation as a LABELMAP SEG over the reference volume's DICOM series; return its SeriesInstanceUID.

        The first version of this API, kept for the callers written against it: :meth:`export_segmentation`
        with the series description and compression as arguments of their own.
        ``compression``, when given, replaces ``options.compression``.
        """
        options = options.with_series(series_description=series_description)
        if compression is not None:
            options = replace(options, compression=compression)
        written = self.export_segmentation(segmentation_node, reference_volume_node, Path(output_dir), options, segment_metadata)
        return written.series_instance_uid

    def export_segmentation(
        self,
        segmentation_node: slicer.vtkMRMLSegmentationNode,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode,
        output_dir: Path,
        options: ExportOptions = ExportOptions(),
        segment_metadata: Sequence[SegmentMetadata] | None = None,
    ) -> WrittenSeries:
        """Write the segmentation as a SEG series over the reference volume's DICOM images, in ``output_dir``.

        Parameters
        ----------
        segmentation_node:
            The segments; their numbers are their label values (gaps kept).
        reference_volume_node:
            A volume loaded from DICOM (node attribute ``DICOM.instanceUIDs``),
            or one :meth:`create_synthetic_series` made a series for.
        output_dir:
            Folder of the SEG files.
        options:
            How to write (see :class:`~DicomManager.core.writing.export_options.ExportOptions`).
            Series attributes it leaves unset are those the node kept from the
            SEG it was loaded from, then the defaults; the series description
            is the node's name unless the options give one, so the SEG is
            listed, and loads back, under the name the segmentation has.
        segment_metadata:
            Replaces what the node says for the segments whose numbers it lists.

        Raises
        ------
        SourceSeriesError
            The volume's DICOM files are not found, or do not match it.
        DicomLabelMapSegError
            Any error of :func:`~DicomManager.core.writing.series_writer.write_segmentation`.
        """
        source = self.source_series_of(reference_volume_node)
        segmentation = layered_segmentation_of_node(segmentation_node, source.geometry).with_metadata(segment_metadata)
        kept = series_attributes_of_node(segmentation_node)
        options = options.over_series(replace(kept, series_description=segmentation_node.GetName() or None))
        return write_segmentation(segmentation, source, Path(output_dir), options)

    def load_segmentation(
        self,
        path: Path,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode | None = None,
        name: str | None = None,
    ) -> slicer.vtkMRMLSegmentationNode:
        """Load a SEG (LABELMAP, or classic BINARY/FRACTIONAL) as a new segmentation node.

        Overlapping segments of a classic SEG go to separate labelmap layers.
        The node is called ``name``, else the SEG's series description, else
        the file's stem, exactly: Slicer allows nodes of the same name, and
        modules that find segmentations by name (CrossSegmentationExplorer
        groups them by keywords in their names) must see the one the DICOM
        browser showed.

        With ``reference_volume_node`` the labels are placed on its grid and the
        node takes it as reference geometry; without it they keep the SEG's own
        grid. Nothing is added to the scene when loading fails.

        Raises
        ------
        SegFileError, GeometryMismatchError, CodecUnavailableError
            As :func:`~DicomManager.core.reading.seg_reader.read_seg`.
        """
        return self.load_segmentation_contents(path, reference_volume_node, name)[0]

    def load_segmentation_contents(
        self,
        path: Path,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode | None = None,
        name: str | None = None,
    ) -> tuple[slicer.vtkMRMLSegmentationNode, SegContents]:
        """As :meth:`load_segmentation`, also giving what was read: for :meth:`move_onto_reference_volume` later.

        The node holds the layers' arrays as its own memory, so keeping the
        contents costs no copy of the voxels.
        """
        path = Path(path)
        reference = grid_of_volume_node(reference_volume_node) if reference_volume_node is not None else None
        result = read_seg(path, reference)
        node = create_layered_segmentation_node(
            self.scene,
            result,
            name=name or result.info.series_description or path.stem,
            adopt_arrays=True,  # read for this node alone: no copy of the volume
        )
        node.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, result.info.sop_instance_uid)
        set_series_attributes(node, result.info)
        for note in result.notes:
            logger.warning("%s: %s", path, note)
        if reference_volume_node is not None:
            node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
        logger.info("Loaded %s: %d segments", path, len(result.segments))
        return node, result

    def export_measurements(
        self,
        seg_path: Path,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode,
        output: Path,
        series: ReportSeries = ReportSeries(),
        overwrite: bool = False,
    ) -> Path:
        """Measure each segment of the SEG at ``seg_path`` over the volume's DICOM series; write a TID 1500 report.

        The statistics are those of Slicer's Segment Statistics (see
        :mod:`~DicomManager.core.measurements.segment_statistics`), over the
        series' stored values with their modality rescale; the report references
        the SEG's segments and joins its study.

        Raises
        ------
        SourceSeriesError
            The volume's DICOM files are not found.
        GeometryMismatchError
            The SEG is not on the volume's frame of reference or grid.
        """
        measured = measure_seg(Path(seg_path), self.source_series_of(reference_volume_node))
        return write_measurement_report(measured.report(series), Path(output), overwrite)

    def load_measurement_report(
        self, path: Path
    ) -> tuple[slicer.vtkMRMLTableNode, list[slicer.vtkMRMLSegmentationNode]]:
        """Load a TID 1500 report as a table node, and the SEGs it references unless they are loaded already.

        Raises
        ------
        SegFileError
            Not a measurement report highdicom reads.
        DicomDatabaseError
            A referenced SEG is neither in the scene nor found by the instance locator.
        """
        report = read_measurement_report(Path(path))
        segmentations = [self._segmentation_of_instance(uid, path) for uid in report.seg_sop_instance_uids]
        return create_measurement_table_node(self.scene, report), segmentations

    def _segmentation_of_instance(self, sop_instance_uid: str, report_path: Path) -> slicer.vtkMRMLSegmentationNode:
        """The segmentation node loaded from the SEG instance, loading it when it is not in the scene yet."""
        for node in self.scene.GetNodesByClass("vtkMRMLSegmentationNode"):
            if node.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) == sop_instance_uid:
                return node
        seg_path = self._file_for_instance(sop_instance_uid)
        if seg_path is None:
            raise DicomDatabaseError(
                f"{report_path}: the SEG it measures ({sop_instance_uid}) is not in the DICOM database; import it first."
            )
        return self.load_segmentation(seg_path, self.find_reference_volume(seg_path))

    def move_onto_reference_volume(
        self,
        segmentation_node: slicer.vtkMRMLSegmentationNode,
        contents: SegContents,
        reference_volume_node: slicer.vtkMRMLScalarVolumeNode,
    ) -> None:
        """Put the SEG the node was loaded from (``contents``, as read then) on the volume's grid, in place of its segments.

        For a SEG loaded before the volume it references (the DICOM browser
        may load the SEG of a study before its CT): afterwards the node is as
        if the volume had been in the scene first, with the volume as its
        reference geometry. The node's ID, name and hierarchy item stay. The
        decoded labels are moved (:func:`~DicomManager.core.reading.seg_contents.placed_on_grid`);
        only where the SEG's own grid does not lie on the volume's (frames on
        every other slice of it) is the file read again, onto the volume's grid.
        """
        grid = grid_of_volume_node(reference_volume_node)
        try:
            placed = placed_on_grid(contents, grid)
        except GeometryMismatchError as error:
            logger.debug("%s: read again onto %r: %s", contents.info.path, reference_volume_node.GetName(), error)
            placed = read_seg(contents.info.path, grid)
        replace_segments(segmentation_node, placed, adopt_arrays=True)
        segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(reference_volume_node)
        logger.info("Placed %s on the grid of %r", contents.info.path, reference_volume_node.GetName())

    def reference_volume_of(
        self, segmentation_node: slicer.vtkMRMLSegmentationNode
    ) -> slicer.vtkMRMLScalarVolumeNode | None:
        """The volume a segmentation was made on (its reference image geometry), if it names one."""
        return segmentation_node.GetNodeReference(segmentation_node.GetReferenceImageGeometryReferenceRole())

    def export_problem(self, segmentation_node: slicer.vtkMRMLSegmentationNode) -> str | None:
        """Why the segmentation cannot be exported as it is, or None when it can.

        Cheap (no voxels are read): the DICOM browser asks this to decide
        whether to offer the export at all.
        """
        volume = self.reference_volume_of(segmentation_node)
        name = segmentation_node.GetName()
        if volume is None:
            return f"Segmentation {name!r} has no reference volume; segment it on a volume loaded from DICOM."
        uids = (volume.GetAttribute(INSTANCE_UIDS_ATTRIBUTE) or "").split()
        if not uids:
            return f"Volume {volume.GetName()!r} was not loaded from DICOM; make a DICOM series for it first."
        missing = sum(1 for uid in uids if self._file_for_instance(uid) is None)
        if missing:
            return f"{missing} of the {len(uids)} images of volume {volume.GetName()!r} are not found."
        return None

    def find_reference_volume(self, path: Path) -> slicer.vtkMRMLScalarVolumeNode | None:
        """The volume in the scene that was loaded from the images the SEG at ``path`` references, if any."""
        return self.reference_volume_for(read_seg_references(Path(path)))

    def reference_volume_for(self, references: SegReferences) -> slicer.vtkMRMLScalarVolumeNode | None:
        """As :meth:`find_reference_volume`, for references already read from the SEG's header."""
        return find_volume_node_for_instances(self.scene, references.referenced_instance_uids)

    def source_series_of(self, volume_node: slicer.vtkMRMLScalarVolumeNode) -> SourceSeries:
        """The DICOM series a volume was loaded from, checked against the volume's grid.

        Raises
        ------
        SourceSeriesError
            The volume names no DICOM images, their files are not found, or
            they do not lie on the volume's grid.
        """
        uids = instance_uids_of_volume_node(volume_node)
        source = self._read_series.get(frozenset(uids))
        if source is not None and all(path.is_file() for path in source.paths):
            # Read by this manager already and still on disk: its headers need not be read again.
            check_same_voxel_grid(grid_of_volume_node(volume_node), source.geometry, f"Volume {volume_node.GetName()!r}")
            return source
        paths = [self._file_for_instance(uid) for uid in uids]
        missing = [uid for uid, path in zip(uids, paths, strict=True) if path is None or not path.is_file()]
        if missing:
            raise SourceSeriesError(
                f"Volume {volume_node.GetName()!r}: the files of {len(missing)} of its {len(uids)} source "
                f"images are not found (first: {missing[0]})."
            )
        grid = grid_of_volume_node(volume_node)
        source = read_source_series(paths, grid)
        check_same_voxel_grid(grid, source.geometry, f"Volume {volume_node.GetName()!r} (against its DICOM files)")
        return source

    def _remember(self, source: SourceSeries) -> None:
        """Keep a series this manager read: its files answer instance look-ups, its headers later exports."""
        self._read_instances.add_series(source)
        self._read_series[frozenset(source.sop_instance_uids)] = source

    def _file_for_instance(self, sop_instance_uid: str) -> Path | None:
        path = self._read_instances.file_for_instance(sop_instance_uid)
        if path is None and self._instance_locator is not None:
            path = self._instance_locator.file_for_instance(sop_instance_uid)
        return Path(path) if path is not None else None


DicomManager = MrmlDicomManager
"""The name this class had first, the package's own: kept for the code that uses it."""
