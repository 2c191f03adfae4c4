"""Emotion classes, CK+ emotion codes and the default Action Unit list."""

from __future__ import annotations

import math

from .errors import DataError

EMOTIONS: tuple[str, ...] = ("negative", "positive", "surprise")

# CK+ codes: 0 neutral, 1 anger, 2 contempt, 3 disgust, 4 fear, 5 happy, 6 sadness, 7 surprise.
# Neutral (0) is not a class: CK+ labels only the peak of an expressive sequence.
CKPLUS_CODE_TO_EMOTION: dict[int, int] = {1: 0, 2: 0, 3: 0, 4: 0, 6: 0, 5: 1, 7: 2}
CKPLUS_CODE_NAMES: dict[str, int] = {
    "anger": 1,
    "contempt": 2,
    "disgust": 3,
    "fear": 4,
    "happy": 5,
    "happiness": 5,
    "sadness": 6,
    "sad": 6,
    "surprise": 7,
}

# The 15 most frequent AUs in CK+.
DEFAULT_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 12, 15, 17, 20, 23, 24, 25, 27)


def au_names(aus: tuple[int, ...] = DEFAULT_AUS) -> list[str]:
    """Display names of an AU list (`AU1`, `AU12`, ...), as reports and CSV columns use them."""
    return [f"AU{au}" for au in aus]


def emotion_from_code(code: int, where: str) -> int:
    """Map a CK+ emotion code to a class index; `where` names the file and line for the error."""
    if code not in CKPLUS_CODE_TO_EMOTION:
        raise DataError(
            f"{where}: emotion code {code} is not one of 1-7 (0 neutral is not a labelled class)"
        )
    return CKPLUS_CODE_TO_EMOTION[code]


def emotion_from_text(value: str, where: str) -> int:
    """Accept a class name (negative/positive/surprise), a CK+ emotion name or a CK+ code."""
    text = value.strip().lower()
    if text in EMOTIONS:
        return EMOTIONS.index(text)
    if text in CKPLUS_CODE_NAMES:
        return CKPLUS_CODE_TO_EMOTION[CKPLUS_CODE_NAMES[text]]
    try:
        number = float(text)
    except ValueError:
        raise DataError(
            f"{where}: unknown emotion {value!r} (use negative/positive/surprise, "
            "a CK+ emotion name or a CK+ code 1-7)"
        ) from None
    if not math.isfinite(number) or number != int(number):
        raise DataError(f"{where}: emotion code {value!r} is not a whole number")
    return emotion_from_code(int(number), where)


def parse_au_list(text: str) -> tuple[int, ...]:
    """Parse '1,2,4' (an AU list given on a command line)."""
    try:
        aus = tuple(int(part) for part in text.replace("+", ",").split(",") if part.strip())
    except ValueError:
        raise DataError(f"AU list {text!r}: expected numbers separated by commas") from None
    if not aus or len(set(aus)) != len(aus) or min(aus) <= 0:
        raise DataError(f"AU list {text!r}: expected distinct positive AU numbers")
    return aus
