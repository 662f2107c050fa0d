"""A measurement report as a table node: a row per segment, a column per quantity with its unit."""

from __future__ import annotations

import slicer
import vtk

from ..core.measurements.report_reading import MeasurementReportContents, report_table
from .volume_nodes import INSTANCE_UIDS_ATTRIBUTE

SEGMENT_COLUMN = "Segment"
NUMBER_COLUMN = "Segment number"


def create_measurement_table_node(scene: slicer.vtkMRMLScene, report: MeasurementReportContents) -> slicer.vtkMRMLTableNode:
    """Add a table node holding ``report``'s groups, named after its series description."""
    columns, rows = report_table(report)
    table = scene.AddNewNodeByClass("vtkMRMLTableNode", scene.GenerateUniqueName(report.series_description or "Measurements"))
    table.SetUseColumnNameAsColumnHeader(True)
    labels = vtk.vtkStringArray()
    labels.SetName(SEGMENT_COLUMN)
    numbers = vtk.vtkIntArray()
    numbers.SetName(NUMBER_COLUMN)
    values = {}
    for column in columns:
        values[column.name] = vtk.vtkDoubleArray()
        values[column.name].SetName(column.name)
    for group, row in zip(report.groups, rows, strict=True):
        labels.InsertNextValue(group.tracking_identifier)
        numbers.InsertNextValue(group.segment_number or 0)
        for column in columns:
            values[column.name].InsertNextValue(row.get(column.name, float("nan")))
    for array in (labels, numbers, *values.values()):
        table.AddColumn(array)
    for column in columns:
        table.SetColumnUnitLabel(column.name, column.unit)
    table.SetAttribute(INSTANCE_UIDS_ATTRIBUTE, report.sop_instance_uid)
    return table
