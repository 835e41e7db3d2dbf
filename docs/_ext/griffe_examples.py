"""A griffe extension: read a Google-style ``Example:`` section as examples.

plait's docstrings head their doctests ``Example:``, as napoleon and Google's
guide allow; griffe knows only ``Examples:`` and would render the doctest as
an admonition of Markdown text. Renaming the header lets mkdocstrings show
the example as Python code, with its output.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_HEADER = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` headers to ``Examples:`` in every docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        docstring = obj.docstring
        if docstring is not None and "Example:" in docstring.value:
            docstring.value = _HEADER.sub(r"\1Examples:", docstring.value)
