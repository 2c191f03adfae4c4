"""What a study needs to know about a Ray cluster: its YAML is valid, what it can grow to, and
whether a storage path is one every node can reach.

The shared-storage rule (`require_shared_storage`): a study that joins a cluster (`--address`)
writes results from every node, so its `--storage` must be an object store URI (s3://, gs://, ...)
or a folder every node mounts (NFS: say so with `--shared-storage`). A plain folder (or file://)
is accepted only while every node of the cluster is this machine (several raylets on one host)
and the cluster cannot add nodes on its own (no autoscaling node types on this head).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from core.errors import ConfigError, first_line

# `ray up` copies the prepared cluster config to the head and starts the autoscaler with it.
BOOTSTRAP_CONFIG = Path("~/ray_bootstrap_config.yaml")
COMMAND_KEYS = (
    "initialization_commands",
    "setup_commands",
    "head_setup_commands",
    "worker_setup_commands",
)
# What may follow a mounted folder in a command: a path inside it, up to a quote or shell syntax.
_PATH_TAIL = r"((?:/[^\s'\"\[\];|&]*)?)(?![\w.-])"
_IMAGE_VERSION = re.compile(r":(\d+\.\d+\.\d+)(?:-|$)")


def load_cluster_config(path: str | Path) -> dict[str, Any]:
    """A cluster YAML file as a mapping; unreadable or malformed is a one-line ConfigError."""
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: cannot read a cluster config ({first_line(error)})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a cluster config is a mapping, got {type(config).__name__}")
    return config


def validate_cluster_config(config: Mapping[str, Any], name: str = "cluster config") -> dict:
    """Ray's own offline check, the one `ray up` runs first: defaults filled, schema validated."""
    from .ray_compat import validate_autoscaler_config

    try:
        prepared = validate_autoscaler_config(dict(config))
    except Exception as error:  # jsonschema, ValueError, AssertionError, click's abort ...
        message = getattr(error, "message", None) or first_line(error)
        raise ConfigError(f"{name}: {message}") from None
    return prepared


def image_ray_versions(config: Mapping[str, Any]) -> dict[str, str | None]:
    """The Ray version in the tag of every Docker image the config names (None: no version)."""
    images: dict[str, str] = {}
    docker = config.get("docker") or {}
    for key in ("image", "head_image", "worker_image"):
        if docker.get(key):
            images[f"docker.{key}"] = docker[key]
    for node_type, spec in (config.get("available_node_types") or {}).items():
        for key in ("head_image", "worker_image"):
            image = (spec.get("docker") or {}).get(key)
            if image:
                images[f"available_node_types.{node_type}.docker.{key}"] = image
    return {where: _version_of(image) for where, image in images.items()}


def _version_of(image: str) -> str | None:
    match = _IMAGE_VERSION.search(image)
    return match.group(1) if match else None


def repo_paths(config: Mapping[str, Any], repo: Path) -> dict[str, Path]:
    """Every local path the config relies on: file_mounts sources and, in the commands, remote
    paths under a mounted folder, mapped back to the repo. Keys say where the path appears."""
    mounts = {
        remote.rstrip("/"): repo / local
        for remote, local in (config.get("file_mounts") or {}).items()
        if not Path(local).expanduser().is_absolute()
    }
    found = {f"file_mounts[{remote}]": local for remote, local in mounts.items()}
    for key in COMMAND_KEYS:
        for command in config.get(key) or []:
            for remote, local in mounts.items():
                for rest in re.findall(re.escape(remote) + _PATH_TAIL, command):
                    found[f"{key}: {remote}{rest}"] = local / rest.lstrip("/")
    return found


def autoscaling_node_types(bootstrap: str | Path = BOOTSTRAP_CONFIG) -> dict[str, dict]:
    """Node types the autoscaler may launch (max_workers > 0), read from the config `ray up`
    left on the head; {} when this machine is no such head."""
    path = Path(bootstrap).expanduser()
    if not path.is_file():
        return {}
    types = load_cluster_config(path).get("available_node_types") or {}
    return {name: spec for name, spec in types.items() if spec.get("max_workers", 0) > 0}


def is_node_local(storage: str) -> bool:
    """A folder (or file:// URI) lives on one machine unless the user says it is mounted."""
    return "://" not in storage or storage.startswith("file://")


def other_machines(nodes: Iterable[Mapping[str, Any]], hostname: str, ip: str) -> list[str]:
    """Addresses of the alive nodes that are not this machine (by hostname and by IP)."""
    return sorted(
        {
            node.get("NodeManagerAddress", "?")
            for node in nodes
            if node.get("Alive")
            and node.get("NodeManagerHostname") != hostname
            and node.get("NodeManagerAddress") != ip
        }
    )


def this_machine() -> tuple[str, str]:
    """The driver's hostname and the IP Ray knows this node by."""
    import ray

    return socket.gethostname(), ray.util.get_node_ip_address()


def require_shared_storage(
    storage: str,
    shared: bool = False,
    nodes: Iterable[Mapping[str, Any]] | None = None,
    bootstrap: str | Path = BOOTSTRAP_CONFIG,
) -> None:
    """Refuse, before any trial starts, a storage path other nodes of the cluster cannot see."""
    if shared or not is_node_local(storage):
        return
    import ray

    nodes = ray.nodes() if nodes is None else nodes
    elsewhere = other_machines(nodes, *this_machine())
    advice = (
        "trials on other nodes write there too: use shared storage, an s3:// (or gs://) URI, "
        "or a folder every node mounts (NFS) with --shared-storage"
    )
    if elsewhere:
        raise ConfigError(
            f"--storage {storage} is a folder on this machine only, but the cluster has nodes "
            f"on other machines ({', '.join(elsewhere)}); {advice}"
        )
    growing = autoscaling_node_types(bootstrap)
    if growing:
        raise ConfigError(
            f"--storage {storage} is a folder on this machine only, but the cluster adds nodes "
            f"on demand (node types {', '.join(sorted(growing))}); {advice}"
        )
