"""Security: a local Ray on 127.0.0.1 without a dashboard, TensorBoard on localhost, the CSV root
rule, models loaded in Keras' safe mode, and nothing unpickled from a data folder."""

from __future__ import annotations

import ast
import ipaddress
import os
import re
from pathlib import Path

import pytest

from core.data.sources import read_csv_manifest
from core.errors import DataError
from tests.conftest import write_image

REPO = Path(__file__).resolve().parents[1]
SOURCES = sorted(
    path
    for folder in ("core", "tune", "search_spaces", "bench")
    for path in (REPO / folder).rglob("*.py")
)


def calls(path: Path, name: str) -> list[ast.Call]:
    """Every call in a module whose function is `name` or `something.name`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call):
            function = node.func
            called = function.attr if isinstance(function, ast.Attribute) else None
            called = called or (function.id if isinstance(function, ast.Name) else None)
            if called == name:
                found.append(node)
    return found


def keyword(call: ast.Call, name: str) -> object:
    for item in call.keywords:
        if item.arg == name and isinstance(item.value, ast.Constant):
            return item.value.value
    return None


def test_every_keras_model_load_uses_safe_mode():
    loads = [
        (path, call)
        for path in SOURCES
        for call in calls(path, "load_model")
        if isinstance(call.func, ast.Attribute)  # keras.models.load_model, not our own wrapper
    ]
    assert loads, "expected the project to load Keras models somewhere"
    unsafe = [
        f"{p.relative_to(REPO)}:{c.lineno}" for p, c in loads if keyword(c, "safe_mode") is not True
    ]
    assert not unsafe, f"keras load_model without safe_mode=True at {unsafe}"


def test_nothing_unpickles_files_from_the_data_folder():
    np_loads = [(path, call) for path in SOURCES for call in calls(path, "load")]
    for path, call in np_loads:
        function = call.func
        owner = (
            function.value.id
            if isinstance(function, ast.Attribute) and isinstance(function.value, ast.Name)
            else None
        )
        where = f"{path.relative_to(REPO)}:{call.lineno}"
        assert owner not in ("pickle", "joblib", "dill", "cloudpickle", "torch"), where
        if owner == "np":
            assert keyword(call, "allow_pickle") is False, where
    for path in (REPO / "core").rglob("*.py"):  # core reads the data folder
        assert not re.search(r"^\s*import (pickle|dill|joblib)", path.read_text(), re.M), path


def test_every_printed_tensorboard_command_binds_to_localhost():
    texts = [*SOURCES, REPO / "README.md", *(REPO / "docs").rglob("*.md")]
    commands = [
        (path, line)
        for path in texts
        for line in path.read_text().splitlines()
        if "tensorboard --logdir" in line
    ]
    assert any(path.name == "results.py" for path, _ in commands)
    for path, line in commands:
        assert "--host 127.0.0.1" in line and "--bind_all" not in line, f"{path}: {line}"


def test_a_csv_symlink_that_leads_outside_its_folder_is_rejected(tmp_path: Path):
    secret = write_image(tmp_path / "private" / "face.png")
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "face.png").symlink_to(secret)
    manifest = folder / "labels.csv"
    manifest.write_text("path,subject,emotion,aus\nface.png,S1,happy,12\n")
    with pytest.raises(DataError, match=r"labels.csv:2: column 'path': face.png lies outside"):
        read_csv_manifest(manifest)
    assert read_csv_manifest(manifest, allow_outside_root=True).records[0].path == secret


@pytest.mark.slow
def test_a_local_study_ray_listens_on_127_0_0_1_without_a_dashboard(study_ray):
    ray = study_ray
    (node,) = ray.nodes()
    assert node["NodeManagerAddress"] == "127.0.0.1"
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert not ray._private.worker.global_worker.node.address_info.get("webui_url")
    ray_ports = listening_ports_of_ray(ray._private.worker.global_worker.node)
    assert ray_ports, "found no listening socket of Ray's processes"
    exposed = {port: host for port, host in ray_ports.items() if host not in LOOPBACK}
    assert not exposed, f"Ray listens beyond 127.0.0.1: {exposed}"


LOOPBACK = {"127.0.0.1", "::1"}


def listening_ports_of_ray(node) -> dict[int, str]:
    """port -> address of every TCP socket that Ray's processes (GCS, raylet, workers, the
    driver) listen on: this process and every process descended from it."""
    inodes = {inode for pid in {os.getpid(), *descendants(os.getpid())} for inode in sockets(pid)}
    ports = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                ports[int(port, 16)] = _address(address)
    return ports


def descendants(root: int) -> set[int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(
                    (entry / "stat").read_text().rsplit(")", 1)[1].split()[1]
                )
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def sockets(pid: int) -> set[str]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> str:
    """The kernel's little-endian hex form of an IPv4 or IPv6 address, as text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)
