"""Where DICOM files can be sent, written as one string a user can type.

- ``http://host:8042/dicom-web`` or ``https://...``: a DICOMweb service root (STOW-RS).
- ``dicom://AE_TITLE@host:port``: a DIMSE Storage SCP (C-STORE), called by its AE title.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import SendError

DEFAULT_CALLING_AE_TITLE = "DLMSEG"
MAX_AE_TITLE_LENGTH = 16
"""An AE title is at most 16 characters (PS3.5 Table 6.2-1, VR AE)."""
MAX_PORT = 65535
"""The AE title we present when none is configured (at most 16 characters, no backslash)."""


@dataclass(frozen=True)
class DicomWebDestination:
    """A DICOMweb service root; ``headers`` go with every request (an ``Authorization`` token, say)."""

    url: str
    headers: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True)
class DimseDestination:
    """A DIMSE Storage SCP: its host, port and AE title, and the AE title we call it with."""

    host: str
    port: int
    called_ae_title: str
    calling_ae_title: str = DEFAULT_CALLING_AE_TITLE

    def __post_init__(self) -> None:
        for role, title in (("called", self.called_ae_title), ("calling", self.calling_ae_title)):
            if not title or len(title) > MAX_AE_TITLE_LENGTH or "\\" in title or title != title.strip():
                raise SendError(f"the {role} AE title {title!r} is not valid: 1 to 16 characters, no backslash")
        if not 0 < self.port <= MAX_PORT:
            raise SendError(f"port {self.port} of {self.host} is not a TCP port")

    def __str__(self) -> str:
        return f"dicom://{self.called_ae_title}@{self.host}:{self.port}"


Destination = DicomWebDestination | DimseDestination


def parse_destination(
    text: str, headers: Mapping[str, str] | None = None, calling_ae_title: str = DEFAULT_CALLING_AE_TITLE
) -> Destination:
    """Read ``http(s)://...`` as a DICOMweb root and ``dicom://AE@host:port`` as a DIMSE peer."""
    parts = urlsplit(text.strip())
    if parts.scheme in ("http", "https") and parts.hostname:
        return DicomWebDestination(text.strip().rstrip("/"), dict(headers or {}))
    if parts.scheme == "dicom":
        try:
            port = parts.port
        except ValueError:
            port = None
        if not parts.username or not parts.hostname or port is None:
            raise SendError(f"{text!r} is not a DIMSE destination: write dicom://AE_TITLE@host:port")
        return DimseDestination(parts.hostname, port, parts.username, calling_ae_title)
    raise SendError(
        f"{text!r} is not a destination: write http(s)://host/path for DICOMweb or dicom://AE_TITLE@host:port for DIMSE"
    )
