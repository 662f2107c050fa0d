"""Send DICOM files, a SEG and its source series say, to a DICOMweb or DIMSE destination.

Both protocols check everything they can before the first instance leaves, so a
destination that cannot take one of the files (an archive that predates Label
Map Segmentation Storage, typically) is reported with nothing half-sent:

- DIMSE: one presentation context per SOP Class and transfer syntax of the
  files, plus Explicit VR Little Endian as a fallback. A file whose own transfer
  syntax is refused but whose SOP Class is accepted is sent decompressed; a
  file whose SOP Class is refused stops the send before anything is stored.
- DICOMweb: STOW-RS in batches; any instance in the response's Failed SOP
  Sequence is reported with the failure reason the server gave.
"""

from __future__ import annotations

import importlib
import logging
import socket
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian

from ..core.codecs.compression import DEFLATED_IMAGE_FRAME_COMPRESSION
from ..core.codecs.deflated_frames import inflate_frames
from ..core.segments.sop_classes import SOP_CLASS_NAMES
from ..errors import DependencyError, SegFileError, SendError
from .destinations import Destination, DicomWebDestination, DimseDestination

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (instances sent, instances to send) after each instance or batch."""

NETWORK_EXTRA_HINT = "pip install 'dicomlabelmapseg[network]'"

STOW_BATCH_BYTES = 64 * 1024 * 1024
"""Files per STOW-RS request are gathered up to this many bytes, so one request never holds an archive."""

MAX_PRESENTATION_CONTEXTS = 128
"""PS3.8 allows at most 128 presentation contexts in one association (odd IDs 1 to 255)."""

NETWORK_TIMEOUT_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 10
SUCCESS_STATUS = 0x0000
WARNING_STATUS = 0xB000
"""C-STORE statuses 0xBxxx: stored, with a warning (PS3.7 Annex C)."""


@dataclass(frozen=True)
class SentInstances:
    """What a send did: the SOP Instance UIDs stored, and the files that went decompressed."""

    destination: str
    sop_instance_uids: tuple[str, ...]
    sent_decompressed: tuple[Path, ...] = ()


@dataclass(frozen=True)
class _FileHeader:
    path: Path
    sop_class_uid: UID
    sop_instance_uid: str
    transfer_syntax_uid: UID


def send_files(
    paths: Iterable[Path], destination: Destination, progress: Progress | None = None
) -> SentInstances:
    """Send every DICOM file in ``paths`` (folders are searched recursively) to ``destination``.

    Raises :class:`~DicomManager.errors.SendError` naming the destination and the
    file or SOP Class when the destination cannot be reached or refuses something.
    """
    headers = [_read_file_header(path) for path in _dicom_files(paths)]
    if not headers:
        raise SendError(f"nothing to send to {destination}: no DICOM files given")
    _check_reachable(destination)
    if isinstance(destination, DimseDestination):
        return _send_dimse(headers, destination, progress)
    return _send_dicomweb(headers, destination, progress)


def _dicom_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in map(Path, paths):
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.name != "DICOMDIR")
        elif path.is_file():
            yield path
        else:
            raise SendError(f"{path}: no such file or folder")


def _check_reachable(destination: Destination) -> None:
    """Fail at once on a wrong host or port, before the protocols' own retries and time-outs."""
    if isinstance(destination, DimseDestination):
        host, port = destination.host, destination.port
    else:
        parts = urlsplit(destination.url)
        host, port = parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_SECONDS):
            pass
    except OSError as error:
        raise SendError(f"{destination} cannot be reached: {error.strerror or error}") from error


def _read_file_header(path: Path) -> _FileHeader:
    try:
        dataset = pydicom.dcmread(path, stop_before_pixels=True)
        return _FileHeader(
            path, UID(dataset.SOPClassUID), str(dataset.SOPInstanceUID), UID(dataset.file_meta.TransferSyntaxUID)
        )
    except (InvalidDicomError, AttributeError, OSError) as error:
        raise SendError(f"{path}: not a DICOM file with SOP Class, SOP Instance and Transfer Syntax UIDs ({error})") from error


def _sop_class_name(uid: UID) -> str:
    name = SOP_CLASS_NAMES.get(uid) or (uid.name if uid.name != str(uid) else None)
    return f"{name} ({uid})" if name else str(uid)


# --- DIMSE ---------------------------------------------------------------------------------------


def _send_dimse(files: Sequence[_FileHeader], destination: DimseDestination, progress: Progress | None) -> SentInstances:
    association = _associate(files, destination)
    try:
        accepted = {(UID(c.abstract_syntax), UID(c.transfer_syntax[0])) for c in association.accepted_contexts}
        plan = [(header, _transfer_syntax_to_send(header, accepted)) for header in files]
        refused_classes = sorted({header.sop_class_uid for header, syntax in plan if syntax is None})
        if refused_classes:
            raise _refused_error(destination, refused_classes)
        sent, decompressed = [], []
        for header, syntax in plan:
            _store(association, header, _dataset_in_syntax(header, syntax), destination)
            if syntax != header.transfer_syntax_uid:
                decompressed.append(header.path)
            sent.append(header.sop_instance_uid)
            if progress:
                progress(len(sent), len(files))
    finally:
        association.release()
    if decompressed:
        logger.info("%d file(s) sent decompressed: %s does not accept their transfer syntax", len(decompressed), destination)
    return SentInstances(str(destination), tuple(sent), tuple(decompressed))


def _fallback_contexts(files: Sequence[_FileHeader]) -> set[tuple[UID, UID]]:
    return {(f.sop_class_uid, ExplicitVRLittleEndian) for f in files}


def _transfer_syntax_to_send(header: _FileHeader, accepted: set[tuple[UID, UID]]) -> UID | None:
    """The file's own transfer syntax where accepted, else Explicit VR Little Endian, else None (refused)."""
    if (header.sop_class_uid, header.transfer_syntax_uid) in accepted:
        return header.transfer_syntax_uid
    if (header.sop_class_uid, ExplicitVRLittleEndian) in accepted:
        return ExplicitVRLittleEndian
    return None


def _dataset_in_syntax(header: _FileHeader, syntax: UID) -> pydicom.Dataset:
    dataset = pydicom.dcmread(header.path)
    if syntax == header.transfer_syntax_uid:
        return dataset
    if header.transfer_syntax_uid == DEFLATED_IMAGE_FRAME_COMPRESSION:  # pydicom 3.0.2 does not know it
        try:
            inflate_frames(dataset, header.path)
        except SegFileError as error:
            raise SendError(f"the destination wants it uncompressed, and decoding failed: {error}") from error
    elif header.transfer_syntax_uid.is_compressed:
        try:
            # Lossless decoding changes the encoding, not the instance: it keeps its SOP Instance UID.
            dataset.decompress(generate_instance_uid=False)
        except Exception as error:  # pydicom raises RuntimeError, ValueError or a codec's own error
            raise SendError(f"{header.path}: the destination wants it uncompressed, and decoding failed: {error}") from error
    elif header.transfer_syntax_uid == ExplicitVRBigEndian:  # pixel bytes would need swapping: not done here
        raise SendError(f"{header.path}: the destination does not accept Explicit VR Big Endian, the file's encoding")
    else:  # Implicit VR or Deflated: the same elements, re-encoded on the way out
        dataset.file_meta.TransferSyntaxUID = syntax
    return dataset


def _associate(files: Sequence[_FileHeader], destination: DimseDestination):
    """An association proposing each file's SOP Class in its own transfer syntax and in the fallbacks."""
    pynetdicom = _import_network_module("pynetdicom", "DIMSE")
    # pydicom cannot encode Deflated Image Frame Compression for the wire: such files go inflated (the fallback).
    own = {(f.sop_class_uid, f.transfer_syntax_uid) for f in files if f.transfer_syntax_uid != DEFLATED_IMAGE_FRAME_COMPRESSION}
    requested = sorted(own | _fallback_contexts(files))
    if len(requested) > MAX_PRESENTATION_CONTEXTS:
        raise SendError(
            f"{len(requested)} SOP Class and transfer syntax pairs cannot share one association with {destination} "
            f"(at most {MAX_PRESENTATION_CONTEXTS}); send the series in smaller groups"
        )
    application_entity = pynetdicom.AE(ae_title=destination.calling_ae_title)
    for timeout in ("acse_timeout", "dimse_timeout", "network_timeout"):
        setattr(application_entity, timeout, NETWORK_TIMEOUT_SECONDS)
    for sop_class_uid, transfer_syntax_uid in requested:
        application_entity.add_requested_context(sop_class_uid, [transfer_syntax_uid])
    association = application_entity.associate(destination.host, destination.port, ae_title=destination.called_ae_title)
    if not association.is_established:
        refused_classes = _refused_sop_classes(association)
        if refused_classes:
            raise _refused_error(destination, refused_classes)
        raise SendError(f"no association with {destination}: {_association_failure(association)}")
    return association


def _store(association, header: _FileHeader, dataset: pydicom.Dataset, destination: DimseDestination) -> None:
    """C-STORE one dataset; a refusal or no answer is a :class:`SendError`, a warning status is logged."""
    status = association.send_c_store(dataset)
    code = getattr(status, "Status", None)
    if code is None:
        raise SendError(f"{header.path}: {destination} did not answer the C-STORE (association lost or timed out)")
    if code & 0xF000 == WARNING_STATUS:
        logger.warning("%s: %s stored it with warning status 0x%04X", header.path, destination, code)
    elif code != SUCCESS_STATUS:
        raise SendError(f"{header.path}: {destination} refused the C-STORE with status 0x{code:04X}")


def _refused_sop_classes(association) -> list[UID]:
    """SOP Classes with no accepted context: all of them when the peer accepted none (pynetdicom then aborts)."""
    accepted = {UID(c.abstract_syntax) for c in association.accepted_contexts}
    rejected = {UID(c.abstract_syntax) for c in association.rejected_contexts}
    return sorted(rejected - accepted) if rejected else []


def _refused_error(destination: DimseDestination, sop_classes: Sequence[UID]) -> SendError:
    names = ", ".join(_sop_class_name(uid) for uid in sop_classes)
    return SendError(
        f"{destination} does not accept {names}, so nothing was sent. An archive that predates a SOP Class refuses it: "
        "ask its administrator to accept it (Orthanc: \"UnknownSopClassAccepted\": true), or send over DICOMweb."
    )


def _association_failure(association) -> str:
    if association.is_rejected:
        return "the peer rejected the association (check the AE titles it knows)"
    if association.is_aborted:
        return "the association was aborted"
    return "the peer did not answer the association request"


# --- DICOMweb ------------------------------------------------------------------------------------


def _send_dicomweb(files: Sequence[_FileHeader], destination: DicomWebDestination, progress: Progress | None) -> SentInstances:
    api = _import_network_module("dicomweb_client.api", "DICOMweb")
    requests = _import_network_module("requests", "DICOMweb")
    client = api.DICOMwebClient(url=destination.url, headers=dict(destination.headers))
    sent: list[str] = []
    for batch in _batches_by_size(files, STOW_BATCH_BYTES):
        try:
            response = client.store_instances([pydicom.dcmread(header.path) for header in batch])
        except requests.HTTPError as error:
            raise SendError(f"{destination} refused STOW-RS of {_describe(batch)}: {error}") from error
        except requests.RequestException as error:
            raise SendError(f"{destination} cannot be reached: {error}") from error
        failures = [
            f"{item.get('ReferencedSOPInstanceUID', '?')} (failure reason {item.get('FailureReason', '?')})"
            for item in response.get("FailedSOPSequence", [])
        ]
        if failures:
            raise SendError(f"{destination} did not store {len(failures)} of {_describe(batch)}: {'; '.join(failures)}")
        sent.extend(header.sop_instance_uid for header in batch)
        if progress:
            progress(len(sent), len(files))
    return SentInstances(destination.url, tuple(sent))


def _batches_by_size(files: Sequence[_FileHeader], limit: int) -> Iterator[list[_FileHeader]]:
    batch: list[_FileHeader] = []
    size = 0
    for header in files:
        file_size = header.path.stat().st_size
        if batch and size + file_size > limit:
            yield batch
            batch, size = [], 0
        batch.append(header)
        size += file_size
    if batch:
        yield batch


def _describe(batch: Sequence[_FileHeader]) -> str:
    return str(batch[0].path) if len(batch) == 1 else f"{len(batch)} files from {batch[0].path.parent}"


def _import_network_module(name: str, protocol: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        raise DependencyError(f"sending over {protocol} needs {name.split('.')[0]}: {NETWORK_EXTRA_HINT}") from None
