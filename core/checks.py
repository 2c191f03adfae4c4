"""One checker for what the project reads: a training config, thresholds.json, study.json and
best_config.json.

A reader lists its fields in a table, `key -> Rule`; `check` finds the first value that breaks its
rule and raises the reader's error in the reader's one-line wording, which names the field, the
value and what was expected (`batch_size must be a whole number from 1 to 4096, got 0`,
`thresholds.json: input_size is "96"; expected a whole number from 32 to 2048`, `study.json is
damaged (num_samples is "8", expected int)`). A rule also converts what it accepted (a whole
number to `int`, a list to a tuple), so a typed config is built from checked values only.

Why a table of our own and not pydantic (v2 comes with Ray): its errors are several lines in its
own words ("Input should be greater than or equal to 1 [type=greater_than_equal, ...]"), so each
would be translated back into the wording users and tests/test_bad_input.py read, field by field;
its lax mode turns "96" into 96 and True into 1 unless every field is made strict; and `core`,
which never imports Ray, would lean on a package the project does not declare. The rules here are
few, and each is said once: "a number, but not a bool" is `is_number`.

Light on purpose (no numpy): core.config imports it, and the search spaces import that.
"""

from __future__ import annotations

import json
import math
import numbers
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import shortened


def is_whole(value: Any) -> bool:
    """An integer, and not a bool (JSON and Python both let True pass for 1)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite real number, and not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Fault:
    """What breaks a rule: the value to show (a list's offending item, or the whole value) and
    what was expected instead."""

    value: Any
    expected: str


class Rule:
    """What one field accepts, what it is called when it is not, and how it is converted."""

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def expected(self, value: Any) -> str:
        raise NotImplementedError

    def fault(self, value: Any) -> Fault | None:
        return None if self.accepts(value) else Fault(value, self.expected(value))

    def convert(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Whole(Rule):
    """A whole number in [low, high]. `sided`: say only the bound the value breaks
    (`a whole number >= 48`), as the model's keys always have. `note` says why these bounds."""

    low: int
    high: int | None = None
    sided: bool = False
    note: str = ""

    def accepts(self, value: Any) -> bool:
        return is_whole(value) and value >= self.low and (self.high is None or value <= self.high)

    def expected(self, value: Any) -> str:
        if self.high is None or (self.sided and not (is_whole(value) and value > self.high)):
            bounds = f">= {self.low}"
        else:
            bounds = f"<= {self.high}" if self.sided else f"from {self.low} to {self.high}"
        return f"a whole number {bounds}" + (f" ({self.note})" if self.note else "")

    def convert(self, value: Any) -> int:
        return int(value)


@dataclass(frozen=True)
class Number(Rule):
    """A finite number between `low` and `high` (either may be open, or absent)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def accepts(self, value: Any) -> bool:
        if not is_number(value):
            return False
        above_low = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below_high = self.high is None or (
            value < self.high if self.high_open else value <= self.high
        )
        return above_low and below_high

    def expected(self, value: Any = None, noun: str = "a number") -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"{noun} in {left}{self.low:g}, {self.high:g}{right}"
        if self.low is not None:
            return f"{noun} {'>' if self.low_open else '>='} {self.low:g}"
        if self.high is not None:
            return f"{noun} {'<' if self.high_open else '<='} {self.high:g}"
        return noun

    def convert(self, value: Any) -> float:
        return float(value)


@dataclass(frozen=True)
class Numbers(Rule):
    """A list of numbers, each within `item` (`a list of numbers in [0, 1]`)."""

    item: Number
    non_empty: bool = False

    def accepts(self, value: Any) -> bool:
        items_ok = isinstance(value, list | tuple) and all(self.item.accepts(v) for v in value)
        return items_ok and (bool(value) or not self.non_empty)

    def expected(self, value: Any = None) -> str:
        numbers = self.item.expected(noun="numbers")
        return f"a {'non-empty ' if self.non_empty else ''}list of {numbers}"

    def convert(self, value: Any) -> tuple[float, ...]:
        return tuple(float(v) for v in value)


@dataclass(frozen=True)
class Texts(Rule):
    """A non-empty list of strings (`a non-empty list of AU names`)."""

    what: str

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)

    def expected(self, value: Any = None) -> str:
        return f"a non-empty list of {self.what}"


@dataclass(frozen=True)
class OneOf(Rule):
    """One of a few known values (`one of mtcnn, haar`). `each`: the value is a list, and every
    item must be known; the first unknown item is the one shown. `note` says why these."""

    choices: Sequence[Any]
    each: bool = False
    note: str = ""

    def fault(self, value: Any) -> Fault | None:
        items = value if self.each and isinstance(value, list) else [value]
        unknown = [item for item in items if not self._known(item)]
        return Fault(unknown[0], self.expected()) if unknown else None

    def accepts(self, value: Any) -> bool:
        return self.fault(value) is None

    def expected(self, value: Any = None) -> str:
        note = f" ({self.note})" if self.note else ""
        return f"one of {', '.join(map(str, self.choices))}{note}"

    def convert(self, value: Any) -> Any:
        """The choice itself (`0.5` for an alpha of 0.5000001); each item's, for a list."""
        if self.each and isinstance(value, list):
            return [self.convert(item) for item in value]
        return next(choice for choice in self.choices if self._known(value, choice))

    def _known(self, value: Any, choice: Any = None) -> bool:
        """Equal to a choice (to `choice` when given); numbers within float rounding."""
        choices = self.choices if choice is None else [choice]
        if is_number(value):
            return any(is_number(c) and math.isclose(value, c) for c in choices)
        return isinstance(value, str | None) and value in choices


@dataclass(frozen=True)
class Flag(Rule):
    """True or False, nothing that merely reads as one."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)

    def expected(self, value: Any = None) -> str:
        return "True or False"


@dataclass(frozen=True)
class OfType(Rule):
    """A JSON value of a dataclass field's declared type: str, int, float, bool, None, their
    unions, list[...] and dict[str, ...]; a whole number is a float, a bool is not a number. Said
    as the type (`expected int`)."""

    hint: Any

    def accepts(self, value: Any) -> bool:
        return fits(value, self.hint)

    def expected(self, value: Any = None) -> str:
        return self.hint.__name__ if isinstance(self.hint, type) else str(self.hint)


# The plain types a JSON value may have, and what each accepts.
PLAIN_TYPES: dict[Any, Callable[[Any], bool]] = {
    type(None): lambda v: v is None,
    Any: lambda v: True,
    bool: lambda v: isinstance(v, bool),
    int: is_whole,
    float: is_number,
    str: lambda v: isinstance(v, str),
}


def fits(value: Any, hint: Any) -> bool:
    """Whether `value` is of the type `hint` (see OfType)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(fits(value, option) for option in typing.get_args(hint))
    if hint in PLAIN_TYPES:
        return PLAIN_TYPES[hint](value)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(fits(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(hint)
        return isinstance(value, dict) and all(
            fits(k, key) and fits(v, item) for k, v in value.items()
        )
    return False


def shown(value: Any) -> str:
    """A value as a message about a JSON file quotes it: as JSON, shortened."""
    return shortened(json.dumps(value, default=str))


def first_fault(rules: Mapping[str, Rule], payload: Mapping[str, Any]) -> tuple[str, Fault] | None:
    """The first field of `payload`, in the table's order, whose value breaks its rule."""
    for key, rule in rules.items():
        if key in payload:
            fault = rule.fault(payload[key])
            if fault is not None:
                return key, fault
    return None


def check(
    rules: Mapping[str, Rule],
    payload: Mapping[str, Any],
    wording: str,
    error: type[Exception],
    **context: Any,
) -> dict[str, Any]:
    """The fields of `payload` that the table names, checked and converted; else `error` with
    `wording` filled in: {key}, {value} (use {value!r}), {shown} (as JSON), {expected} and the
    reader's own `context` (a path, say)."""
    found = first_fault(rules, payload)
    if found is not None:
        key, fault = found
        raise error(
            wording.format(
                key=key,
                value=fault.value,
                shown=shown(fault.value),
                expected=fault.expected,
                **context,
            )
        )
    return {key: rules[key].convert(payload[key]) for key in rules if key in payload}
