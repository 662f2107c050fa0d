"""What pydicom and highdicom say while we read or write, passed on to our own logging at DEBUG.

pydicom logs a full traceback at ERROR level for each decoding plugin that
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


@contextmanager
def pydicom_logs_at_debug() -> Iterator[None]:
    """While the block runs, pydicom's log records go to our logger at DEBUG instead of the application's handlers."""
    pydicom_logger = logging.getLogger("pydicom")
    handler = _ToDebug()
    propagated = pydicom_logger.propagate
    pydicom_logger.addHandler(handler)
    pydicom_logger.propagate = False
    try:
        yield
    finally:
        pydicom_logger.removeHandler(handler)
        pydicom_logger.propagate = propagated


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
