"""NRRD headers, and refusing a broken NRRD file before Slicer's segmentation reader sees it.

Slicer's ``vtkMRMLSegmentationStorageNode`` lets ITK's NRRD exceptions escape
as C++ exceptions, which end the whole process (seen with slicer-core 5.13 on
a malformed header and on truncated gzip data). A batch run must not die on
one bad file, so the header and the amount of pixel data are checked here
first: the header's required fields, and that the (gzip or raw) data holds
exactly the bytes the sizes and type call for. :func:`read_nrrd_header` is
also what :mod:`.seg_nrrd` reads segmentation files with.
"""

from __future__ import annotations

import gzip
import math
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import LabelFileError

_NRRD_TYPES = {
    np.dtype(np.int8): {"signed char", "int8", "int8_t"},
    np.dtype(np.uint8): {"uchar", "unsigned char", "uint8", "uint8_t"},
    np.dtype(np.int16): {"short", "short int", "signed short", "signed short int", "int16", "int16_t"},
    np.dtype(np.uint16): {"ushort", "unsigned short", "unsigned short int", "uint16", "uint16_t"},
    np.dtype(np.int32): {"int", "signed int", "int32", "int32_t"},
    np.dtype(np.uint32): {"uint", "unsigned int", "uint32", "uint32_t"},
    np.dtype(np.int64): {"longlong", "long long", "long long int", "signed long long", "signed long long int",
                         "int64", "int64_t"},
    np.dtype(np.uint64): {"ulonglong", "unsigned long long", "unsigned long long int", "uint64", "uint64_t"},
    np.dtype(np.float32): {"float"},
    np.dtype(np.float64): {"double"},
}
_CHUNK = 1 << 22
_MAX_HEADER_BYTES = 1 << 20


@dataclass(frozen=True)
class NrrdHeader:
    """A NRRD file's header: its fields (names lower-cased), its key/value pairs, and where the data starts."""

    fields: dict[str, str]
    key_values: dict[str, str]  # backslash escapes undone, as teem writes them
    data_offset: int


def read_nrrd_header(path: Path) -> NrrdHeader:
    """Read the header of the NRRD file at ``path``; :class:`LabelFileError` if it is not one."""
    path = Path(path)
    fields: dict[str, str] = {}
    key_values: dict[str, str] = {}
    with path.open("rb") as stream:
        magic = stream.readline(64)
        if not magic.startswith(b"NRRD000"):
            raise LabelFileError(f"{path}: not a NRRD file (it does not start with NRRD000x).")
        while True:
            line = stream.readline(_MAX_HEADER_BYTES)
            if not line:
                raise LabelFileError(f"{path}: the NRRD header does not end (no blank line before the data).")
            text = line.decode("utf-8", errors="surrogateescape").rstrip("\r\n")
            if not text:
                break
            if text.startswith("#"):
                continue
            if ":=" in text:
                key, value = text.split(":=", 1)
                key_values[key] = re.sub(r"\\([n\\])", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)
                continue
            if ": " not in text:
                raise LabelFileError(f"{path}: NRRD header line {text[:60]!r} is not 'field: value'.")
            key, value = text.split(": ", 1)
            fields[key.strip().lower()] = value.strip()
        data_offset = stream.tell()
    for required in ("type", "dimension", "sizes", "encoding"):
        if required not in fields:
            raise LabelFileError(f"{path}: the NRRD header has no '{required}' field.")
    return NrrdHeader(fields, key_values, data_offset)


def check_nrrd_file(path: Path) -> None:
    """Raise :class:`LabelFileError` naming what is wrong with the NRRD file at ``path``."""
    path = Path(path)
    header = read_nrrd_header(path)
    fields = header.fields
    expected = expected_data_bytes(header, path)
    if "data file" in fields or "datafile" in fields or expected is None:
        return
    encoding = fields["encoding"].lower()
    if encoding in ("bzip2", "bz2"):  # NrrdIO in slicer-core 5.13 has no bzip2: reading one aborts the process
        raise LabelFileError(f"{path}: NRRD encoding {encoding!r} is not read; save it with gzip or raw.")
    if encoding == "raw":
        available = path.stat().st_size - header.data_offset
        if available < expected:
            raise LabelFileError(f"{path}: the NRRD data is cut short ({available} of {expected} bytes).")
    elif encoding in ("gzip", "gz"):
        found = _gzip_length(path, header.data_offset)
        if found != expected:
            raise LabelFileError(f"{path}: the NRRD data holds {found} bytes where {expected} are needed.")


def nrrd_dtype(header: NrrdHeader) -> np.dtype | None:
    """The numpy type of the data, in the file's byte order (None for "block" and names this module does not know)."""
    name = header.fields["type"].lower()
    dtype = next((dtype for dtype, names in _NRRD_TYPES.items() if name in names), None)
    if dtype is not None and dtype.itemsize > 1:
        dtype = dtype.newbyteorder(">" if header.fields.get("endian", "little").lower() == "big" else "<")
    return dtype


def expected_data_bytes(header: NrrdHeader, path: Path) -> int | None:
    """How many bytes of data the sizes and type call for (None for types this module does not know)."""
    fields = header.fields
    dtype = nrrd_dtype(header)
    if dtype is None:
        return None  # "block" and unusual types: leave them to the reader
    try:
        sizes = [int(value) for value in fields["sizes"].split()]
        dimension = int(fields["dimension"])
    except ValueError:
        raise LabelFileError(f"{path}: NRRD sizes {fields['sizes']!r} are not whole numbers.") from None
    if len(sizes) != dimension or any(value < 1 for value in sizes):
        raise LabelFileError(f"{path}: NRRD sizes {sizes} do not match dimension {dimension}.")
    return math.prod(sizes) * dtype.itemsize


def _gzip_length(path: Path, offset: int) -> int:
    """Bytes of data in the gzip stream that starts at ``offset``, read in chunks (bounded memory)."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    try:
        with path.open("rb") as stream:
            stream.seek(offset)
            data = stream.read(_CHUNK)
            while data and not decompressor.eof:
                total += len(decompressor.decompress(data, _CHUNK))
                data = decompressor.unconsumed_tail or stream.read(_CHUNK)
    except (zlib.error, gzip.BadGzipFile, OSError) as error:
        raise LabelFileError(f"{path}: the NRRD's gzip data is damaged ({error}).") from error
    if not decompressor.eof:
        raise LabelFileError(f"{path}: the NRRD's gzip data is cut short.")
    return total
