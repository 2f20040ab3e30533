"""Integration: 2 replicas behind real nginx, scraped by real Prometheus; a version rolled out
and rolled back under load with no failed request; everything stopped afterwards."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_course.serving.client import grpc_predict, rest
from mnist_course.serving.loadtest import digits_requests, run_load
from mnist_course.serving.stack import Stack, nginx_config, prometheus_config
from tests.conftest import needs_program, publish, rest_text


@pytest.fixture(scope="module")
def stack(model_store, tmp_path_factory):
    needs_program("nginx")
    needs_program("prometheus")
    base = tmp_path_factory.mktemp("stack") / "models" / "mnist"
    publish(model_store, base, 1)
    stack = Stack(base, replicas=2, poll_seconds=0.2, scrape_interval="1s")
    with stack:
        yield stack
    assert not stack.running()


def _stat(pid: int | str) -> list[str]:
    """Fields of /proc/PID/stat after the command name: state, parent, group, ...; [] if gone."""
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"  # a zombie has exited


def _processes(field: int, value: int) -> list[int]:
    """PIDs whose stat field ``field`` (1: parent, 2: process group) equals ``value``."""
    return [int(p.name) for p in Path("/proc").iterdir()
            if p.name.isdigit() and (_stat(p.name)[field:field + 1] or [None])[0] == str(value)]


def test_requests_reach_both_replicas_through_nginx(stack):
    assert set(stack.running()) == {"replica-0", "replica-1", "nginx", "prometheus"}
    images = np.zeros((2, 28, 28, 1), np.float32)
    for _ in range(20):
        logits, version = grpc_predict(images, stack.grpc_target)
        assert logits.shape == (2, 10) and version == 1
    assert rest("/v1/models/mnist", url=stack.rest_url)[0] == 200  # REST through nginx too
    per_replica = []
    for _, rest_port in stack.replica_ports:
        text = rest_text(f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics")
        line = next(x for x in text.splitlines()
                    if x.startswith(':tensorflow:serving:request_count{model_name="mnist",'
                                    'status="OK"}'))
        per_replica.append(float(line.split()[-1]))
    assert all(count >= 5 for count in per_replica), per_replica  # round robin


def test_prometheus_scrapes_every_replica(stack):
    stack.wait_for_scrape()
    deadline = time.monotonic() + 15
    while True:
        result = stack.query('sum by (instance) (:tensorflow:serving:request_count'
                             '{status="OK"})')
        if len(result) == 2 and all(float(r["value"][1]) >= 5 for r in result):
            break
        assert time.monotonic() < deadline, result
        time.sleep(0.5)
    assert {r["metric"]["instance"] for r in result} == \
        {f"127.0.0.1:{rest_port}" for _, rest_port in stack.replica_ports}


def test_rollout_and_rollback_under_load_fail_no_request(stack, model_store):
    base = stack.model_base_path
    requests = digits_requests(count=8)

    async def under_load(change):
        load = asyncio.ensure_future(run_load(stack.grpc_target, requests, concurrency=8,
                                              duration=6, record_versions=True, timeout=10))
        await asyncio.sleep(1.5)
        change()
        return await load

    report = asyncio.run(under_load(lambda: publish(model_store, base, 2)))
    assert not report.errors and len(report.latencies_ms) > 500, report.summary()
    assert set(report.versions[:50]) == {1} and set(report.versions[-50:]) == {2}
    report = asyncio.run(under_load(lambda: (base / "2").rename(base / ".2-rolled-back")))
    assert not report.errors and len(report.latencies_ms) > 500, report.summary()
    assert set(report.versions[:50]) == {2} and set(report.versions[-50:]) == {1}
    loaded = stack.query(":mnist_course:serving:version_loaded")
    assert {(r["metric"]["version"], r["value"][1]) for r in loaded} >= {("1", "1")}


def test_stop_leaves_no_process(model_store, tmp_path):
    needs_program("nginx")
    base = tmp_path / "models" / "mnist"
    publish(model_store, base, 1)
    with Stack(base, replicas=1, prometheus=False) as stack:
        pids = list(stack.running().values())
        workdir = stack.workdir
        members = [pid for group in pids for pid in _processes(2, group)]
        assert len(members) >= len(pids)
    assert not any(_alive(pid) for pid in members) and not workdir.exists()


def test_configs_pass_their_own_checkers(tmp_path):
    nginx = needs_program("nginx")
    promtool = needs_program("promtool")
    import subprocess

    (tmp_path / "nginx-tmp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_config(9000, 9001, [(9100, 9101), (9200, 9201)], tmp_path))
    check = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf),
                            "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    (tmp_path / "prometheus.yml").write_text(prometheus_config([9101, 9201]))
    check = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


def _stack_command(model_store, tmp_path, **popen):
    """``python -m mnist_course.serving.stack`` with one replica, started and ready; returns
    the process and its gRPC target."""
    import subprocess
    import sys

    needs_program("nginx")
    needs_program("prometheus")
    base = tmp_path / "models" / "mnist"
    publish(model_store, base, 1)
    command = subprocess.Popen([sys.executable, "-m", "mnist_course.serving.stack",
                                f"--model_base_path={base}", "--replicas=1"],
                               stdout=subprocess.PIPE, text=True, **popen)
    for line in command.stdout:
        if line.startswith("export TF_SERVING_GRPC="):
            return command, line.split()[1].split("=")[1]
    raise AssertionError(f"the stack command exited with {command.wait()} before it was ready")


def test_stack_command_stops_everything_on_ctrl_c(model_store, tmp_path):
    import signal

    # started as a shell starts a background job: SIGINT ignored, which Python then keeps
    command, target = _stack_command(
        model_store, tmp_path,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        assert grpc_predict(np.zeros((1, 28, 28, 1), np.float32), target)[1] == 1
        children = _processes(1, command.pid)
        assert len(children) == 3  # the replica, nginx and Prometheus
        command.send_signal(signal.SIGINT)
        assert command.wait(30) == 0
        assert not any(_alive(pid) for pid in children)
    finally:
        if command.poll() is None:  # a failed test still stops the stack (SIGTERM)
            command.terminate()
            command.wait(30)


def test_a_killed_stack_command_leaves_no_process(model_store, tmp_path):
    """SIGKILL gives the command no chance to clean up: its parts must die with it."""
    command, _ = _stack_command(model_store, tmp_path)
    try:
        children = _processes(1, command.pid)
        members = [pid for group in children for pid in _processes(2, group)]
        assert len(children) == 3 and len(members) >= 3
        command.kill()
        command.wait(10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in members) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [pid for pid in members if _alive(pid)], "processes outlived the command"
    finally:
        if command.poll() is None:
            command.kill()


def test_cells_needing_missing_programs_are_skipped_with_one_line(monkeypatch, tmp_path, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    from mnist_course.serving import stack as stack_module

    monkeypatch.setattr(stack_module, "SEARCH_PATH", str(tmp_path))  # nothing installed
    monkeypatch.delenv("CI", raising=False)
    shell = InteractiveShell.instance()
    try:
        missing = stack_module.skip_cells_needing_missing_programs(("nginx", "prometheus"))
        assert missing == ["nginx", "prometheus"]
        assert "sudo apt-get install nginx prometheus" in capsys.readouterr().out
        shell.run_cell("# needs: nginx prometheus\nran = 'yes'\nraise RuntimeError('ran')")
        assert "skipped: this cell needs ['nginx', 'prometheus']" in capsys.readouterr().out
        assert "ran" not in shell.user_ns
        shell.run_cell("other = 1")  # unmarked cells still run
        assert shell.user_ns["other"] == 1
        monkeypatch.setenv("CI", "true")  # in CI a missing program is an error, as in tests/
        with pytest.raises(FileNotFoundError, match="not installed"):
            stack_module.skip_cells_needing_missing_programs(("nginx",))
    finally:
        shell.input_transformers_cleanup[:] = [
            t for t in shell.input_transformers_cleanup
            if getattr(t, "__name__", None) != "skip_cell"]
        InteractiveShell.clear_instance()


def test_nothing_changes_when_the_programs_are_there(monkeypatch):
    from mnist_course.serving import stack as stack_module

    monkeypatch.setattr(stack_module.shutil, "which", lambda name, path=None: f"/bin/{name}")
    assert stack_module.skip_cells_needing_missing_programs() == []
