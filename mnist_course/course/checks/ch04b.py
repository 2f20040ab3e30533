"""Checkers of chapter 04b (serving): a gRPC client, version routing, the best batching row.

Each tries the learner's code against a real server of this package: the chapter's own
(``target``), or one started here for the exercise and stopped before returning.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mnist_course.course.checks.core import Checker, attempt

P99_LIMIT_MS = 15.0


def _digits(n: int = 3) -> np.ndarray:
    from mnist_course import data

    return data.to_model_input(data.load_mnist().x_test[:n])


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def grpc_client(self, fn: Callable, target: str):
        """``fn(images, target)`` sends one ``PredictRequest`` built from the protos and returns
        the model's output, shape (n, 10)."""
        from mnist_course.serving.client import grpc_predict

        problems = []
        for n in (3, 1):
            images = _digits(n)
            expected, _ = grpc_predict(images, target)
            out, problem = attempt(fn, images, target)
            if problem:
                return self._report("grpc_client", [problem])
            out = np.asarray(out)
            if out.shape != expected.shape:
                problems.append(f"for {n} image(s) expected an output of shape "
                                f"{expected.shape}, got {out.shape}: read the output tensor "
                                "with its shape (tensor_shape.dim) and float values.")
            elif not np.allclose(out, expected, atol=1e-4):
                problems.append(f"for {n} image(s) the outputs differ from the server's: send "
                                "float32 pixels in [0, 1], shaped (n, 28, 28, 1).")
        return self._report("grpc_client", problems)

    def version_routing(self, model_config: str, request_for: Callable, base_path):
        """``model_config`` (ModelServerConfig text) serves versions 1 and 2 of the model at
        ``base_path`` together; ``request_for(images, version)`` is a PredictRequest that
        names ``version`` explicitly."""
        from mnist_course.serving.stack import ServerProcess

        base = Path(base_path).resolve()
        if not model_config or "model_config_list" not in model_config:
            return self._report("version_routing", [
                "write the config as text: model_config_list { config { name: ... } }."])
        images = _digits(2)
        requests = {}
        for version in (1, 2):
            request, problem = attempt(request_for, images, version)
            if problem:
                return self._report("version_routing", [problem])
            requests[version] = request
        # the config and the server's log live in a folder removed when the check ends
        with tempfile.TemporaryDirectory(prefix="mnist-04b-check-") as name:
            folder = Path(name)
            path = folder / "models.config"
            path.write_text(model_config)
            problems = []
            if str(base) not in model_config:
                problems.append(f"base_path should be the chapter's model folder, {base}.")
            try:
                server = ServerProcess([f"--model_config_file={path}",
                                        "--file_system_poll_wait_seconds=0"],
                                       log_path=folder / "server.log").start()
            except RuntimeError as error:  # StartError: the server exited or never got ready
                return self._report("version_routing", [f"the server refused the config: "
                                                        f"{str(error).splitlines()[-1]}"])
            try:
                import grpc
                from tensorflow_serving.apis import prediction_service_pb2_grpc

                with grpc.insecure_channel(server.grpc_target) as channel:
                    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
                    for version, request in requests.items():
                        try:
                            response = stub.Predict(request, timeout=10)
                        except grpc.RpcError as error:
                            problems.append(f"version {version}: {error.code().name}: "
                                            f"{error.details()} (does the version policy load "
                                            f"both versions?)")
                            continue
                        if response.model_spec.version.value != version:
                            problems.append(f"asked for version {version}, version "
                                            f"{response.model_spec.version.value} answered: set "
                                            "model_spec.version.value.")
            finally:
                server.stop()
            return self._report("version_routing", problems)

    def best_batching(self, fn: Callable, rows: list[dict]):
        """``fn(rows)`` returns the row with the most requests/s among those whose p99 is under
        15 ms, or None when no row qualifies."""

        def right(table):
            ok = [r for r in table if r["p99_ms"] < P99_LIMIT_MS]
            return max(ok, key=lambda r: r["rps"]) if ok else None

        made_up = [{"config": "a", "rps": 900.0, "p99_ms": 4.0},
                   {"config": "b", "rps": 2500.0, "p99_ms": 15.0},
                   {"config": "c", "rps": 1800.0, "p99_ms": 14.9},
                   {"config": "d", "rps": 3000.0, "p99_ms": 40.0}]
        cases = [("your sweep", list(rows)), ("a made-up sweep", made_up),
                 ("a sweep where nothing qualifies", made_up[1:2] + made_up[3:])]
        problems = []
        for name, table in cases:
            got, problem = attempt(fn, [dict(r) for r in table])
            if problem:
                return self._report("best_batching", [problem])
            want = right(table)
            if (got is None) != (want is None) or (want is not None and
                                                   got.get("config") != want["config"]):
                problems.append(f"on {name}: expected {want and want['config']!r}, got "
                                f"{got and got.get('config')!r} (p99 must be strictly under "
                                f"{P99_LIMIT_MS:g} ms; then the most requests/s).")
        return self._report("best_batching", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
