"""Every link in the project's Markdown resolves: to a file of the repository, and to a heading in it when it names one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT

PAGES = sorted(
    [PROJECT_ROOT / "README.md", PROJECT_ROOT / "CONTRIBUTING.md", PROJECT_ROOT / "benchmarks" / "README.md",
     *(PROJECT_ROOT / "docs").glob("*.md")]
)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


def prose_lines(page: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def heading_anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = [line.lstrip("#").strip() for line in prose_lines(page) if re.match(r"#{1,6} ", line)]
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_documentation_pages_exist():
    names = {str(page.relative_to(PROJECT_ROOT)) for page in PAGES}
    assert {"README.md", "CONTRIBUTING.md", "benchmarks/README.md", "docs/reading.md", "docs/slicer.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(PROJECT_ROOT)))
def test_every_link_resolves(page):
    broken = []
    for line in prose_lines(page):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):  # https:, mailto: and the like are not checked here
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{target}: no such file")
            elif anchor and anchor not in heading_anchors(linked):
                broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(PROJECT_ROOT)}")
    assert broken == []
