"""Scale-out: the cluster files pass Ray's validator, storage every node can reach, GPU requests
that pack, float32 heads under mixed precision, and a study on a real multi-node Ray."""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path

import pandas as pd
import pytest

from core.errors import ConfigError
from tune import cluster
from tune.cluster import (
    image_ray_versions,
    load_cluster_config,
    repo_paths,
    require_shared_storage,
    validate_cluster_config,
)
from tune.gpu import GROWTH_ENV, set_gpu_memory
from tune.resources import Capacity, capacity_of, trial_resources
from tune.run import build_parser, plan_resources, settings_from_args
from tune.run import main as tune_main
from tune.study import STUDY_FILE, StudySettings

REPO = Path(__file__).resolve().parents[2]
CLUSTER_FILES = ("cluster.yaml", "cluster-local.yaml")
HEAD_ONLY = [{"Alive": True, "NodeManagerHostname": "head", "NodeManagerAddress": "10.0.0.1"}]


# ---- the cluster files -------------------------------------------------------------------------


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_cluster_files_pass_rays_own_validator(name: str):
    prepared = validate_cluster_config(load_cluster_config(REPO / name), name)
    assert prepared["head_node_type"] in prepared["available_node_types"]
    assert prepared["docker"]["image"] == f"rayproject/ray:{_installed_ray()}-py311-gpu"


def test_aws_cluster_has_a_cpu_head_and_up_to_eight_gpu_workers_from_zero():
    prepared = validate_cluster_config(load_cluster_config(REPO / "cluster.yaml"))
    types = prepared["available_node_types"]
    head = types[prepared["head_node_type"]]
    assert head["resources"] == {"CPU": 0, "GPU": 0} and head["max_workers"] == 0
    (worker,) = [spec for name, spec in types.items() if name != prepared["head_node_type"]]
    assert worker["node_config"]["InstanceType"] == "g5.xlarge"
    assert worker["resources"] == {"CPU": 4, "GPU": 1}
    assert (worker["min_workers"], worker["max_workers"]) == (0, 8)
    assert prepared["idle_timeout_minutes"] > 0
    assert all("IamInstanceProfile" in spec["node_config"] for spec in types.values())
    text = (REPO / "cluster.yaml").read_text()
    assert not re.search(r"(?i)aws_(secret_)?access_key|AKIA[0-9A-Z]{16}", text)
    assert "--dashboard-host=127.0.0.1" in " ".join(prepared["head_start_ray_commands"])
    assert "security_group" not in prepared["provider"]  # no port beyond Ray's defaults


def test_validator_rejects_an_unknown_key_and_a_wrong_type():
    config = load_cluster_config(REPO / "cluster.yaml")
    with pytest.raises(ConfigError, match="max_wrokers"):
        validate_cluster_config({**config, "max_wrokers": 3})
    with pytest.raises(ConfigError, match=r"cluster config: .*'eight'"):
        validate_cluster_config({**config, "max_workers": "eight"})


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_images_run_the_installed_ray_version(name: str):
    versions = image_ray_versions(load_cluster_config(REPO / name))
    assert versions and set(versions.values()) == {_installed_ray()}


def test_pyproject_pins_the_ray_version_of_the_images():
    from packaging.requirements import Requirement

    project = _pyproject()["project"]
    (ray,) = [Requirement(d) for d in project["dependencies"] if d.startswith("ray")]
    assert ray.specifier.contains(_installed_ray())
    assert not ray.specifier.contains("2.59.0") and not ray.specifier.contains("2.61.0")


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_every_repo_path_the_cluster_files_use_exists(name: str):
    config = load_cluster_config(REPO / name)
    paths = repo_paths(config, REPO)
    assert any(key.startswith("setup_commands") for key in paths)
    for where, path in paths.items():
        assert path.exists(), f"{name}: {where} -> {path} is missing"
        if "pip install" in where or "setup_commands" in where:
            assert (path / "pyproject.toml").is_file(), f"{where}: nothing to pip install"
    extras = _pyproject()["project"]["optional-dependencies"]
    commands = " ".join(" ".join(config.get(key) or []) for key in cluster.COMMAND_KEYS)
    for extra in re.findall(r"fer-tune\[(\w+)\]", commands):
        assert extra in extras, f"{name}: extra [{extra}] is not in pyproject.toml"
    for pattern_file in config.get("rsync_filter", []):
        assert (REPO / pattern_file).is_file()


def test_repo_paths_map_remote_paths_in_commands_back_to_the_repo(tmp_path: Path):
    config = {
        "file_mounts": {"/home/ray/app": ".", "/etc/keys": "/abs/keys"},
        "setup_commands": ["pip install -e '/home/ray/app[gpu]' && cat /home/ray/app/x.txt"],
        "head_setup_commands": ["ls /home/ray/app-other"],
    }
    assert repo_paths(config, tmp_path) == {
        "file_mounts[/home/ray/app]": tmp_path,
        "setup_commands: /home/ray/app": tmp_path,
        "setup_commands: /home/ray/app/x.txt": tmp_path / "x.txt",
    }


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_every_key_of_the_cluster_files_has_a_comment(name: str):
    lines = (REPO / name).read_text().splitlines()
    key = re.compile(r"^\s*(?:- )?(?:[A-Za-z_/][\w./-]*|\"[^\"]+\"):(?:\s|$)")
    uncommented = [
        line.strip()
        for number, line in enumerate(lines)
        if key.match(line) and " # " not in line and not lines[number - 1].lstrip().startswith("#")
    ]
    assert uncommented == []


# ---- resources, capacity, storage --------------------------------------------------------------


def test_trial_resources_take_gpu_fractions_and_whole_gpus_only():
    assert trial_resources(1, 0.25) == {"cpu": 1.0, "gpu": 0.25}
    assert trial_resources(2, 2) == {"cpu": 2.0, "gpu": 2.0}
    assert trial_resources(1, 0) == {"cpu": 1.0, "gpu": 0.0}
    with pytest.raises(ConfigError, match=r"--gpus-per-trial 1\.5"):
        trial_resources(1, 1.5)


def test_capacity_counts_the_gpu_workers_the_autoscaler_may_start():
    prepared = validate_cluster_config(load_cluster_config(REPO / "cluster.yaml"))
    types = {n: s for n, s in prepared["available_node_types"].items() if s["max_workers"] > 0}
    head = {"Alive": True, "Resources": {"CPU": 0.0, "node:__internal_head__": 1.0}}
    assert capacity_of([head], types) == Capacity(cpus=32, gpus=8, largest_gpu_node=1)
    big = {"Alive": True, "Resources": {"CPU": 64.0, "GPU": 16.0}}
    assert capacity_of([head, big], types) == Capacity(cpus=64, gpus=16, largest_gpu_node=16)
    assert capacity_of([head, {**big, "Alive": False}], {}) == Capacity(0, 0, 0)


def test_local_storage_is_refused_when_a_node_is_another_machine(monkeypatch):
    monkeypatch.setattr(cluster, "this_machine", lambda: ("head", "10.0.0.1"))
    nodes = [*HEAD_ONLY, {**HEAD_ONLY[0], "NodeManagerHostname": "w1", "NodeManagerAddress": "b"}]
    with pytest.raises(ConfigError, match=r"/runs .*on other machines \(b\).*shared storage"):
        require_shared_storage("/runs", nodes=nodes, bootstrap="/nonexistent")
    with pytest.raises(ConfigError, match="file:///runs"):
        require_shared_storage("file:///runs", nodes=nodes, bootstrap="/nonexistent")
    require_shared_storage("s3://bucket/runs", nodes=nodes, bootstrap="/nonexistent")
    require_shared_storage("/mnt/nfs/runs", shared=True, nodes=nodes, bootstrap="/nonexistent")
    require_shared_storage("/runs", nodes=HEAD_ONLY, bootstrap="/nonexistent")
    dead = {**nodes[1], "Alive": False}
    require_shared_storage("/runs", nodes=[*HEAD_ONLY, dead], bootstrap="/nonexistent")


@pytest.mark.parametrize("name", CLUSTER_FILES)
def test_local_storage_is_refused_on_a_head_whose_cluster_adds_nodes(
    name: str, monkeypatch, tmp_path: Path
):
    import yaml

    monkeypatch.setattr(cluster, "this_machine", lambda: ("head", "10.0.0.1"))
    bootstrap = tmp_path / "ray_bootstrap_config.yaml"  # what `ray up` leaves on the head
    prepared = validate_cluster_config(load_cluster_config(REPO / name))
    bootstrap.write_text(yaml.safe_dump(prepared))
    with pytest.raises(ConfigError, match="adds nodes on demand"):
        require_shared_storage("/runs", nodes=HEAD_ONLY, bootstrap=bootstrap)
    require_shared_storage("s3://bucket/runs", nodes=HEAD_ONLY, bootstrap=bootstrap)


# ---- resume from a URI -------------------------------------------------------------------------


def test_study_settings_load_from_a_storage_uri(tmp_path: Path):
    settings = StudySettings(space="tiny", name="s", storage=f"file://{tmp_path}", seed=3)
    settings.save(tmp_path / "s")
    assert StudySettings.load(f"file://{tmp_path}/s") == settings
    with pytest.raises(ConfigError, match=re.escape(f"file://{tmp_path}/none holds no study")):
        StudySettings.load(f"file://{tmp_path}/none")
    (tmp_path / "s" / STUDY_FILE).write_text("{not json")
    with pytest.raises(ConfigError, match="is damaged"):
        StudySettings.load(f"file://{tmp_path}/s")


def test_resume_from_a_uri_without_a_study_fails_in_one_line(tmp_path: Path, capsys):
    code = tune_main(["--resume", "--name", "gone", "--storage", f"file://{tmp_path}"])
    error = capsys.readouterr().err.strip()
    assert code == 2
    assert error == (
        f"error: --resume: file://{tmp_path}/gone holds no study ({STUDY_FILE} is missing)"
    )


# ---- GPU settings ------------------------------------------------------------------------------


class FakeTfConfig:
    """Records what set_gpu_memory asks of tf.config."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.experimental = self

    def set_memory_growth(self, gpu, on: bool) -> None:
        self.calls.append(("growth", gpu, on))

    def set_logical_device_configuration(self, gpu, devices) -> None:
        self.calls.append(("logical", gpu, [d.memory_limit for d in devices]))

    class LogicalDeviceConfiguration:
        def __init__(self, memory_limit: int) -> None:
            self.memory_limit = memory_limit


def test_every_gpu_grows_its_memory_and_a_cap_bounds_each(monkeypatch):
    monkeypatch.setenv(GROWTH_ENV, "unset")  # restored after the test
    fake = FakeTfConfig()
    set_gpu_memory(fake, ["gpu0", "gpu1"], None)
    assert fake.calls == [("growth", "gpu0", True), ("growth", "gpu1", True)]
    assert os.environ[GROWTH_ENV] == "unset"
    fake = FakeTfConfig()
    set_gpu_memory(fake, ["gpu0"], 3000)
    assert fake.calls == [("logical", "gpu0", [3000])]
    assert os.environ[GROWTH_ENV] == "true"  # growth within the cap


def test_a_reused_worker_sets_its_gpus_up_once(monkeypatch):
    import tune.gpu

    calls = []
    monkeypatch.setattr(tune.gpu, "_configured", None)
    monkeypatch.setattr(tune.gpu, "_configure_gpu", lambda config: calls.append(config) or "cpu")
    # TensorFlow would refuse the second setup ("Physical devices cannot be modified ...").
    assert tune.gpu.configure_gpu({"gpu_memory_mb": 3000}) == "cpu"
    assert tune.gpu.configure_gpu({"gpu_memory_mb": 3000}) == "cpu"
    assert calls == [{"gpu_memory_mb": 3000}]


def test_mixed_precision_keeps_both_heads_in_float32():
    import keras
    import numpy as np

    from core.config import AUHead, ModelConfig
    from core.model.builders import build_model

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(ModelConfig(input_size=32, alpha=0.25), AUHead(4))
        outputs = model.predict(np.zeros((2, 32, 32, 1), "float32"), verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("dense_2").compute_dtype == "float16"
    assert {model.get_layer(n).compute_dtype for n in ("emotion", "au")} == {"float32"}
    assert {str(v.dtype) for v in outputs.values()} == {"float32"}
    assert np.allclose(outputs["emotion"].sum(axis=1), 1.0, atol=1e-5)


# ---- Ray packs fractional GPU trials (a fake GPU resource) -------------------------------------


def _hold_until_peers(config: dict) -> None:
    """A stand-in trial: waits until `peers` trials started (or 60 s), then reports its span."""
    from ray import tune

    from tune.gpu import hide_unassigned_gpus

    hidden = hide_unassigned_gpus()
    started = time.time()
    folder = Path(config["folder"])
    (folder / tune.get_context().get_trial_id()).touch()
    while len(list(folder.iterdir())) < config["peers"] and time.time() < started + 60:
        time.sleep(0.1)
    time.sleep(1.0)  # room for a trial Ray should not have started
    cuda = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    tune.report({"start": started, "end": time.time(), "cuda": cuda, "hidden": hidden})


def _most_at_once(rows: list[dict]) -> int:
    events = sorted([(r["end"], -1) for r in rows] + [(r["start"], 1) for r in rows])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


@pytest.fixture(scope="class")
def fake_gpu_ray():
    import ray

    assert not ray.is_initialized()
    ray.init(
        address="local",  # its own, never another test worker's
        num_cpus=4,
        num_gpus=1,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        log_to_driver=False,
    )
    yield
    ray.shutdown()


@pytest.mark.slow
@pytest.mark.usefixtures("fake_gpu_ray")
class TestGpuPacking:
    @pytest.mark.parametrize(("gpus", "expected"), [(1, 1), (0.5, 2), (0.25, 4)])
    def test_fractional_gpu_trials_share_one_gpu(self, gpus, expected, tmp_path: Path):
        args = build_parser().parse_args(["--gpus-per-trial", str(gpus), "--cpus-per-trial", "1"])
        settings = settings_from_args(args)
        settings = plan_resources(settings, args, data=None)  # no GPU-less layout to measure
        assert settings.max_concurrent == expected
        rows = self._run(trial_resources(1, gpus), 2 * expected, expected, tmp_path)
        assert _most_at_once(rows) == expected
        assert {row["cuda"] for row in rows} == {"0"}
        assert not any(row["hidden"] for row in rows)

    def test_cpu_only_trials_see_no_gpu(self, tmp_path: Path):
        rows = self._run(trial_resources(1, 0), 2, 2, tmp_path)
        assert [row["cuda"] for row in rows] == ["", ""]
        assert all(row["hidden"] for row in rows)

    @staticmethod
    def _run(resources: dict, trials: int, peers: int, tmp_path: Path) -> list[dict]:
        from ray import tune

        (tmp_path / "started").mkdir()
        config = {"folder": str(tmp_path / "started"), "peers": peers}
        tuner = tune.Tuner(
            tune.with_resources(_hold_until_peers, resources),
            param_space=config,
            tune_config=tune.TuneConfig(num_samples=trials, max_concurrent_trials=8),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "runs"), verbose=0),
        )
        rows = [result.metrics for result in tuner.fit()]
        assert len(rows) == trials and all("start" in row for row in rows)
        return rows


# ---- a study on a real multi-node Ray (head + 2 workers as separate raylets) -------------------


@pytest.fixture(scope="module")
def three_nodes():
    import ray
    from ray.cluster_utils import Cluster

    assert not ray.is_initialized()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    for _ in range(2):
        nodes.add_node(num_cpus=1)
    nodes.wait_for_nodes()
    yield nodes
    nodes.shutdown()


@pytest.mark.slow
def test_unshared_storage_fails_at_once_with_one_line(
    three_nodes, small_synthetic: Path, tmp_path: Path, monkeypatch, capsys
):
    import ray

    monkeypatch.setattr(cluster, "this_machine", lambda: ("laptop", "10.9.9.9"))
    started = time.perf_counter()
    code = tune_main(
        ["--smoke-test", "--data", str(small_synthetic), "--storage", str(tmp_path)]
        + ["--name", "nope", "--address", three_nodes.address]
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]  # after the data's progress bar
    assert code == 2
    assert error.startswith(f"error: --storage {tmp_path} is a folder on this machine only")
    assert "shared storage" in error and "--shared-storage" in error
    assert time.perf_counter() - started < 30
    assert not (tmp_path / "nope").exists()
    assert not ray.is_initialized()  # the run shut down the connection it opened


@pytest.mark.slow
def test_study_runs_trials_on_several_nodes_keeps_every_file_and_resumes_from_a_uri(
    three_nodes, small_synthetic: Path, tmp_path: Path
):
    """Storage as a URI (file://, read and written through pyarrow as s3:// would be)."""
    import ray

    storage = f"file://{tmp_path}"
    common = ["--storage", storage, "--name", "multi", "--address", three_nodes.address]
    code = tune_main(
        ["--smoke-test", "--data", str(small_synthetic), *common]
        + ["--num-samples", "4", "--max-concurrent", "3"]
    )
    assert code == 0
    assert not ray.is_initialized()  # the run shut down the connection it opened
    study = tmp_path / "multi"
    table = pd.read_csv(study / "results.csv", dtype={"trial_id": str})
    assert len(table) == 4 and set(table["status"]) <= {"met-targets", "pruned", "finished"}
    node_ids = {node.node_id for node in three_nodes.list_all_nodes()}
    assert set(table["node_id"]) <= node_ids
    assert table["node_id"].nunique() >= 2
    for _, row in table.iterrows():
        trial = study / f"trial_{row['trial_id']}"
        progress = pd.read_csv(trial / "progress.csv")
        assert progress["epoch"].tolist() == list(range(1, row["epochs"] + 1))
        assert json.loads((trial / "params.json").read_text())["input_size"] in (32, 48)
        for run in ("train", "validation", "hparams"):
            events = list((trial / "tb" / run).glob("events.out.tfevents.*"))
            assert events and all(e.stat().st_size > 0 for e in events), f"{trial.name}/tb/{run}"
    assert (study / "best" / "model.keras").is_file()
    assert tune_main(["--resume", *common]) == 0  # a finished study: nothing left to run
    resumed = pd.read_csv(study / "results.csv", dtype={"trial_id": str})
    assert sorted(resumed["trial_id"]) == sorted(table["trial_id"])


def _installed_ray() -> str:
    import ray

    return ray.__version__


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    return tomllib.loads((REPO / "pyproject.toml").read_text())
