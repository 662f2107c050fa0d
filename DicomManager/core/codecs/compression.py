"""The pixel codecs behind SEG's lossless transfer syntaxes, and the packages that provide those codecs.

The compressions themselves (:class:`.Compression`, the names users choose)
are in :mod:`.compression_choices`, which needs no pydicom.

Deflated Explicit VR Little Endian is not a pixel codec: highdicom builds the
dataset uncompressed and the whole dataset (per-frame metadata included)
is deflated when it is saved, by :mod:`.deflated_file`. Deflated Image Frame
Compression (``deflate-frames``, Supplement 244) deflates each frame on its
own, by :mod:`.deflated_frames`: about as small, and frames stay separately
fetchable, but few readers know it yet.

Importing this module needs only ``pydicom.uid``, which pydicom 2.4 (bundled
with Slicer 5.10) has too. pydicom 3's codec registries are imported only
when a codec is asked about; under pydicom 2 no codec counts as available.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from pydicom.uid import UID, JPEG2000Lossless, JPEGLSLossless, RLELossless

from ...errors import CodecUnavailableError
from .compression_choices import DEFAULT_COMPRESSION, TRANSFER_SYNTAX_UIDS, Compression

DEFLATED_IMAGE_FRAME_COMPRESSION = UID(TRANSFER_SYNTAX_UIDS[Compression.DEFLATE_FRAMES])
"""Supplement 244's transfer syntax, which pydicom 3.0.2 does not know."""


@dataclass(frozen=True)
class _PixelCodec:
    """What we know of a pixel codec beyond pydicom's registry: plugin preference, packages, limits."""

    decoding_preference: tuple[str, ...]
    """Decoding plugins, fastest first: pydicom's default JPEG-LS plugin (libjpeg)
    and its numpy RLE decoder are several times slower on labelmaps."""
    packages: tuple[str, ...]
    """Requirements that provide the preferred plugins."""
    built_into_pydicom: bool = False
    """Whether pydicom 3 encodes and decodes it with plugins of its own, needing none of ``packages``."""
    smallest_frame_side: int = 1
    """Frames with fewer rows or columns than this cannot be encoded."""


_PIXEL_CODECS = {
    RLELossless: _PixelCodec(("pylibjpeg", "pydicom"), ("pylibjpeg>=2.0", "pylibjpeg-rle>=2.0"), built_into_pydicom=True),
    JPEGLSLossless: _PixelCodec(("pyjpegls", "pylibjpeg"), ("pyjpegls>=1.4",)),
    JPEG2000Lossless: _PixelCodec(
        ("pylibjpeg", "pillow"),
        ("pylibjpeg>=2.0", "pylibjpeg-openjpeg>=2.3"),
        smallest_frame_side=32,  # openjpeg's limit, which highdicom enforces
    ),
}


def codec_packages(transfer_syntax_uid: str) -> tuple[str, ...]:
    """The requirements that provide a codec for ``transfer_syntax_uid``; none for a syntax without pixel codec."""
    codec = _PIXEL_CODECS.get(UID(transfer_syntax_uid))
    return codec.packages if codec else ()


def codec_built_into_pydicom(transfer_syntax_uid: str) -> bool:
    """Whether pydicom 3 has a plugin of its own for this syntax (or the syntax needs no pixel codec)."""
    codec = _PIXEL_CODECS.get(UID(transfer_syntax_uid))
    return codec is None or codec.built_into_pydicom


def pydicom_codecs_known() -> bool:
    """Whether the installed pydicom can say which codecs it has: pydicom 3 can, pydicom 2 cannot."""
    return _pydicom_pixels() is not None


def encoder_available(compression: Compression) -> bool:
    """Whether files with ``compression`` can be written here."""
    if compression.transfer_syntax_uid not in _PIXEL_CODECS:
        return True
    pixels = _pydicom_pixels()
    return pixels is not None and pixels.get_encoder(compression.transfer_syntax_uid).is_available


def decoder_available(transfer_syntax_uid: str) -> bool:
    """Whether pixel data in ``transfer_syntax_uid`` can be decoded here.

    Native and deflated syntaxes always can (deflated frames by our own
    decoder); another compressed one when pydicom has a working plugin for it.
    """
    uid = UID(transfer_syntax_uid)
    if uid == DEFLATED_IMAGE_FRAME_COMPRESSION or (uid.is_transfer_syntax and not uid.is_encapsulated):
        return True
    pixels = _pydicom_pixels()
    if pixels is None:
        return False
    try:
        return pixels.get_decoder(uid).is_available
    except (NotImplementedError, ValueError):  # a syntax pydicom has no decoder for, or does not know
        return False


def available_compressions() -> list[Compression]:
    """The compressions whose encoder is installed, default first."""
    available = [c for c in Compression if encoder_available(c)]
    available.sort(key=lambda c: c != DEFAULT_COMPRESSION)
    return available


def ensure_encoder_available(compression: Compression) -> None:
    """Raise :class:`CodecUnavailableError`, naming what to install or choose, when ``compression`` cannot be written."""
    if encoder_available(compression):
        return
    packages = ", ".join(codec_packages(compression.transfer_syntax_uid))
    alternatives = ", ".join(c.value for c in available_compressions() if c != compression) or "none"
    raise CodecUnavailableError(
        f"Compression {compression.value!r} needs the Python packages {packages}, "
        f"which are not installed: install them, or choose one of {alternatives}."
    )


def frame_size_problem(compression: Compression, rows: int, columns: int) -> str | None:
    """Why frames of ``rows`` x ``columns`` cannot be written with ``compression``, or None when they can."""
    codec = _PIXEL_CODECS.get(compression.transfer_syntax_uid)
    if codec is None or min(rows, columns) >= codec.smallest_frame_side:
        return None
    others = ", ".join(c.value for c in Compression if c is not compression and frame_size_problem(c, rows, columns) is None)
    return (
        f"compression {compression.value!r} cannot encode frames with fewer than {codec.smallest_frame_side} rows or "
        f"columns, and these are {rows}x{columns}; choose one of {others}"
    )


def preferred_decoding_plugin(transfer_syntax_uid: str) -> str:
    """Name of the fastest installed pydicom decoding plugin, or '' for pydicom's choice.

    Raises :class:`CodecUnavailableError` when no plugin can decode the transfer syntax.
    """
    uid = UID(transfer_syntax_uid)
    codec = _PIXEL_CODECS.get(uid)
    if codec is None:
        return ""
    pixels = _pydicom_pixels()
    installed = set(pixels.get_decoder(uid).available_plugins) if pixels is not None else set()
    for plugin in codec.decoding_preference:
        if plugin in installed:
            return plugin
    raise CodecUnavailableError(
        f"No decoder for {uid.name} is installed: install {', '.join(codec.packages)}."
    )


def _pydicom_pixels():
    """``pydicom.pixels``, whose codec registries say which plugins work; None under pydicom 2, which has none."""
    try:
        return importlib.import_module("pydicom.pixels")
    except ImportError:
        return None
