"""Fixtures shared by the serving tests: a model repository and a running server."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest


def needs_program(name: str) -> str:
    """The program's path; skipped where it is missing, except in CI, which installs it."""
    from mnist_course.serving.stack import find_program

    try:
        return find_program(name)
    except FileNotFoundError as error:
        if os.environ.get("CI"):
            pytest.fail(f"{error} (.ci/run installs it)")
        pytest.skip(str(error))


def rest_text(url: str) -> str:
    """The body of a GET, as text (a metrics page, say)."""
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


@pytest.fixture(scope="session")
def model_store(tmp_path_factory) -> Path:
    """Two versions of a small MNIST model, exported once (with the ``canvas`` signature
    beside ``serving_default``), to copy into repositories."""
    from mnist_course.canvas import export_saved_model
    from mnist_course.course.profile import seed_everything
    from mnist_course.models import lenet5

    store = tmp_path_factory.mktemp("store")
    import keras

    for version in (1, 2):
        keras.backend.clear_session()  # same tensor names, so the same signature keys
        seed_everything(version)
        export_saved_model(lenet5(), store, "mnist", version)
    return store / "mnist"


def publish(store: Path, base: Path, version: int) -> Path:
    """Copy a version into ``base`` the atomic way: a hidden copy, then a rename."""
    base.mkdir(parents=True, exist_ok=True)
    staging = base / f".{version}-copy"
    shutil.copytree(store / str(version), staging)
    staging.rename(base / str(version))
    return base / str(version)


@pytest.fixture(scope="module")
def server(model_store, tmp_path_factory):
    """A ``python -m mnist_course.serving`` process with version 1, batching and metrics on."""
    from mnist_course.serving.stack import ServerProcess

    work = tmp_path_factory.mktemp("server")
    base = work / "models" / "mnist"
    publish(model_store, base, 1)
    (work / "monitoring.config").write_text(
        'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n')
    (work / "batching.config").write_text(
        "max_batch_size { value: 16 }\nbatch_timeout_micros { value: 500 }\n")
    process = ServerProcess([
        "--model_name=mnist", f"--model_base_path={base}", "--enable_batching",
        f"--batching_parameters_file={work / 'batching.config'}",
        f"--monitoring_config_file={work / 'monitoring.config'}",
        "--file_system_poll_wait_seconds=0.2"], log_path=work / "server.log").start()
    yield {"grpc": process.grpc_target, "rest": process.rest_url, "base": base,
           "process": process.process, "store": model_store, "log": work / "server.log"}
    assert process.stop() == 0, "the server did not shut down cleanly on SIGTERM"
