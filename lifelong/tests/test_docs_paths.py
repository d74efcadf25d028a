"""The docs point only at files that exist: every path they name in backticks, and in the
architecture map every file named beside an app, is there (`<kind>` stands for any name)."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TOP_LEVEL = ("lifelong/", "docs/", "deploy/", "bench/", "tools/", ".ci/")
TOP_FILES = {"Makefile", "pyproject.toml", "LICENSE", "CHANGELOG.md", "README.md", "setup.py"}
CODE = re.compile(r"`([^`\s]+)`")
FILE_NAME = re.compile(r"^[\w<>-]+\.(?:py|md|toml|html|js|css|conf|service)$")


def _exists(path: str, under: Path = REPO) -> bool:
    pattern = re.sub(r"<[^>]+>", "*", path.split("#")[0].rstrip("/"))
    return any(under.glob(pattern))


def test_every_path_the_docs_name_exists():
    missing = []
    for doc in DOCS:
        for token in CODE.findall(doc.read_text(encoding="utf-8")):
            if (token.startswith(TOP_LEVEL) or token in TOP_FILES) and not _exists(token):
                missing.append(f"{doc.name}: {token}")
    assert missing == []


def test_the_architecture_map_names_files_of_its_apps():
    missing = []
    for row in (REPO / "docs" / "architecture.md").read_text(encoding="utf-8").splitlines():
        app = re.match(r"\| `(lifelong/\w+)` \|", row)
        if app is None:
            continue
        for token in CODE.findall(row):
            if FILE_NAME.match(token) and not any((REPO / app[1]).rglob(token.split("/")[-1])):
                missing.append(f"{app[1]}: {token}")
    assert missing == []
