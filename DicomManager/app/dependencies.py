"""Install the Python packages DICOMLabelMapSeg needs, on first use, never at import time.

Slicer 5.12+ has ``slicer.packaging.pip_ensure`` (named ``slicer.pydeps`` in
some development builds): it checks, asks the user, installs and offers a
restart. Slicer 5.10 has only ``slicer.util.pip_install``, so there the
missing requirements are found here and the user is asked first.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from subprocess import CalledProcessError

import slicer

from ..errors import DependencyError

logger = logging.getLogger(__name__)

REQUESTER = "DICOMLabelMapSeg"


def requirements_file(name: str = "requirements.txt") -> Path:
    """A requirements file in the DICOMLabelMapSeg module's ``Resources``, as installed with the extension.

    ``requirements.txt`` is what every feature needs; ``requirements-network.txt``
    what sending to an archive adds (the ``network`` extra).
    """
    return Path(slicer.modules.dicomlabelmapseg.path).parent / "Resources" / name


def ensure_dependencies(requirements: Path | None = None) -> None:
    """Make sure every requirement in ``requirements`` is installed; ask before installing anything."""
    requirements = requirements or requirements_file()
    packaging_module = _slicer_packaging_module()
    if packaging_module is not None:
        try:
            packaging_module.pip_ensure(packaging_module.load_requirements(requirements), requester=REQUESTER)
        except (RuntimeError, CalledProcessError) as error:  # declined by the user, or pip failed
            raise DependencyError(f"{REQUESTER}'s Python packages are not installed: {error}") from None
        return
    missing = missing_requirements(requirements)
    if not missing:
        return
    listing = "\n".join(missing)
    question = f"{REQUESTER} needs these Python packages, which are not installed:\n\n{listing}\n\nInstall them now?"
    if not slicer.util.confirmOkCancelDisplay(question, "Install Python packages"):
        raise DependencyError(f"Not installed, so {REQUESTER} cannot run: {', '.join(missing)}.")
    try:
        slicer.util.pip_install(" ".join(missing))
    except CalledProcessError as error:
        raise DependencyError(f"Installing {', '.join(missing)} failed: {error}") from None
    importlib.invalidate_caches()


def missing_requirements(requirements: Path) -> list[str]:
    """The lines of a requirements file whose package is absent or of a version they exclude."""
    from packaging.requirements import Requirement

    missing = []
    for line in Path(requirements).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(line)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(line)
    return missing


def _slicer_packaging_module():
    """Slicer's own dependency helper module, or None on Slicer versions without one."""
    for name in ("slicer.packaging", "slicer.pydeps"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    return None
