"""Where generated data and caches live: never inside the repository's tracked files."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """`FERTUNE_CACHE` if set, else `$XDG_CACHE_HOME/fertune` (default `~/.cache/fertune`)."""
    explicit = os.environ.get("FERTUNE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "fertune"


def cache_name() -> str:
    """How a message names the cache folder: by the variable that chose it, when one did."""
    return "FERTUNE_CACHE" if os.environ.get("FERTUNE_CACHE") else "the cache folder"
