"""How long the user's "no" to installing Python packages holds: through one batch of loads, then no longer.

Slicer's DICOM browser loads the loadables of one batch one after another
(``DICOMUtils.loadLoadables``) and runs the event loop before each of them
(its progress callback calls ``slicer.app.processEvents()``), and nothing
tells a plugin when the batch ends. So a refusal is kept while operations
keep asking for the same packages, each within :data:`REFUSAL_HOLDS_S` of
the previous ask; after a pause that long the user is asked again.

Nothing here imports ``slicer``; :mod:`DicomManager.app.dependencies` asks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

REFUSAL_HOLDS_S = 60.0
"""Seconds a refusal holds after the last operation that asked for the same packages.

Longer than loading any one loadable between two of ours in a batch takes
(a CT series of a few hundred slices loads in seconds), short enough that a
user who changed their mind is asked again on their next try.
"""


class InstallRefusals:
    """The sets of requirements the user declined to install, each held while asks for it keep coming."""

    def __init__(self, holds_s: float = REFUSAL_HOLDS_S, clock: Callable[[], float] = time.monotonic) -> None:
        self._holds_s = holds_s
        self._clock = clock
        self._last_asked: dict[frozenset[str], float] = {}

    def refused(self, requirements: Iterable[str]) -> None:
        """Remember that the user declined to install ``requirements``."""
        self._last_asked[frozenset(requirements)] = self._clock()

    def holds(self, requirements: Iterable[str]) -> bool:
        """Whether ``requirements`` were declined and asked for again since, each time within the holding time.

        A refusal that holds is kept for another holding time from now.
        """
        key = frozenset(requirements)
        last = self._last_asked.get(key)
        now = self._clock()
        if last is None or now - last > self._holds_s:
            self._last_asked.pop(key, None)
            return False
        self._last_asked[key] = now
        return True
