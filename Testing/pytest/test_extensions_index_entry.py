"""The Extensions Index entry and the CMake metadata pass the checks of Slicer's ExtensionsIndex.

The rules are those of ExtensionsIndex's ``scripts/check_description_files.py``
and ``schemas/slicer-extension-catalog-entry-schema-v1.0.2.json`` that can be
checked without the network: the URLs must name files of this repository
(whether GitHub serves them is checked there, once the repository is public).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from conftest import PROJECT_ROOT

ENTRY = PROJECT_ROOT / "Resources" / "ExtensionsIndex" / "DICOMLabelMapSeg.json"
SCHEMA_PROPERTIES = {
    "$schema", "category", "scm_url", "scm_revision", "scm_type", "build_dependencies",
    "dicom_support_rule", "build_subdirectory", "enabled", "tier",
}  # the schema has additionalProperties: false
REPOSITORY_PREFIXES = ("Slicer", "Slicer-", "Slicer_", "SlicerExtension-", "SlicerExtension_")


def _cmake_setting(name: str) -> str:
    (value,) = re.findall(rf'set\s*\({name}\s*"([^"]+)"\s*\)', (PROJECT_ROOT / "CMakeLists.txt").read_text())
    return value


def test_entry_has_the_schemas_keys_only_and_lf_line_endings():
    entry = json.loads(ENTRY.read_text())
    assert {"$schema", "category", "scm_url"} <= set(entry) <= SCHEMA_PROPERTIES
    assert entry["$schema"].endswith("slicer-extension-catalog-entry-schema-v1.0.2.json#")
    assert 1 <= entry["tier"] <= 5
    assert b"\r" not in ENTRY.read_bytes()


def test_extension_and_repository_names_follow_the_index_rules():
    entry = json.loads(ENTRY.read_text())
    project = re.findall(r"project\s*\(\s*([^\s)]+)", (PROJECT_ROOT / "CMakeLists.txt").read_text())[0]
    assert ENTRY.stem == project and not project.lower().startswith("slicer")
    url = urlsplit(entry["scm_url"])
    assert url.scheme == "https"
    repository = PurePosixPath(url.path).stem
    assert repository.startswith(REPOSITORY_PREFIXES) and repository.endswith(project)
    assert _cmake_setting("EXTENSION_HOMEPAGE") == entry["scm_url"].removesuffix(".git")
    assert entry["category"] == _cmake_setting("EXTENSION_CATEGORY") == "Informatics"  # one of the index's categories


def test_icon_and_screenshots_are_png_files_of_this_repository_on_its_default_branch():
    entry = json.loads(ENTRY.read_text())
    owner_and_repository = urlsplit(entry["scm_url"]).path.removesuffix(".git").strip("/")
    prefix = f"https://raw.githubusercontent.com/{owner_and_repository}/{entry['scm_revision']}/"
    urls = [_cmake_setting("EXTENSION_ICONURL"), *_cmake_setting("EXTENSION_SCREENSHOTURLS").split()]
    for url in urls:
        assert url.startswith(prefix), url
        path = PROJECT_ROOT / url.removeprefix(prefix)
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", url
    assert (PROJECT_ROOT / "LICENSE").is_file()
