"""What a command did, as the one JSON object ``--json`` prints on standard output.

Each command records what it wrote (paths, sizes, UIDs) into its
:class:`CommandResult`; the warnings our code logs while it runs are
collected beside them, and a failure adds the error's class and message.
Keys that ``info --json`` has too mean the same here (``path``,
``sop_instance_uid``, ``series_instance_uid``, ``segmentation_type``,
``number_of_frames``, ``bits_allocated``, ``info``, ``segments``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the program starts without highdicom; a command that writes SEGs has it loaded by then
    from ..core.writing.seg_file import WrittenSeg


@dataclass
class CommandResult:
    """The JSON document of one command: ``command``, what the command recorded, ``warnings`` and ``error``."""

    command: str
    fields: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def record(self, **fields: Any) -> None:
        """Add top-level keys to the document."""
        self.fields.update(fields)

    def record_written(self, *entries: dict[str, Any]) -> None:
        """Add files written to the document's ``written`` list."""
        self.fields.setdefault("written", []).extend(entries)

    @contextmanager
    def collecting_warnings(self, logger_names: tuple[str, ...]) -> Iterator[None]:
        """While the block runs, the warnings and errors of ``logger_names`` (and below) go to :attr:`warnings` too."""
        handler = _Collector(self.warnings, logger_names)
        root = logging.getLogger()
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)

    def document(self, error: BaseException | None = None, message: str | None = None) -> dict[str, Any]:
        """The JSON object: ``error`` is null on success, else ``{"class": ..., "message": ...}``.

        ``message`` is the one line the user was told, where it is not the error's own text.
        """
        failure = {"class": type(error).__name__, "message": message or str(error)} if error is not None else None
        return {"command": self.command, **self.fields, "warnings": self.warnings, "error": failure}

    def print(self, stream: IO[str], error: BaseException | None = None, message: str | None = None) -> None:
        print(json.dumps(self.document(error, message), indent=2, default=str), file=stream)


def written_file(path: Path) -> dict[str, Any]:
    """A file written, as the ``written`` list has it: its path and size."""
    return {"path": str(path), "bytes": Path(path).stat().st_size}


def written_seg(seg: WrittenSeg) -> dict[str, Any]:
    """A SEG written: path and size, and its identifiers under the names ``info --json`` gives them."""
    return written_file(seg.path) | {key: value for key, value in asdict(seg).items() if key != "path"}


class _Collector(logging.Handler):
    def __init__(self, messages: list[str], logger_names: tuple[str, ...]) -> None:
        super().__init__(logging.WARNING)
        self.messages = messages
        self.logger_names = logger_names

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.partition(".")[0] in self.logger_names:
            self.messages.append(record.getMessage())
