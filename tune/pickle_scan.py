"""What a pickle would import, read from its opcodes without running it.

Ray Tune saves a study's state as pickles (tuner.pkl, the searcher's and the search generator's
state, and pickles in hex inside the experiment state's JSON), and `--resume` hands them to
Tune, which unpickles them: a pickle names functions to call, so a state file from someone else
can run code. Before Tune sees a file, the resume reads the names each pickle would import
(`pickletools.genops` parses; nothing is imported or called) and refuses one that names anything
outside the libraries a study's state is made of.

This narrows what a hostile file can do; it does not make a pickle safe (a file may still call
those libraries' functions with its own arguments). The README says so: resume only folders you
trust.
"""

from __future__ import annotations

import contextlib
import json
import pickletools
from collections.abc import Iterator
from dataclasses import dataclass

# Libraries whose classes and functions a study's state holds: Ray Tune's own, Optuna's, ours.
ALLOWED_PACKAGES = frozenset({"ray", "optuna", "tune", "search_spaces", "core"})
# Everything else a study's state was seen to hold (every space, searcher and scheduler):
# module -> names. os, subprocess, builtins.eval and the like are refused.
ALLOWED_NAMES = {
    "builtins": {
        "bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list",
        "object", "range", "set", "slice", "str", "tuple", "type",
    },
    "argparse": {
        "ArgumentParser", "HelpFormatter", "_AppendAction", "_AppendConstAction",
        "_ArgumentGroup", "_CountAction", "_ExtendAction", "_HelpAction", "_StoreAction",
        "_StoreConstAction", "_StoreFalseAction", "_StoreTrueAction", "_SubParsersAction",
        "_VersionAction", "_MutuallyExclusiveGroup", "BooleanOptionalAction",
    },
    "collections": {"OrderedDict", "defaultdict", "deque", "Counter"},
    "copyreg": {"_reconstructor", "__newobj__", "__newobj_ex__"},
    "datetime": {"datetime", "date", "time", "timedelta", "timezone"},
    "json": {"loads"},
    "pathlib": {"PosixPath", "PurePosixPath", "Path"},
    "re": {"_compile"},
    "uuid": {"UUID"},
    "_codecs": {"encode"},
    "numpy": {"dtype", "ndarray", "float64", "int64", "bool_"},
    "numpy._core.multiarray": {"_reconstruct", "scalar"},
    "numpy.core.multiarray": {"_reconstruct", "scalar"},
    "numpy._core.numeric": {"_frombuffer"},
    "numpy.core.numeric": {"_frombuffer"},
    "numpy.random._mt19937": {"MT19937"},
    "numpy.random._pcg64": {"PCG64"},
    "numpy.random._pickle": {
        "__bit_generator_ctor", "__randomstate_ctor", "__generator_ctor",
    },
    "pyarrow._fs": {"FileSystem._from_uri", "LocalFileSystem"},
}  # fmt: skip
STRING_OPCODES = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING"}
)
GET_OPCODES = frozenset({"GET", "BINGET", "LONG_BINGET"})
PUT_OPCODES = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
EXTENSION_OPCODES = frozenset({"EXT1", "EXT2", "EXT4"})  # a global by number: unreadable here


@dataclass(frozen=True)
class Scan:
    """What one pickle would import, as far as it parses, and whether it is one whole pickle."""

    imports: frozenset[tuple[str, str]]  # (module, name)
    whole: bool
    unreadable: str | None = None  # a global this scan cannot name: refused
    top: str | None = None  # the opcode that starts the pickled object (EMPTY_DICT: a dict)
    strings: frozenset[str] = frozenset()  # every string constant it holds (keys, names)

    def refused(self) -> list[str]:
        """`module.name` of every import a study's state never holds, sorted."""
        names = [f"{module}.{name}" for module, name in self.imports if not allowed(module, name)]
        return sorted(names) + ([self.unreadable] if self.unreadable else [])


def scan(content: bytes) -> Scan:
    """Read the opcodes of `content` (nothing runs) up to its end or to where it stops
    parsing (a file cut short: what came before is what an unpickler would already have run)."""
    imports: set[tuple[str, str]] = set()
    pushed: list[str | None] = []  # what each change of the stack left on top: a string or None
    memo: dict[int, str | None] = {}
    top: list[str] = []

    def found(whole: bool, unreadable: str | None = None) -> Scan:
        strings = frozenset(value for value in pushed if isinstance(value, str))
        return Scan(frozenset(imports), whole, unreadable, next(iter(top), None), strings)

    try:
        for opcode, argument, _ in pickletools.genops(content):
            name = opcode.name
            if name not in ("PROTO", "FRAME") and not top:
                top.append(name)
            if name in ("GLOBAL", "INST"):
                module, _, attribute = str(argument).partition(" ")
                imports.add((module, attribute))
            elif name == "STACK_GLOBAL":
                module, attribute = pushed[-2:] if len(pushed) >= 2 else (None, None)
                if not (isinstance(module, str) and isinstance(attribute, str)):
                    return found(False, "a global whose name is computed")
                imports.add((module, attribute))
            elif name in EXTENSION_OPCODES:
                return found(False, f"a global by extension code ({name})")
            if name == "MEMOIZE":
                memo[len(memo)] = pushed[-1] if pushed else None
            elif name in PUT_OPCODES:
                memo[int(argument)] = pushed[-1] if pushed else None
            elif name in GET_OPCODES:
                pushed.append(memo.get(int(argument)))
            elif name in STRING_OPCODES:
                pushed.append(str(argument))
            elif opcode.stack_before != opcode.stack_after:
                pushed.append(None)
    except ValueError:  # cut short, or not a pickle from here on
        return found(False)
    return found(True)


def allowed(module: str, name: str) -> bool:
    """Whether a study's state may import `module.name`: a listed name, or one from Ray, Optuna
    or ours that reaches no further than a class (`Class.method`, never `os.system` through a
    module that imported os)."""
    if name in ALLOWED_NAMES.get(module, ()):
        return True
    if module.split(".")[0] not in ALLOWED_PACKAGES:
        return False
    *outer, _ = name.split(".")
    return all(part[:1].isupper() for part in outer)


def embedded_pickles(text: str) -> Iterator[bytes]:
    """The pickles Tune keeps inside its experiment state's JSON: hex strings (the trials'
    non-JSON fields, `CLOUDPICKLE_FALLBACK` values), also inside JSON held in strings.
    ValueError when `text` is not JSON."""
    stack: list[object] = [json.loads(text)]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str):
            if value[:1] in "{[" and value[-1:] in "}]":
                with contextlib.suppress(ValueError):  # not JSON: an ordinary string
                    stack.append(json.loads(value))
            elif value.startswith("80") and len(value) % 2 == 0 and _is_hex(value):
                yield bytes.fromhex(value)


def _is_hex(text: str) -> bool:
    return all(character in "0123456789abcdefABCDEF" for character in text)
