"""The README stays a page for users, and the documentation's links lead somewhere."""

from __future__ import annotations

import re

from paths import REPO

MAX_README_LINES = 450  # details go to docs/ and benchmarks/README.md, linked from the README
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks" / "README.md"]
LINK = re.compile(r"\]\(([^)#\s]+)(#[^)\s]*)?\)")


def test_the_readme_is_short_enough_to_read():
    lines = len((REPO / "README.md").read_text().splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines: move details to docs/"


def test_every_relative_link_resolves():
    broken = []
    for document in [*DOCUMENTS, REPO / "tests" / "README.md"]:
        for target, _anchor in LINK.findall(document.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (document.parent / target).exists():
                broken.append(f"{document.relative_to(REPO)} -> {target}")
    assert not broken, broken


def test_every_module_path_the_documents_name_exists():
    named = {p for document in DOCUMENTS for p in re.findall(r"\btuner/[\w/]+\.py\b", document.read_text())}
    assert named, "the documents name no module"
    assert not sorted(p for p in named if not (REPO / p).exists() and p != "tuner/X/y.py")  # X/y: a pattern


def test_the_readmes_own_model_example_is_the_shipped_file_as_it_is():
    readme = (REPO / "README.md").read_text()
    for name in ("examples/small_cnn.py", "examples/small_cnn.yaml"):
        text = (REPO / name).read_text().rstrip()
        assert text in readme, f"README.md's copy of {name} differs from the file"
    assert len((REPO / "examples" / "small_cnn.py").read_text().splitlines()) <= 30
