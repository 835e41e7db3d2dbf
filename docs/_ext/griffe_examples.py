"""A griffe extension: render plait's docstrings as their authors meant.

- plait's docstrings head their doctests ``Example:``, as napoleon and
  Google's guide allow; griffe knows only ``Examples:`` and would render the
  doctest as an admonition of Markdown text. Renaming the header lets
  mkdocstrings show the example as Python code, with its output.
- A plural after inline code is written ``Name``\\s, the reStructuredText
  way; in Markdown the backslash would show, so it is dropped.
- An ``Args:`` entry may name several parameters that share a description
  (``lease, grace: ...``), and a ``Raises:`` entry several exceptions
  (``TypeError, ValueError: bad arguments``), as napoleon reads Google
  style; griffe takes the whole list for one name, so the entry is repeated
  for each, and the reference lists one exception per line.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADER = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)
_PLURAL = re.compile(r"`\\s\b")
_SECTION = re.compile(r"^(\s*)(Args|Arguments|Parameters|Raises):\s*$")
_SHARED = re.compile(r"^(\s+)(\w+(?:, \w+)+):(.*)$")


def _split_shared_entries(text: str) -> str:
    lines = text.split("\n")
    out: list[str] = []
    section_indent: int | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        indent = len(line) - len(line.lstrip())
        header = _SECTION.match(line)
        if header:
            section_indent = len(header[1])
        elif line.strip() and section_indent is not None and indent <= section_indent:
            section_indent = None
        shared = _SHARED.match(line) if section_indent is not None else None
        if shared is None:
            out.append(line)
            i += 1
            continue
        entry_indent = len(shared[1])
        body = []
        i += 1
        while i < len(lines) and (
            not lines[i].strip()
            or len(lines[i]) - len(lines[i].lstrip()) > entry_indent
        ):
            body.append(lines[i])
            i += 1
        for name in shared[2].split(", "):
            out.append(f"{shared[1]}{name}:{shared[3]}")
            out.extend(body)
    return "\n".join(out)


class ExampleSections(griffe.Extension):
    """Apply the three fixes above to every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is None:
            return
        text = docstring.value
        if "Example:" in text:
            text = _HEADER.sub(r"\1Examples:", text)
        if "`\\s" in text:
            text = _PLURAL.sub("`s", text)
        if ", " in text:
            text = _split_shared_entries(text)
        docstring.value = text
