"""Which Python packages an operation needs inside Slicer, which of them are missing, and when a restart is due.

Slicer 5.12 bundles highdicom 0.27.0, pydicom 3.0.2, pyjpegls, pillow and
numpy: reading or writing RLE, JPEG-LS, deflate and uncompressed SEGs needs
nothing more there. Slicer 5.10 bundles pydicom 2.4.4 and no highdicom, so
there the first load or export installs highdicom and pydicom 3. Codec
packages are asked for only by the operation that needs them (pylibjpeg and
pylibjpeg-openjpeg to read or write JPEG 2000; pylibjpeg-rle only where pydicom
has no RLE plugin of its own).

Slicer imports pydicom at startup, and pydicom 3 decides which codec plugins
it has when its codec registries are first imported, so installing pydicom,
or a codec while those registries are loaded, takes effect only after Slicer
restarts: :func:`restart_needed` says when.

Nothing here imports ``slicer``; :mod:`DicomManager.app.dependencies` asks
the user and installs.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from importlib.metadata import PackageNotFoundError, version

from packaging.requirements import Requirement

from ..core.codecs.compression import (
    Compression,
    codec_built_into_pydicom,
    codec_packages,
    decoder_available,
    encoder_available,
    pydicom_codecs_known,
)

BASE_REQUIREMENTS = ("highdicom>=0.27.0", "pydicom>=3.0.2", "numpy>=1.24")
"""What every load and export needs (the ``dependencies`` of pyproject.toml, less the codecs)."""

NETWORK_REQUIREMENTS = ("dicomweb-client>=0.59", "pynetdicom>=2.1")
"""What sending to an archive adds (the ``network`` extra of pyproject.toml)."""

_IMPORT_NAMES = {
    "highdicom": "highdicom",
    "pydicom": "pydicom",
    "numpy": "numpy",
    "pylibjpeg": "pylibjpeg",
    "pylibjpeg-openjpeg": "openjpeg",
    "pylibjpeg-libjpeg": "libjpeg",
    "pylibjpeg-rle": "rle",
    "pyjpegls": "jpeg_ls",
    "dicomweb-client": "dicomweb_client",
    "pynetdicom": "pynetdicom",
}
"""The module each package we may install is imported as."""

_CODEC_REGISTRIES = ("pydicom.pixels.decoders", "pydicom.pixels.encoders")


def requirements_to_read(transfer_syntax_uid: str) -> list[str]:
    """What loading a SEG in ``transfer_syntax_uid`` needs: the base, plus a codec when no installed plugin decodes it."""
    return _unique([*BASE_REQUIREMENTS, *_codec_requirements(transfer_syntax_uid, decoder_available(transfer_syntax_uid))])


def requirements_to_write(compression: Compression) -> list[str]:
    """What exporting with ``compression`` needs: the base, plus a codec when no installed plugin encodes it."""
    uid = compression.transfer_syntax_uid
    return _unique([*BASE_REQUIREMENTS, *_codec_requirements(uid, encoder_available(compression))])


def missing_requirements(requirements: Iterable[str]) -> list[str]:
    """The requirements whose package is absent or of a version they exclude, in the order given.

    Decided from the installed packages' metadata, without importing them.
    """
    missing = []
    for line in requirements:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(line)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(line)
    return missing


def restart_needed(installed: Iterable[str], loaded_modules: Collection[str]) -> bool:
    """Whether packages just installed (requirement strings) take effect only after the Python process restarts.

    That is so when one of them was already imported (the old version stays
    in memory), and when a codec arrives after pydicom's codec registries were
    loaded (they never look again). ``loaded_modules`` is ``sys.modules``.
    """
    names = [Requirement(line).name.lower() for line in installed]
    if any(_IMPORT_NAMES.get(name, name.replace("-", "_")) in loaded_modules for name in names):
        return True
    codecs_loaded = any(registry in loaded_modules for registry in _CODEC_REGISTRIES)
    return codecs_loaded and any(name in _codec_package_names() for name in names)


def _codec_requirements(transfer_syntax_uid: str, available: bool) -> tuple[str, ...]:
    """The codec packages to install: none when a plugin is there, or when pydicom 3, about to come, has its own."""
    if available or (not pydicom_codecs_known() and codec_built_into_pydicom(transfer_syntax_uid)):
        return ()
    return codec_packages(transfer_syntax_uid)


def _codec_package_names() -> set[str]:
    return {
        Requirement(line).name.lower()
        for compression in Compression
        for line in codec_packages(compression.transfer_syntax_uid)
    }


def _unique(requirements: list[str]) -> list[str]:
    return list(dict.fromkeys(requirements))
