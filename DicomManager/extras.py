"""Which optional extra of the ``dicomlabelmapseg`` package provides a module, and what to say when one is missing.

The base install reads and writes SEGs from arrays and Slicer's ``.seg.nrrd``
files. Slicer's MRML classes (segmentation and volume nodes, the demo, run
migration), sending to archives and Dask clusters come with extras; where
their modules are missing, the user is told in one line which extra to
install instead of meeting a ``ModuleNotFoundError``.
"""

from __future__ import annotations

from .errors import DependencyError

EXTRA_OF_MODULE = {
    "slicer": ("slicer", "slicer-core"),
    "vtkmodules": ("slicer", "slicer-core"),
    "vtk": ("slicer", "slicer-core"),
    "pynetdicom": ("network", "pynetdicom"),
    "dicomweb_client": ("network", "dicomweb-client"),
    "distributed": ("dask", "distributed"),
}
"""Top-level module -> (the extra that installs it, the package it comes in)."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install 'dicomlabelmapseg[{extra}]'"


def missing_extra_message(error: ModuleNotFoundError, needed_by: str) -> str | None:
    """What to tell the user when ``error`` is a module of an extra that ``needed_by`` uses; None for any other module.

    A module that is none of the extras' is not the user's to install: that is a bug to show as it is.
    """
    module = (error.name or "").partition(".")[0]
    if module not in EXTRA_OF_MODULE:
        return None
    extra, package = EXTRA_OF_MODULE[module]
    return f"{needed_by} needs {package}, which is not installed: {install_hint(extra)}"


def missing_extra_error(error: ModuleNotFoundError, needed_by: str) -> DependencyError | None:
    """:func:`missing_extra_message` as our own error, ``error`` chained; None for a module of no extra."""
    message = missing_extra_message(error, needed_by)
    if message is None:
        return None
    dependency = DependencyError(message)
    dependency.__cause__ = error
    return dependency
