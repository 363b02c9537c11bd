"""``ws.__all__`` and ``rooms.__all__`` list exactly the names docs/reference.md documents.

How the documented names are found: reference.md has one top-level section per
package, headed ``# `ws` `` and ``# `rooms` ``.  Before its first ``##``
section, each has an index, a bullet list whose items read
``- [Section title](#anchor): `Name`, `Other` ``: the names that section
documents (an item may wrap onto indented lines).  A name is documented when it
is in its package's index, the anchor is a heading of that package's section,
and the name appears in the text of that heading's section.

So a new public name takes three edits: ``__all__``, a bullet (or a name added
to one) in the index, and its entry in the section the bullet points to.
"""

from __future__ import annotations

import importlib
import json
import pathlib
import re
import subprocess
import sys

import attrs
import pytest

from tests.support import scaled

REFERENCE = pathlib.Path(__file__).resolve().parents[1] / "docs" / "reference.md"
PACKAGES = ["ws", "rooms"]

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
ITEM = re.compile(r"^- \[(?P<title>[^\]]+)\]\(#(?P<anchor>[^)\s]+)\):\s*(?P<names>.*)$")
NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)`")
LINK = re.compile(r"\]\(#([^)\s]+)\)")


@attrs.frozen(slots=True)
class Section:
    """A heading of reference.md and the lines under it, up to the next heading of its level or above."""

    level: int
    title: str
    anchor: str
    text: str


@attrs.frozen(slots=True)
class Entry:
    """One bullet of a package's index: the names it says *anchor* documents."""

    anchor: str
    names: tuple[str, ...]


def slug(title: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", title.strip().lower())
    return text.replace(" ", "-")


def lines_outside_code(text: str) -> list[tuple[str, bool]]:
    """Each line with whether it is prose (outside a fenced code block)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append((line, False))
        else:
            out.append((line, not fenced))
    return out


def sections(text: str) -> list[Section]:
    lines = lines_outside_code(text)
    heads = [(i, HEADING.match(line)) for i, (line, prose) in enumerate(lines) if prose]
    heads = [(i, m) for i, m in heads if m]
    found = []
    for k, (i, m) in enumerate(heads):
        level = len(m.group(1))
        end = next((j for j, n in heads[k + 1 :] if len(n.group(1)) <= level), len(lines))
        body = "\n".join(line for line, _ in lines[i + 1 : end])
        found.append(Section(level, m.group(2), slug(m.group(2)), body))
    return found


def package_section(package: str) -> Section:
    top = [s for s in sections(REFERENCE.read_text()) if s.level == 1 and s.title == f"`{package}`"]
    assert len(top) == 1, f"reference.md needs exactly one section headed # `{package}`"
    return top[0]


def index(package: str) -> list[Entry]:
    """The bullets between ``# `package` `` and its first ``##`` heading."""
    text = package_section(package).text
    head = re.split(r"^##\s", text, maxsplit=1, flags=re.MULTILINE)[0]
    items: list[str] = []
    for line in head.splitlines():
        if line.startswith("- "):
            items.append(line)
        elif items and line.startswith("  ") and line.strip():
            items[-1] += " " + line.strip()
    entries = []
    for item in items:
        m = ITEM.match(item)
        assert m, f"an index item of # `{package}` is not '- [Title](#anchor): `Name`, ...': {item!r}"
        entries.append(Entry(m.group("anchor"), tuple(NAME.findall(m.group("names")))))
    assert entries, f"no index of public names under # `{package}` in reference.md"
    return entries


def subsections(package: str) -> dict[str, Section]:
    return {s.anchor: s for s in sections(package_section(package).text) if s.level >= 2}


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_exactly_the_documented_names(package: str) -> None:
    module = importlib.import_module(package)
    exported = list(module.__all__)
    documented = [name for entry in index(package) for name in entry.names]
    assert len(exported) == len(set(exported)), f"{package}.__all__ lists a name twice"
    assert len(documented) == len(set(documented)), f"reference.md's index of {package} lists a name twice"
    undocumented = sorted(set(exported) - set(documented))
    not_exported = sorted(set(documented) - set(exported))
    assert not undocumented and not not_exported, (
        f"{package}: exported but not in reference.md's index: {undocumented}; "
        f"in the index but not in __all__: {not_exported}"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_each_indexed_name_is_in_the_section_it_points_to(package: str) -> None:
    below = subsections(package)
    for entry in index(package):
        assert entry.anchor in below, f"# `{package}` index points to #{entry.anchor}, not a heading of that section"
        text = below[entry.anchor].title + "\n" + below[entry.anchor].text
        missing = [n for n in entry.names if not re.search(rf"(?<![\w]){re.escape(n)}(?!\w)", text)]
        assert not missing, f"#{entry.anchor} does not mention {missing}"


def test_reference_links_to_its_own_headings_resolve() -> None:
    text = REFERENCE.read_text()
    anchors = {s.anchor for s in sections(text)}
    broken = sorted({a for a in LINK.findall(text) if a not in anchors})
    assert not broken, f"reference.md links to missing headings: {broken}"


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists(package: str) -> None:
    module = importlib.import_module(package)
    # What ``from package import *`` does: every name of __all__, lazy ones included.
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing, f"{package}.__all__ names what it does not have: {missing}"


def run_python(script: str) -> dict:
    """Run *script* in a fresh interpreter (from the repository root); return the JSON it prints."""
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REFERENCE.parents[1],
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# ``import redis`` fails, as without the extra.
WITHOUT_REDIS = r"""
import json, sys
sys.modules["redis"] = None
import ws, rooms
names = {}
for name in rooms.__all__:
    try:
        getattr(rooms, name)
        names[name] = "ok"
    except ImportError as exc:
        names[name] = f"ImportError: {exc}"
    except Exception as exc:
        names[name] = f"{type(exc).__name__}: {exc}"
print(json.dumps(names))
"""

IMPORTED = r"""
import json, sys
import ws, rooms
print(json.dumps(sorted(m for m in sys.modules if m == "redis" or m.startswith("redis."))))
"""


def test_rooms_imports_without_the_redis_extra() -> None:
    """``import rooms`` works without redis; the lazy names (the Redis backend)
    then resolve, or raise ImportError, but nothing else."""
    names = run_python(WITHOUT_REDIS)
    assert set(names) == set(importlib.import_module("rooms").__all__)
    broken = {n: v for n, v in names.items() if v != "ok" and not v.startswith("ImportError")}
    assert not broken, broken


def test_import_rooms_does_not_load_the_redis_client() -> None:
    """The Redis client is imported when a lazy name is first used, not by ``import rooms``."""
    assert run_python(IMPORTED) == []
