"""What a data source yields: one record per labelled image, plus the skips it made."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..labels import DEFAULT_AUS


@dataclass(frozen=True)
class Record:
    """One labelled image: where it is, whose it is, its emotion and AU vector."""

    path: Path
    subject: str
    sequence: str
    emotion: int  # 0 negative, 1 positive, 2 surprise
    aus: tuple[int, ...]  # 0/1 per AU of the source's AU list


@dataclass(frozen=True)
class Skip:
    """A file a source passed over, and why (shown by core.summary)."""

    path: Path
    reason: str


@dataclass
class Source:
    """Records of one data source, with the AU list their vectors follow."""

    root: Path
    records: list[Record]
    aus: tuple[int, ...] = DEFAULT_AUS
    skipped: list[Skip] = field(default_factory=list)
