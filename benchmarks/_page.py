"""Writing a generated section into a markdown page, between two markers."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from ._report import BEGIN, END


def write_page(page: Path, section: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the section of *page* between *begin* and *end*, or append it.

    *section* includes the markers themselves.
    """
    text = page.read_text() if page.exists() else "# Performance\n\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + section.rstrip("\n") + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(text)


def machine() -> str:
    """Describe this machine for a page's header: CPU, cores, OS."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"
