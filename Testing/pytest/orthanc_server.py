"""A real Orthanc PACS on loopback for the interoperability tests, started and stopped by a fixture.

Each server gets its own storage folder and free ports. ``settings`` are added to
the configuration, so one test can meet Orthanc as Debian ships it and another an
Orthanc set up to take Label Map SEGs.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
STARTUP_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class OrthancServer:
    """One Orthanc process: DICOMweb at :attr:`dicomweb_url`, C-STORE at :attr:`dimse_url` (AE title ORTHANC)."""

    def __init__(self, executable: str, folder: Path, settings: dict[str, Any] | None = None) -> None:
        self.http_port, self.dicom_port = _free_port(), _free_port()
        folder.mkdir(parents=True)
        configuration = {
            "Name": "dicomlabelmapseg-test",
            "StorageDirectory": str(folder / "storage"),
            "IndexDirectory": str(folder / "storage"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "ORTHANC",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": [str(DICOMWEB_PLUGIN)],
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
            **(settings or {}),
        }
        configuration_file = folder / "orthanc.json"
        configuration_file.write_text(json.dumps(configuration, indent=2))
        self.log_file = folder / "orthanc.log"
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen([executable, str(configuration_file)], stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_up()

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb_url(self) -> str:
        return f"{self.rest_url}/dicom-web"

    @property
    def dimse_url(self) -> str:
        return f"dicom://ORTHANC@127.0.0.1:{self.dicom_port}"

    def version(self) -> str:
        return self.get_json("/system")["Version"]

    def get_json(self, path: str) -> Any:
        with urllib.request.urlopen(self.rest_url + path, timeout=10) as response:
            return json.load(response)

    def instance_file(self, sop_instance_uid: str) -> bytes:
        """The stored file of an instance, as Orthanc keeps it (REST ``/instances/{id}/file``)."""
        found = self._post_json("/tools/lookup", sop_instance_uid.encode())
        (instance,) = [item for item in found if item["Type"] == "Instance"]
        with urllib.request.urlopen(f"{self.rest_url}/instances/{instance['ID']}/file", timeout=30) as response:
            return response.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _post_json(self, path: str, body: bytes) -> Any:
        request = urllib.request.Request(self.rest_url + path, data=body, method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc stopped at start-up:\n{self.log_file.read_text(errors='replace')[-3000:]}")
            try:
                self.version()
                with socket.create_connection(("127.0.0.1", self.dicom_port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        self.stop()
        log = self.log_file.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"Orthanc did not answer within {STARTUP_SECONDS} s:\n{log}")
