"""Lossless transfer syntaxes for LABELMAP SEG, and the codecs behind them.

The default is RLE Lossless: every reader we test opens it, dcmqi 1.5.7
(what Slicer's core SEG plugin runs) included, which cannot decompress JPEG-LS
or JPEG 2000 SEGs. JPEG-LS and deflate are the opt-ins for the smallest files.

Deflated Explicit VR Little Endian is not a pixel codec: highdicom builds the
dataset uncompressed and the whole dataset (per-frame metadata included)
is deflated when it is saved, by :mod:`.deflated_file`.
"""

from __future__ import annotations

from enum import Enum

from pydicom.pixels.decoders import (
    JPEG2000LosslessDecoder,
    JPEGLSLosslessDecoder,
    RLELosslessDecoder,
)
from pydicom.pixels.encoders import (
    JPEG2000LosslessEncoder,
    JPEGLSLosslessEncoder,
    RLELosslessEncoder,
)
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

from ..errors import CodecUnavailableError


class Compression(str, Enum):
    """How the pixel data (or the whole dataset) of a SEG is compressed.

    The values are the names the command line and the module panel use.
    """

    NONE = "none"
    RLE = "rle"
    JPEGLS = "jpegls"
    JPEG2000 = "jpeg2000"
    DEFLATE = "deflate"

    @property
    def transfer_syntax_uid(self) -> UID:
        """The transfer syntax of files written with this compression."""
        return _TRANSFER_SYNTAXES[self]

    @property
    def encodes_pixels(self) -> bool:
        """Whether frames are encoded one by one by a pixel codec."""
        return self.transfer_syntax_uid.is_encapsulated


DEFAULT_COMPRESSION = Compression.RLE

_TRANSFER_SYNTAXES = {
    Compression.NONE: ExplicitVRLittleEndian,
    Compression.RLE: RLELossless,
    Compression.JPEGLS: JPEGLSLossless,
    Compression.JPEG2000: JPEG2000Lossless,
    Compression.DEFLATE: DeflatedExplicitVRLittleEndian,
}

_ENCODERS = {
    Compression.RLE: (RLELosslessEncoder, "pylibjpeg-rle"),
    Compression.JPEGLS: (JPEGLSLosslessEncoder, "pyjpegls"),
    Compression.JPEG2000: (JPEG2000LosslessEncoder, "pylibjpeg-openjpeg"),
}

# Decoding plugins in order of preference, fastest first. pydicom's default
# JPEG-LS plugin (libjpeg) is about 18x slower than CharLS on labelmaps, and
# its numpy RLE decoder is several times slower than pylibjpeg-rle.
_PREFERRED_DECODERS = {
    RLELossless: (RLELosslessDecoder, ("pylibjpeg", "pydicom")),
    JPEGLSLossless: (JPEGLSLosslessDecoder, ("pyjpegls", "pylibjpeg")),
    JPEG2000Lossless: (JPEG2000LosslessDecoder, ("pylibjpeg", "pillow")),
}


def parse_compression(value: str | Compression) -> Compression:
    """Return the :class:`Compression` named by ``value`` or raise an error listing the choices."""
    try:
        return Compression(value)
    except ValueError:
        choices = ", ".join(member.value for member in Compression)
        raise CodecUnavailableError(
            f"Unknown compression {value!r}: choose one of {choices}."
        ) from None


def available_compressions() -> list[Compression]:
    """The compressions whose encoder is installed, default first."""
    available = [c for c in Compression if _encoder_available(c)]
    available.sort(key=lambda c: c != DEFAULT_COMPRESSION)
    return available


def ensure_encoder_available(compression: Compression) -> None:
    """Raise :class:`CodecUnavailableError` when ``compression`` cannot be written here."""
    if _encoder_available(compression):
        return
    _, package = _ENCODERS[compression]
    raise CodecUnavailableError(
        f"Compression {compression.value!r} needs the Python package {package!r}, "
        "which is not installed."
    )


def preferred_decoding_plugin(transfer_syntax_uid: str) -> str:
    """Name of the fastest installed pydicom decoding plugin, or '' for pydicom's choice.

    Raises :class:`CodecUnavailableError` when no plugin can decode the transfer syntax.
    """
    uid = UID(transfer_syntax_uid)
    if uid not in _PREFERRED_DECODERS:
        return ""
    decoder, preference = _PREFERRED_DECODERS[uid]
    installed = set(decoder.available_plugins)
    for plugin in preference:
        if plugin in installed:
            return plugin
    raise CodecUnavailableError(
        f"No decoder for {uid.name} is installed: install one of "
        f"{', '.join(preference)} (pylibjpeg needs its codec plugin too)."
    )


def _encoder_available(compression: Compression) -> bool:
    if compression not in _ENCODERS:
        return True
    encoder, _ = _ENCODERS[compression]
    return encoder.is_available
