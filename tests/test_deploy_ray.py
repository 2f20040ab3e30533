"""deploy/ray/cluster.yaml, checked offline: Ray's own cluster-config schema, the flags of its
`ray start` commands as Ray's CLI parses them, and agreement with chapter 02 and the
requirements. It is never brought up here (no SSH targets); deploy/README.md says so."""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import pytest
import yaml

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[tune]')")
jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parents[1]
CLUSTER = ROOT / "deploy" / "ray" / "cluster.yaml"


def _config() -> dict:
    return yaml.safe_load(CLUSTER.read_text())


def _ray_start_args(command: str) -> list[str]:
    words = shlex.split(command)
    while "=" in words[0]:  # environment assignments before the program
        words.pop(0)
    assert words[0].endswith("ray") and words[1] == "start", command
    return words[2:]


def test_the_cluster_config_passes_rays_schema_and_the_schema_bites():
    from ray.autoscaler._private.util import validate_config

    validate_config(_config())
    broken = copy.deepcopy(_config())
    broken["head_node_typo"] = "head"
    with pytest.raises(jsonschema.ValidationError):
        validate_config(broken)


def test_every_ray_start_command_parses_as_rays_cli_and_uses_token_auth():
    from ray.scripts.scripts import start

    config = _config()
    commands = [c for key in ("head_start_ray_commands", "worker_start_ray_commands")
                for c in config[key] if " start " in c]
    assert len(commands) == 2
    for command in commands:
        args = _ray_start_args(command.replace("$RAY_HEAD_IP", "10.0.0.10"))
        context = start.make_context("ray start", args)  # raises on an unknown flag
        assert context.params["disable_usage_stats"], command
        assert command.startswith("RAY_AUTH_MODE=token "), command
    head, worker = commands
    head_port = start.make_context("ray start", _ray_start_args(head)).params["port"]
    assert f"--address=$RAY_HEAD_IP:{head_port}" in worker
    assert "~/.ray/auth_token" in config["file_mounts"]


def test_the_listed_machines_are_the_cluster_and_trials_go_to_workers():
    config = _config()
    types = config["available_node_types"]
    workers = config["provider"]["worker_ips"]
    assert config["head_node_type"] in types
    assert sum(t.get("min_workers", 0) for t in types.values()) == len(workers)
    assert config["max_workers"] == len(workers)
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}


def test_the_cluster_agrees_with_chapter_02_and_the_requirements():
    config = _config()
    head = next(c for c in config["head_start_ray_commands"] if " start " in c)
    port = re.search(r"--port=(\d+)", head).group(1)
    chapter = (ROOT / "chapters" / "02_bayesian_tuning.py").read_text()
    assert f"RAY_ADDRESS=HEAD:{port}" in chapter
    assert "deploy/ray/" in chapter
    setup = " ".join(config["setup_commands"])
    assert "-r requirements.txt" in setup and "-e ." in setup
    assert re.search(r"^ray\[tune\]", (ROOT / "requirements.txt").read_text(), re.M)
