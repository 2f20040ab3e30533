"""Chapter 02's search on a real multi-node Ray cluster: two ``ray start`` nodes on this
machine (separate processes, each with its own temporary folder, one CPU each), joined by
address through ``RAY_ADDRESS`` exactly as a reader joins a real cluster, a small Hyperopt
search through Ray Tune whose trials must run on both nodes, and nothing left behind."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'ray[tune]')")

START_TIMEOUT_S = 300  # a loaded 2-core machine takes tens of seconds per node
START_ATTEMPTS = 3

# Kills a node's whole process group once the test process is gone, however it went (also
# SIGKILL): `ray start --block` does not take its raylet's agents down with it.
WATCHDOG = """
import os, signal, sys, time
parent, group = int(sys.argv[1]), int(sys.argv[2])
while os.getppid() == parent:
    time.sleep(0.5)
try:
    os.killpg(group, signal.SIGKILL)
except ProcessLookupError:
    pass
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _group_alive(group: int) -> bool:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":  # pgrp, state
                return True
    return False


class Node:
    """One ``ray start --block`` process, in a process group of its own, with a watchdog."""

    def __init__(self, args: list[str], temp_dir: Path, env: dict, log: Path):
        self.args, self.temp_dir, self.env, self.log = args, temp_dir, env, log
        self.attempts = 0
        self.start()

    def start(self) -> None:
        ray_cli = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
        self.attempts += 1
        self.process = subprocess.Popen(
            [ray_cli, "start", "--block", "--num-cpus=1", "--disable-usage-stats",
             f"--temp-dir={self.temp_dir}", *self.args],
            stdout=self.log.open("a"), stderr=subprocess.STDOUT, env=self.env,
            start_new_session=True)
        self.watchdog = subprocess.Popen(
            [sys.executable, "-c", WATCHDOG, str(os.getpid()), str(self.process.pid)])

    def stop(self) -> None:
        group = self.process.pid
        for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while _group_alive(group) and time.monotonic() < deadline:
                time.sleep(0.2)
        self.process.wait(10)
        self.watchdog.kill()
        self.watchdog.wait(10)


def _wait_for_nodes(address: str, n: int, env: dict, nodes: list[Node]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for node in nodes:
            if node.process.poll() is not None:
                # Ray gives a node 30 s to register, which a loaded machine can miss
                if node.attempts >= START_ATTEMPTS:
                    pytest.fail(f"a Ray node exited ({node.process.returncode}) "
                                f"{node.attempts} times; its log, {node.log}:\n"
                                f"{node.log.read_text()[-3000:]}")
                node.stop()
                node.start()
        try:
            probe = subprocess.run(
                [sys.executable, "-c", "import ray, sys; ray.init(address=sys.argv[1], "
                 "log_to_driver=False, logging_level='ERROR'); "
                 "print(sum(n['Alive'] for n in ray.nodes()))", address],
                capture_output=True, text=True, env=env, timeout=60)
        except subprocess.TimeoutExpired:
            continue
        if probe.returncode == 0 and probe.stdout.strip().splitlines()[-1:] == [str(n)]:
            return
        time.sleep(2)
    logs = "\n".join(f"{node.log}:\n{node.log.read_text()[-2000:]}" for node in nodes)
    pytest.fail(f"{n} Ray node(s) did not come up within {START_TIMEOUT_S} s at {address}\n"
                + logs)


# The reader's side, as its own process (Ray reads RAY_AUTH_MODE once per process): join the
# cluster through RAY_ADDRESS with chapter 02's tuning.ray_init, run a small Hyperopt search
# through Ray Tune, and say where every trial ran.
DRIVER = """
import json, math, sys, time
import ray
from ray import tune
from ray.tune.search.hyperopt import HyperOptSearch
from mnist_course import tuning

said = tuning.ray_init(sys.argv[1])

def trainable(params):
    cfg = tuning.config(params)
    time.sleep(3)  # long enough for two trials to overlap
    tune.report({"val_loss": abs(math.log10(cfg["lr"]) + 3),
                 "node": ray.get_runtime_context().get_node_id()})

try:
    results = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 1}),
        tune_config=tune.TuneConfig(
            search_alg=HyperOptSearch(tuning.search_space(), metric="val_loss", mode="min",
                                      random_state_seed=0, n_initial_points=2),
            num_samples=4, max_concurrent_trials=2),
        run_config=tune.RunConfig(storage_path=sys.argv[2], verbose=0),
    ).fit()
    alive = sorted(n["NodeID"] for n in ray.nodes() if n["Alive"])
finally:
    ray.shutdown()
print(json.dumps({"said": said, "trials": len(results), "errors": len(results.errors),
                  "used": sorted({r.metrics["node"] for r in results}), "alive": alive}))
"""


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _processes_with(marker: str) -> list[int]:
    """Processes whose environment carries ``marker`` (every process of this cluster)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_a_search_by_address_runs_its_trials_on_both_nodes():
    from ray._private.authentication.authentication_token_generator import (
        generate_new_authentication_token,
    )

    # A short folder: Ray's Unix socket paths inside it must stay under 108 bytes.
    tmp_path = Path(tempfile.mkdtemp(prefix="r"))
    # Token authentication, as on a real cluster: one token for both nodes and the driver,
    # in a file under the test's folder (nothing written to ~/.ray).
    token = tmp_path / "auth_token"
    token.write_text(generate_new_authentication_token())
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token),
               RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    marker = f"RAY_AUTH_TOKEN_PATH={token}"
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes: list[Node] = []
    try:
        nodes.append(Node(["--head", f"--port={port}", "--include-dashboard=false"],
                          tmp_path / "h", env, tmp_path / "head.log"))
        _wait_for_nodes(address, 1, env, nodes)
        nodes.append(Node([f"--address={address}"], tmp_path / "w", env,
                          tmp_path / "worker.log"))
        _wait_for_nodes(address, 2, env, nodes)
        driver = subprocess.run(
            [sys.executable, "-c", DRIVER, str(tmp_path / "local"), str(tmp_path / "results")],
            capture_output=True, text=True, env=dict(env, RAY_ADDRESS=address),
            timeout=600, preexec_fn=_die_with_parent)
        assert driver.returncode == 0, driver.stderr[-3000:]
        report = json.loads(driver.stdout.strip().splitlines()[-1])
    finally:
        for node in reversed(nodes):
            node.stop()
    assert "joined the cluster" in report["said"] and "2 node(s)" in report["said"], report
    assert not (tmp_path / "local").exists()  # a driver that joins starts no Ray of its own
    assert report["trials"] == 4 and report["errors"] == 0, report
    assert report["used"] == report["alive"] and len(report["used"]) == 2, report
    # Nothing left behind: the raylets' workers exit once their raylet is gone.
    deadline = time.monotonic() + 30
    while _processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = _processes_with(marker)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert not left, f"Ray processes outlived the cluster: {left}"
    shutil.rmtree(tmp_path)
    assert not tmp_path.exists()
