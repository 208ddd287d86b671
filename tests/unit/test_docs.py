"""The repository explains itself: every "spec §N" a reader follows names a section of
docs/spec.md, every relative link in the README and docs/ leads to a file (and heading) that
exists, and nothing points to a file outside the repository (a clone has nothing beside it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "docs" / "spec.md"
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
TEXT_SUFFIXES = {".py", ".md", ".j2", ".html", ".xml", ".toml", ".css", ".txt"}
SEARCHED = ("src", "tests", "benchmarks", "scripts", "docs")

SECTION_HEADING = re.compile(r"^## (\d+)\. \S", re.MULTILINE)
SECTION_SIGN = re.compile(r"§(\d+)")
# "spec §9" (code, README) or "spec.md §9" (docs/).
SPEC_REFERENCE = re.compile(r"\bspec(?:\.md)? §\d+")
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]*`")
# Written in pieces, so that this file does not name them itself.
OUTSIDE = ("../" + "shared", "SPEC" + ".md")


def repository_texts() -> Iterator[Path]:
    """The text files of the repository a reader may open (not the caches, not the venv)."""
    yield ROOT / "README.md"
    yield ROOT / "Makefile"
    yield ROOT / "pyproject.toml"
    for folder in SEARCHED:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in TEXT_SUFFIXES and path.is_file():
                yield path


def spec_sections() -> list[int]:
    return [int(n) for n in SECTION_HEADING.findall(SPEC.read_text(encoding="utf-8"))]


def prose(markdown: str) -> str:
    """The text a reader reads as prose: fenced code blocks blanked (their lines kept)."""
    return FENCE.sub(lambda block: "\n" * block.group(0).count("\n"), markdown)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives a document's headings: lower case, punctuation dropped, spaces
    as hyphens, and -1, -2 … after a repeated one."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for line in prose(markdown).splitlines():
        heading = re.match(r"#{1,6} (.+)", line)
        if heading is None:
            continue
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.group(1).strip())
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f"{slug}-{count}")
    return anchors


def relative_links(markdown: str) -> list[str]:
    text = CODE_SPAN.sub("", prose(markdown))
    return [
        target
        for target in LINK.findall(text)
        if not re.match(r"[a-z][a-z0-9+.-]*:", target)  # https:, mailto:
    ]


def test_the_specification_has_every_section_in_order() -> None:
    assert spec_sections() == list(range(1, 19))


def test_every_section_sign_names_a_section_of_the_specification() -> None:
    sections = set(spec_sections())
    unknown = [
        f"{path.relative_to(ROOT)}: §{number}"
        for path in repository_texts()
        for number in SECTION_SIGN.findall(path.read_text(encoding="utf-8", errors="replace"))
        if int(number) not in sections
    ]
    assert unknown == []


def test_nothing_points_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in repository_texts()
        for name in OUTSIDE
        if name in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert found == []


@pytest.mark.parametrize("document", DOCS, ids=lambda path: path.name)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(document: Path) -> None:
    broken = []
    for target in relative_links(document.read_text(encoding="utf-8")):
        path_part, _, anchor = target.partition("#")
        linked = (document.parent / path_part).resolve() if path_part else document
        if not linked.exists():
            broken.append(f"{target}: no such file")
        elif (
            anchor
            and linked.suffix == ".md"
            and anchor not in github_anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(f"{target}: no such heading in {linked.name}")
    assert broken == []


@pytest.mark.parametrize("document", [d for d in DOCS if d != SPEC], ids=lambda path: path.name)
def test_the_first_mention_of_a_section_links_to_the_specification(document: Path) -> None:
    """A reader meeting "spec §N" for the first time in a document can follow it (headings
    aside: the first mention in the text is the link)."""
    spec = "docs/spec.md" if document.parent == ROOT else "spec.md"
    linked = re.compile(
        r"\[spec(?:\.md)? §\d+[^\]]*\]\(" + re.escape(spec) + r"#[^)]+\)", re.MULTILINE
    )
    text = "\n".join(
        "" if line.startswith("#") else line
        for line in prose(document.read_text(encoding="utf-8")).splitlines()
    )
    first = SPEC_REFERENCE.search(text)
    if first is None:
        return
    assert linked.match(text, first.start() - 1), (
        f"{document.name}: the first {first.group(0)!r} is not a link to {spec}"
    )


def test_the_anchors_follow_githubs_rules() -> None:
    anchors = github_anchors(
        "# 11. Great Britain's fleet\n## The guards (spec.md §9)\n## Again\n## Again\n"
        "```\n# not a heading\n```\n### Replay (`benchmarks/replay.py`)\n"
    )
    assert anchors == {
        "11-great-britains-fleet",
        "the-guards-specmd-9",
        "again",
        "again-1",
        "replay-benchmarksreplaypy",
    }
