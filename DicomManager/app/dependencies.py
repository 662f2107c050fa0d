"""Ask the user, then install, the Python packages an operation needs: on first use, never at import time.

What an operation needs, what is missing and when a restart is due are
decided in :mod:`DicomManager.app.package_requirements`; this module only
talks to the user and to pip. Slicer 5.12+ has ``slicer.packaging.pip_ensure``,
which asks, installs and offers a restart; Slicer 5.10 has only
``slicer.util.pip_install``, so there we ask first and offer the restart
ourselves.

Within one browser load (several loadables loaded in one go) the user is
asked once (:mod:`DicomManager.app.install_refusals` says how long a
refusal holds). Packages installed but not usable until a restart are not
offered again this session. Under ``--testing`` nothing is installed and no
restart is offered: Slicer's confirmation dialogs answer yes by themselves
there, and a test must not change Slicer's Python environment.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from subprocess import CalledProcessError

import slicer

from ..errors import DependencyError
from .install_refusals import InstallRefusals
from .package_requirements import missing_requirements, restart_needed

REQUESTER = "DICOMLabelMapSeg"

_refusals = InstallRefusals()
_awaiting_restart: set[str] = set()


def ensure_requirements(requirements: Sequence[str]) -> None:
    """Make sure ``requirements`` are installed and usable now; ask before installing anything.

    Raises :class:`DependencyError` when the user declines, pip fails, the
    packages installed take effect only after Slicer restarts, or Slicer runs
    its tests (where they must have been installed beforehand).
    """
    awaiting = [line for line in requirements if line in _awaiting_restart]
    if awaiting:
        raise DependencyError(f"{', '.join(awaiting)}: installed in this session; restart Slicer to use them.")
    missing = missing_requirements(requirements)
    if not missing:
        return
    if slicer.app.testingEnabled():
        raise DependencyError(
            f"Not installed, so {REQUESTER} cannot run: {', '.join(missing)} (Slicer runs its tests, "
            "where nothing is installed: install them before starting the tests)."
        )
    if _refusals.holds(missing):
        raise DependencyError(f"Not installed, so {REQUESTER} cannot run: {', '.join(missing)} (declined just now).")
    try:
        _install(missing)
    except DependencyError:
        _refusals.refused(missing)
        raise
    importlib.invalidate_caches()
    if restart_needed(missing, sys.modules):
        _awaiting_restart.update(missing)
        raise DependencyError(
            f"Installed {', '.join(missing)}; restart Slicer to use them (the versions loaded at startup stay in use until then)."
        )


def _install(missing: list[str]) -> None:
    """Install ``missing`` after asking; :class:`DependencyError` when declined or when pip fails."""
    packaging_module = _slicer_packaging_module()
    try:
        if packaging_module is not None:
            packaging_module.pip_ensure(missing, requester=REQUESTER, prompt_restart=True)
        else:
            _install_on_slicer_5_10(missing)
    except RuntimeError as error:  # pip_ensure: the user declined
        raise DependencyError(f"Not installed, so {REQUESTER} cannot run: {', '.join(missing)} ({error}).") from error
    except CalledProcessError as error:
        raise DependencyError(f"Installing {', '.join(missing)} failed: {error}") from error
    still_missing = missing_requirements(missing)
    if still_missing:
        raise DependencyError(f"Not installed, so {REQUESTER} cannot run: {', '.join(still_missing)}.")


def _install_on_slicer_5_10(missing: list[str]) -> None:
    """Ask, install with ``slicer.util.pip_install``, and offer the restart that Slicer 5.10 does not."""
    listing = "\n".join(missing)
    question = f"{REQUESTER} needs these Python packages, which are not installed:\n\n{listing}\n\nInstall them now?"
    if not slicer.util.confirmOkCancelDisplay(question, "Install Python packages"):
        raise DependencyError(f"Not installed, so {REQUESTER} cannot run: {', '.join(missing)}.")
    slicer.util.pip_install(list(missing))  # a list: each requirement is one argument
    if restart_needed(missing, sys.modules) and slicer.util.confirmYesNoDisplay(
        f"{REQUESTER} installed {', '.join(missing)}. Slicer must restart to use them. Restart now?",
        "Restart Slicer",
    ):
        slicer.util.restart()


def _slicer_packaging_module():
    """Slicer's own dependency helper module, or None on Slicer versions without one."""
    try:
        return importlib.import_module("slicer.packaging")
    except ImportError:
        return None
