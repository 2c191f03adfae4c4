"""Headless Chromium for the tests that check pages as a user's browser shows them (the study
report, optuna-dashboard)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def chromium() -> str:
    """The browser's path; CI (FERTUNE_REQUIRE_CHROMIUM) fails without one, a laptop skips."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("FERTUNE_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is not installed (.ci/run installs Debian's chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """One headless Chromium run with its own profile folder under `tmp_path`."""
    command = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def shown_text(tmp_path: Path, url: str, budget_ms: int = 30000) -> str:
    """The text a page shows once its scripts have run (styles, scripts and drawings left out),
    with white space collapsed."""
    shown = run_chromium(tmp_path, f"--virtual-time-budget={budget_ms}", "--dump-dom", url)
    assert shown.returncode == 0, shown.stderr[-2000:]
    text = re.sub(r"<(style|script|svg)\b.*?</\1>", " ", shown.stdout, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
