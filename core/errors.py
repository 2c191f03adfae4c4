"""The project's error classes: a user's mistake is reported in one line, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message names the path, line, column or value."""


class DataError(UserError):
    """Bad data: a missing folder, an unreadable image, a malformed label file or manifest."""


class ConfigError(UserError):
    """An impossible setting: an unknown space, a negative size, an unknown metric."""


class StorageError(UserError):
    """The results storage cannot take the study's files: unwritable, or out of space."""


def first_line(error: object) -> str:
    """The first line of an error's message (the class name when it has none): what a one-line
    report of a library's multi-line error keeps."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def shortened(text: str, most: int = 40) -> str:
    """A value as a message quotes it: a 309-digit number is not echoed whole."""
    return text if len(text) <= most else f"{text[: most - 3]}..."
