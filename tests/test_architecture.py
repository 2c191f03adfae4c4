"""The house rules, checked from the source: dependency direction, no import cycle, small
modules, and light imports where the design promises them."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "search_spaces", "tune")
MAX_LINES = 400
HEAVY = ("numpy", "cv2", "sklearn", "tensorflow", "keras", "ray", "optuna")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_files() -> list[Path]:
    return sorted(p for package in (*PACKAGES, "bench") for p in (REPO / package).rglob("*.py"))


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Project modules `path` imports anywhere in it (module level or inside a function)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    files = project_files()
    modules = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, modules) for p in files}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path of module names, or None."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_project_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_dependencies_point_from_tune_to_search_spaces_to_core():
    graph = import_graph()
    for module, imported in graph.items():
        top = module.split(".")[0]
        tops = {name.split(".")[0] for name in imported}
        if top == "core":
            assert tops <= {"core"}, f"{module} imports {sorted(imported)}"
        if top == "search_spaces":
            allowed = {"core.config", "core.errors", "search_spaces"}
            assert all(name in allowed or name.startswith("search_spaces") for name in imported), (
                f"{module} imports {sorted(imported)}"
            )
        if top == "tune":
            assert "bench" not in tops, f"{module} imports {sorted(imported)}"


def test_core_never_imports_ray_or_optuna():
    for path in (REPO / "core").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            assert not any(n.split(".")[0] in ("ray", "optuna") for n in names), path


@pytest.mark.parametrize(
    "path",
    [p for package in PACKAGES for p in sorted((REPO / package).rglob("*.py"))],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_no_module_is_over_the_line_limit(path: Path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(REPO)}: {lines} lines; split it by job"


# core/'s top level: the commands users type and the shared contracts; the library lives in rooms
# by job (core/__init__.py maps the flat layout's old paths to the rooms).
CORE_COMMANDS = ("train", "summary", "prepare", "predict", "export", "pretrained")
CORE_CONTRACTS = (
    "checks",
    "cli",
    "config",
    "errors",
    "files",
    "folder_lock",
    "labels",
    "paths",
    "quiet",
)
CORE_ROOMS = ("data", "images", "model", "training", "evaluation", "deploy")


def test_core_top_level_holds_the_commands_and_the_shared_contracts_only():
    core = REPO / "core"
    modules = {p.stem for p in core.glob("*.py")} - {"__init__"}
    folders = {p.name for p in core.iterdir() if p.is_dir() and any(p.rglob("*.py"))}
    assert modules == {*CORE_COMMANDS, *CORE_CONTRACTS}, "a library module belongs in a room"
    assert folders == set(CORE_ROOMS)
    for room in CORE_ROOMS:  # a package, not a namespace folder, that says what it holds
        init = core / room / "__init__.py"
        assert init.exists() and ast.get_docstring(ast.parse(init.read_text())), init


# What command lines, the tuner's driver and search spaces import before anything heavy: the
# shared contracts, the rooms themselves (a room's __init__ loads nothing) and the weights fetch.
LIGHT = ["search_spaces", *(f"core.{name}" for name in (*CORE_CONTRACTS, *CORE_ROOMS))]
LIGHT += ["core.pretrained", "core.model.pretrained"]


@pytest.mark.parametrize("module", LIGHT)
def test_light_modules_import_nothing_heavy(module: str):
    code = f"import sys, {module}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


# The commands users type: a module of these is a command line, not a library to borrow from.
COMMANDS = tuple(f"core.{name}" for name in CORE_COMMANDS)
COMMANDS += ("tune.run", "tune.evaluate", "tune.report.cli", "tune.report.crossval")


def test_no_module_borrows_a_constant_or_a_class_from_a_command():
    """A command's module holds its command line; what others need lives in a library module
    (the Predictor in core.deploy.predictor, the preparation sizes in core.images.preprocess)."""
    modules = {module_name(p) for p in project_files()}
    borrowed = []
    for path in project_files():
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            if base in COMMANDS and base in modules and base != name:
                borrowed += [
                    f"{name} imports {alias.name} from {base}"
                    for alias in node.names
                    if alias.name != "main" and not alias.name.islower()
                ]
    assert borrowed == []
