"""What an export does when segments overlap, which one LABELMAP cannot hold.

Segments that do not overlap are always written as one LABELMAP SEG. When
some do:

- ``binary`` (default): one classic BINARY SEG with every segment. It loses
  nothing and is the SEG every reader opens: dcmqi (Slicer's core plugin),
  highdicom, OHIF and this extension.
- ``layers``: one LABELMAP instance per Slicer labelmap layer, all in one
  series and referencing the same source. Smaller and faster, but a reader
  must know to combine the instances of the series.
- ``error``: refuse, naming the overlapping segments and their voxel counts.
"""

from __future__ import annotations

from enum import StrEnum

from ...errors import InvalidSegmentationError


class OverlapPolicy(StrEnum):
    """The value names are what the command line and the module panel accept."""

    BINARY = "binary"
    LAYERS = "layers"
    ERROR = "error"


DEFAULT_OVERLAP_POLICY = OverlapPolicy.BINARY


def parse_overlap_policy(value: str | OverlapPolicy) -> OverlapPolicy:
    """The policy named by ``value`` (case-insensitive), or an error listing the choices."""
    try:
        return OverlapPolicy(str(getattr(value, "value", value)).strip().lower())
    except ValueError:
        choices = ", ".join(policy.value for policy in OverlapPolicy)
        raise InvalidSegmentationError(f"Unknown overlap policy {value!r}; choose one of {choices}.") from None
