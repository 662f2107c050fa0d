"""VTK's output window passed on to our logging at DEBUG, for processes outside the Slicer application.

VTK classes, slicer-core's among them, report through the process's one
``vtkOutputWindow``: errors, warnings and slicer-core's ``Info: In ...``
lines, which it writes to the terminal (text and info on standard output,
where they would break a command's JSON). The Slicer application shows them
in its error log; elsewhere they go to our logger, shown only where DEBUG is
(``--verbose`` on the command line). The cases that matter to the user are
checked by our own code, which raises an error of its own.
"""

from __future__ import annotations

import logging

from vtkmodules.util.misc import calldata_type
from vtkmodules.vtkCommonCore import VTK_STRING, vtkCommand, vtkOutputWindow

logger = logging.getLogger(__name__)

_routed_windows: set[int] = set()


@calldata_type(VTK_STRING)
def _log_message(_window: vtkOutputWindow, _event: str, text: str) -> None:
    logger.debug("VTK: %s", " ".join(text.split()))


def vtk_output_to_logging() -> None:
    """Send what VTK's output window is given to our logger at DEBUG instead of the terminal; once per process."""
    window = vtkOutputWindow.GetInstance()
    if id(window) in _routed_windows:
        return
    window.SetDisplayModeToNever()
    window.AddObserver(vtkCommand.MessageEvent, _log_message)  # every message, whatever its kind
    _routed_windows.add(id(window))
