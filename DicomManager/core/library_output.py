"""What pydicom and highdicom say while we read or write, passed on to our own logging at DEBUG.

While a file is read, every library warning and log record goes there
(:func:`reading_output_at_debug`): a broken file's odd values make pydicom
warn as it converts them, and the reader says itself what matters. pydicom
logs a full traceback at ERROR level for each decoding plugin that
fails on a frame, before raising the error that the readers turn into one
line naming the file and the cause. highdicom warns about person names that
do not look like names; the ones it sees are copied from the source images or
given by the user, not made by us. Both reach the user only when asked for:
``--verbose`` on the command line, DEBUG logging in Slicer.
"""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

logger = logging.getLogger(__name__)

_PERSON_NAME_WARNING = re.compile(r"is unlikely to represent the intended person name")


class _ToDebug(logging.Handler):
    """Passes a library's log records on to our logger at DEBUG, traceback included."""

    def emit(self, record: logging.LogRecord) -> None:
        logger.debug("%s: %s", record.name, record.getMessage(), exc_info=record.exc_info)


READ_LIBRARIES = ("pydicom", "highdicom")
"""The libraries whose log records a read passes on at DEBUG."""


@contextmanager
def library_logs_at_debug(names: tuple[str, ...] = ("pydicom",)) -> Iterator[None]:
    """While the block runs, these libraries' log records go to our logger at DEBUG instead of the application's handlers."""
    handler = _ToDebug()
    library_loggers = [logging.getLogger(name) for name in names]
    propagated = [library_logger.propagate for library_logger in library_loggers]
    for library_logger in library_loggers:
        library_logger.addHandler(handler)
        library_logger.propagate = False
    try:
        yield
    finally:
        for library_logger, propagate in zip(library_loggers, propagated, strict=True):
            library_logger.removeHandler(handler)
            library_logger.propagate = propagate


@contextmanager
def reading_output_at_debug() -> Iterator[None]:
    """While a file is read: pydicom's and highdicom's log records and every warning issued go to our logger at DEBUG.

    A broken file makes pydicom warn about each odd value it converts (``Invalid
    value for VR UI``) and numpy about odd arithmetic; the reader says itself
    what matters, in one line, so the libraries' words reach the user only
    with ``--verbose`` (or DEBUG logging in Slicer). Our own log records pass
    as they are.
    """
    with library_logs_at_debug(READ_LIBRARIES), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        finally:
            for warning in caught:
                logger.debug("%s: %s (%s:%d)", warning.category.__name__, warning.message, warning.filename, warning.lineno)


@contextmanager
def copied_person_name_warnings_at_debug() -> Iterator[None]:
    """highdicom's warnings about person names logged at DEBUG; every other warning is issued as usual."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        if _PERSON_NAME_WARNING.search(str(warning.message)):
            logger.debug("highdicom: %s", warning.message)
        else:
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
