"""Screenshots of the built docs site, served over HTTP, by headless chromium.

Usage::

    python docs/_ext/screenshots.py [--site DIR] [--out DIR]

Builds the site (``mkdocs build --strict``) into a temporary folder unless
``--site`` names a built one, serves it on a free local port, and has
Debian's chromium (``bash .ci/chromium.sh`` installs it) take one screenshot
per page in ``PAGES``: the home page, the performance page and a reference
page. They are for a person to look at, and stay out of the repository
(default folder: ``/tmp/plait-screenshots``).
"""

from __future__ import annotations

import argparse
import functools
import http.server
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# name -> (path on the site, window height: the performance page is long).
PAGES = {
    "index": ("", 2200),
    "performance": ("performance/", 3000),
    "reference-patterns": ("reference/patterns/", 3000),
}
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Lets the page's scripts (the theme, the search index) settle first.
    "--virtual-time-budget=5000",
]


def build_site(into: Path) -> Path:
    """Build the docs strictly into *into*; return it."""
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(into)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        check=True,
    )
    return into


def chromium() -> str:
    """Return the path of Debian's chromium, installing it if need be."""
    found = subprocess.run(
        ["bash", str(ROOT / ".ci" / "chromium.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    # Its one line of output: `export PLAIT_TEST_CHROMIUM=/path/to/chromium`.
    return found.stdout.strip().splitlines()[-1].partition("=")[2]


def shoot(site: Path, out: Path) -> list[Path]:
    """Serve *site* on 127.0.0.1 and screenshot each page into *out*."""
    out.mkdir(parents=True, exist_ok=True)
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    browser = chromium()
    shots = []
    try:
        port = server.server_address[1]
        for name, (path, height) in PAGES.items():
            shot = out / f"{name}.png"
            with tempfile.TemporaryDirectory() as profile:
                subprocess.run(
                    [
                        browser,
                        *CHROMIUM_FLAGS,
                        f"--user-data-dir={profile}",
                        f"--window-size=1400,{height}",
                        f"--screenshot={shot}",
                        f"http://127.0.0.1:{port}/{path}",
                    ],
                    capture_output=True,
                    timeout=120,
                    check=True,
                )
            shots.append(shot)
    finally:
        server.shutdown()
        server.server_close()
    return shots


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/plait-screenshots"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        site = args.site or build_site(Path(tmp) / "site")
        for shot in shoot(site, args.out):
            print(shot)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
