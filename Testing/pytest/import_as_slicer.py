"""Run a Slicer module file the way Slicer's scripted-module factory does, and report what it imported.

Usage: ``python -S import_as_slicer.py MODULE_FILE [SITE_DIR ...]``

``sys.path`` becomes the standard library, the module file's own folder and
the given site-packages folders: what Slicer gives a module file (``-S`` keeps
``.pth`` files, such as an editable install of this project, out). The module
is loaded with ``importlib.util.spec_from_file_location``, as
``qSlicerScriptedUtils::loadSourceAsModule`` loads it. The modules of the
Slicer application itself (``slicer``, ``qt``, ``ctk``, ``vtk``, ``DICOMLib``),
which cannot run outside Slicer, are stand-ins that accept any use; every
other import is real. Prints one JSON object on stdout.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import sys
import types
from pathlib import Path

SLICER_APPLICATION_MODULES = ("slicer", "qt", "ctk", "vtk", "DICOMLib")


class _StandIn:
    """Anything the Slicer application gives: callable, subclassable, with any attribute; remembers its call."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __call__(self, *args, **kwargs):
        return _StandIn(*args, **kwargs)

    def __getattr__(self, name):
        return _StandIn()


class _StandInModule(types.ModuleType):
    """A package whose every attribute is a class of its own, so that module classes can derive from several."""

    def __init__(self, name):
        super().__init__(name)
        self.__path__ = []

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        stand_in = type(name, (_StandIn,), {})
        setattr(self, name, stand_in)
        return stand_in


class _SlicerApplicationFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in SLICER_APPLICATION_MODULES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return _StandInModule(spec.name)

    def exec_module(self, module):
        pass


def main(module_file: Path, site_dirs: list[str]) -> dict:
    standard_library = [path for path in sys.path[1:] if "site-packages" not in path]
    sys.path[:] = [str(module_file.parent), *standard_library, *site_dirs]
    sys.meta_path.insert(0, _SlicerApplicationFinder())

    spec = importlib.util.spec_from_file_location(module_file.stem, module_file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_file.stem] = module
    spec.loader.exec_module(module)

    import pydicom

    import DicomManager

    report = {
        "dicom_manager": DicomManager.__file__,
        "pydicom": pydicom.__version__,
        "highdicom_imported": "highdicom" in sys.modules,
        "compression_choices": _compression_choices(module),
    }
    from DicomManager import Compression
    from DicomManager.app.package_requirements import missing_requirements, requirements_to_read, requirements_to_write

    report["missing_to_write"] = {c.value: missing_requirements(requirements_to_write(c)) for c in Compression}
    report["missing_to_read"] = {
        c.value: missing_requirements(requirements_to_read(c.transfer_syntax_uid)) for c in Compression
    }
    return report


def _compression_choices(module) -> list[str] | None:
    """The values the panel's parameter node offers for ``compression``, when this module has that node."""
    wrapped = getattr(module, "DICOMLabelMapSegParameterNode", None)
    if wrapped is None:
        return None
    (parameter_node_class,) = wrapped.args  # what @parameterNodeWrapper was given
    (choice,) = parameter_node_class.__annotations__["compression"].__metadata__
    (values,) = choice.args
    return list(values)


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]).resolve(), sys.argv[2:])))
