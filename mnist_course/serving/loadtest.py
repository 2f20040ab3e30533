"""A bounded, loopback-only gRPC load generator for TF Serving's ``Predict``.

Closed loop (``concurrency`` requests always in flight) or open loop (``rate`` requests per
second, latency counted from each request's scheduled start, so a stalled server cannot hide
its queue). Requests are serialised once, up front; responses are timed, and parsed only for the
answering version. Every run stops at ``duration`` seconds or ``requests`` requests, whichever
comes first, and refuses any target that is not this machine.

    python -m mnist_course.serving.loadtest --target 127.0.0.1:8500 --model mnist \\
        --concurrency 32 --duration 10 --histogram latency.png

``--engine h2load`` sends the same requests with nghttp2's ``h2load`` instead (Debian's
``nghttp2-client``), a C load generator the course did not write, which costs a small share
of the CPU: see :func:`run_h2load`.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

PREDICT = "/tensorflow.serving.PredictionService/Predict"
MAX_DURATION_S = 600.0
MAX_REQUESTS = 10_000_000
MAX_CONCURRENCY = 1024


def require_loopback(target: str) -> None:
    """Refuse a target that resolves to anything but this machine."""
    host = target.rsplit(":", 1)[0].strip("[]")
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror as error:
        raise ValueError(f"cannot resolve {host!r}: {error}") from None
    if not all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addresses):
        raise ValueError(f"the load generator only targets this machine (loopback); "
                         f"{target} resolves to {sorted(addresses)}")


@dataclass
class LoadReport:
    """What a run achieved: throughput, latency quantiles, errors, versions over time."""

    target: str
    seconds: float
    latencies_ms: np.ndarray
    errors: Counter = field(default_factory=Counter)
    starts_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    versions: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    #: timed responses that were failures all the same (h2load sees HTTP 200 for a gRPC error,
    #: whose status rides in the trailers; the server's metrics say how many failed)
    failed_in_timed: int = 0
    engine: str = "python"

    @property
    def ok(self) -> int:
        return len(self.latencies_ms) - self.failed_in_timed

    @property
    def requests(self) -> int:
        return self.ok + sum(self.errors.values())

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if not len(self.latencies_ms):
            return float("nan")
        return float(np.percentile(self.latencies_ms, q))

    def summary(self) -> dict:
        return {"engine": self.engine, "target": self.target, "requests": self.requests,
                "ok": self.ok,
                "errors": dict(self.errors), "seconds": round(self.seconds, 2),
                "rps": round(self.rps, 1),
                **{f"p{q}_ms": round(self.quantile(q), 2) for q in (50, 95, 99)},
                "max_ms": round(float(self.latencies_ms.max()), 2) if len(self.latencies_ms)
                else float("nan")}

    def plot(self, ax=None, title: str = ""):
        """Latency histogram (log scale) with p50/p99 marked."""
        import matplotlib.pyplot as plt

        ax = ax or plt.subplots(figsize=(6, 3.2))[1]
        lat = self.latencies_ms[self.latencies_ms > 0]
        bins = np.geomspace(max(lat.min(), 0.05), lat.max() * 1.05, 60)
        ax.hist(lat, bins=bins, color="tab:blue", alpha=0.8)
        ax.set_xscale("log")
        for q, style in ((50, "--"), (99, "-")):
            ax.axvline(self.quantile(q), color="k", ls=style, lw=1,
                       label=f"p{q} {self.quantile(q):.2f} ms")
        ax.set(xlabel="latency (ms)", ylabel="requests",
               title=title or f"{self.rps:,.0f} req/s, {sum(self.errors.values())} errors")
        ax.legend()
        return ax


def digits_requests(model: str = "mnist", images: int = 1, count: int = 64,
                    **spec) -> list[bytes]:
    """``count`` serialised ``PredictRequest``s of real test digits, ``images`` each."""
    from mnist_course.data import load_mnist
    from mnist_course.serving.client import predict_request

    x = load_mnist().x_test
    x = (x[: count * images].astype(np.float32) / 255.0)[..., None]
    return [predict_request(x[i * images:(i + 1) * images], model=model, **spec)
            .SerializeToString() for i in range(count)]


async def run_load(target: str, requests: list[bytes], *, concurrency: int = 32,
                   rate: float | None = None, duration: float = 10.0,
                   max_requests: int | None = None, timeout: float = 5.0,
                   record_versions: bool = False, warmup: float = 0.0,
                   method: str = PREDICT) -> LoadReport:
    """Send ``requests`` (cycled) to ``target`` and measure; see the module's docstring.

    ``warmup`` seconds of closed-loop requests go first and are not counted: connections to
    every replica behind a balancer open, and each model's first call is paid, before timing.
    """
    import grpc

    require_loopback(target)
    if not 0 < duration <= MAX_DURATION_S:
        raise ValueError(f"duration must lie in (0, {MAX_DURATION_S}] seconds")
    if not 0 < concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must lie in [1, {MAX_CONCURRENCY}]")
    limit = min(max_requests or MAX_REQUESTS, MAX_REQUESTS)
    latencies, starts, versions, errors = [], [], [], Counter()
    if record_versions:
        from tensorflow_serving.apis import predict_pb2

    channel = grpc.aio.insecure_channel(target)
    lost = 0  # open loop: calls that never came back (see below)
    try:
        call = channel.unary_unary(method)
        await asyncio.wait_for(channel.channel_ready(), timeout)
        if warmup > 0:
            warm_end = time.perf_counter() + min(warmup, MAX_DURATION_S)

            async def warm() -> None:
                while time.perf_counter() < warm_end:
                    try:
                        await call(requests[0], timeout=timeout)
                    except grpc.aio.AioRpcError:
                        pass
            await asyncio.gather(*(warm() for _ in range(concurrency)))
        t0 = time.perf_counter()
        end = t0 + duration
        sent = 0

        async def one(index: int, scheduled: float) -> None:
            try:
                reply = await call(requests[index % len(requests)], timeout=timeout)
            except grpc.aio.AioRpcError as error:
                errors[error.code().name] += 1
                return
            now = time.perf_counter()
            latencies.append((now - scheduled) * 1e3)
            starts.append(scheduled - t0)
            if record_versions:
                versions.append(predict_pb2.PredictResponse.FromString(reply)
                                .model_spec.version.value)

        if rate is None:
            async def worker() -> None:
                nonlocal sent
                while sent < limit and time.perf_counter() < end:
                    sent += 1
                    await one(sent, time.perf_counter())
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        else:
            slots = asyncio.Semaphore(concurrency)
            tasks = set()

            async def limited(index: int, scheduled: float) -> None:
                async with slots:
                    await one(index, scheduled)

            while sent < limit:
                scheduled = t0 + sent / rate
                if scheduled >= end:
                    break
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(limited(sent, scheduled))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
            # Under overload grpc.aio can lose a call whose deadline has passed: it never
            # returns, and cancelling it, or closing the channel, can then block the event
            # loop for good. So wait without cancelling, count what is still out as
            # DEADLINE_EXCEEDED, and leave the channel open (run_in_child ends the process).
            if tasks:
                _, out = await asyncio.wait(set(tasks), timeout=max(
                    end + timeout + 1 - time.perf_counter(), 0.1))
                lost = len(out)
                if lost:
                    errors["DEADLINE_EXCEEDED"] += lost
        seconds = time.perf_counter() - t0
    finally:
        if not lost:
            await channel.close()
    return LoadReport(target, seconds, np.asarray(latencies), errors, np.asarray(starts),
                      np.asarray(versions, int))


def grpc_status_counts(metrics_urls: list[str]) -> Counter:
    """Requests by gRPC status, summed over servers' Prometheus endpoints (TF Serving's
    ``:tensorflow:serving:request_count``), parsed as Prometheus parses them."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    counts: Counter = Counter()
    for url in metrics_urls:
        with urllib.request.urlopen(url, timeout=10) as reply:
            text = reply.read().decode()
        for family in text_string_to_metric_families(text):
            if family.name == ":tensorflow:serving:request_count":
                for sample in family.samples:
                    counts[sample.labels["status"]] += int(sample.value)
    return counts


def _h2load_duration(seconds: float) -> str:
    """h2load takes whole numbers with a unit: 1.5 s is "1500ms" ("1.5" is refused)."""
    return f"{max(1, round(seconds * 1000))}ms"


def run_h2load(target: str, requests: list[bytes], *, concurrency: int = 32,
               duration: float = 10.0, max_requests: int | None = None,
               metrics_urls: list[str] | None = None, warmup: float = 0.0,
               timeout: float = 5.0, method: str = PREDICT) -> LoadReport:
    """The same gRPC requests sent by ``h2load`` over HTTP/2 (closed loop, ``concurrency``
    connections with one stream each); the first request's body is sent every time.

    h2load sees HTTP statuses only, while gRPC reports errors in trailers with HTTP 200, so
    the gRPC errors of the run come from the servers' own request metrics
    (``metrics_urls``, counted before and after); without them they cannot be told apart.
    Latency quantiles come from h2load's per-request log and include any such failure.
    """
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from mnist_course.serving.stack import find_program

    require_loopback(target)
    if not 0 < duration <= MAX_DURATION_S:
        raise ValueError(f"duration must lie in (0, {MAX_DURATION_S}] seconds")
    if not 0 < concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must lie in [1, {MAX_CONCURRENCY}]")
    h2load = find_program("h2load")  # FileNotFoundError names the package to install
    with tempfile.TemporaryDirectory(prefix="mnist-h2load-") as folder:
        body, log = Path(folder) / "request.bin", Path(folder) / "requests.log"
        # a gRPC message on the wire: uncompressed flag, 4-byte length, the protobuf
        body.write_bytes(b"\x00" + len(requests[0]).to_bytes(4, "big") + requests[0])
        # h2load dies with this process: `setpriv --pdeathsig KILL` (util-linux) asks Linux for
        # it. Not a preexec_fn: forking a process that runs gRPC through Python code can abort
        # the child in gRPC's fork handlers, while a plain spawn does not run them
        setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
        command = ([setpriv, "--pdeathsig", "KILL"] if setpriv else []) + [
                   h2load, f"http://{target}{method}", "-d", str(body),
                   "-H", "content-type: application/grpc", "-H", "te: trailers",
                   "-c", str(concurrency), "-m", "1", "-T", _h2load_duration(timeout),
                   "--log-file", str(log)]
        if max_requests:
            command += ["-n", str(min(max_requests, MAX_REQUESTS))]
        else:
            command += ["-D", _h2load_duration(duration)]
            if warmup > 0:
                command += ["--warm-up-time", _h2load_duration(warmup)]
        before = grpc_status_counts(metrics_urls) if metrics_urls else Counter()
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True,
                              timeout=duration + warmup + 60)
        seconds = time.perf_counter() - start - (0 if max_requests else warmup)
        if done.returncode != 0:
            raise OSError(f"h2load failed ({done.returncode}): {done.stderr.strip()[-500:]}")
        rows = np.loadtxt(log, dtype=np.int64, ndmin=2) if log.stat().st_size else \
            np.zeros((0, 3), np.int64)
    after = grpc_status_counts(metrics_urls) if metrics_urls else Counter()
    answered = rows[(rows[:, 1] >= 200) & (rows[:, 1] < 300)] if len(rows) else rows
    errors = Counter({f"HTTP_{code}": int(n) for code, n in
                      zip(*np.unique(rows[rows[:, 1] >= 300, 1], return_counts=True))})
    grpc_errors = Counter({status: after[status] - before[status] for status in after
                           if status != "OK" and after[status] > before[status]})
    if not max_requests and grpc_errors["CANCELLED"]:
        # a timed run ends by resetting the streams still in flight (at most one per
        # connection): the server counts them CANCELLED, but they were cut, not failed
        grpc_errors["CANCELLED"] -= min(grpc_errors["CANCELLED"], concurrency)
        grpc_errors = +grpc_errors  # drop zero counts
    errors.update(grpc_errors)
    order = np.argsort(answered[:, 0]) if len(answered) else np.zeros(0, int)
    starts = (answered[order, 0] - answered[order, 0].min()) / 1e6 if len(answered) else \
        np.zeros(0)
    failed = min(sum(grpc_errors.values()), len(answered))
    return LoadReport(target, seconds, answered[order, 2] / 1e3, errors, starts,
                      failed_in_timed=failed, engine="h2load")


#: a gRPC server on the same runtime as the replicas whose Predict does nothing
DO_NOTHING_SERVER = """
import asyncio
import grpc

async def nothing(raw, context):
    return b""

async def main():
    server = grpc.aio.server()
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler(
        "tensorflow.serving.PredictionService",
        {"Predict": grpc.unary_unary_rpc_method_handler(nothing)})])
    print(server.add_insecure_port("127.0.0.1:0"), flush=True)  # the port it bound
    await server.start()
    await server.wait_for_termination()

asyncio.run(main())
"""


def runtime_floor(requests: list[bytes], *, concurrency: int = 32,
                  duration: float = 5.0) -> tuple[LoadReport, float]:
    """What the gRPC runtime alone costs: :data:`DO_NOTHING_SERVER` in a process of its own,
    loaded by ``h2load``; its report and the server's CPU microseconds per request."""
    import tempfile
    from pathlib import Path

    import psutil

    from mnist_course.serving.stack import _spawn, _stop, _wait_ready

    with tempfile.TemporaryDirectory(prefix="mnist-floor-") as folder:
        log = Path(folder) / "server.log"
        process = _spawn([sys.executable, "-c", DO_NOTHING_SERVER], log)
        try:
            _wait_ready(lambda: log.read_text().strip().isdigit(), process,
                        "the do-nothing server", log, 60)
            target = f"127.0.0.1:{int(log.read_text())}"
            run_h2load(target, requests, concurrency=concurrency, duration=1.0)  # warm-up
            before = sum(psutil.Process(process.pid).cpu_times()[:2])
            report = run_h2load(target, requests, concurrency=concurrency, duration=duration)
            after = sum(psutil.Process(process.pid).cpu_times()[:2])
        finally:
            _stop(process, 5)
    return report, (after - before) / max(report.requests, 1) * 1e6


def record_profile(pid: int, seconds: float, svg_path, rate: int = 250) -> None:
    """A ``py-spy record`` flame graph of process ``pid`` over ``seconds``, written to
    ``svg_path``; ``--nonblocking`` samples without pausing the process. py-spy dies with this
    process (``setpriv --pdeathsig``). OSError with py-spy's own words if it cannot attach (it
    needs to be allowed to ptrace the process: root, or the process's parent)."""
    import shutil
    import subprocess

    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if py_spy is None:
        raise FileNotFoundError("py-spy is not installed: pip install py-spy")
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    command = ([setpriv, "--pdeathsig", "KILL"] if setpriv else []) + [
        py_spy, "record", "--pid", str(pid), "--duration", str(max(1, round(seconds))),
        "--rate", str(rate), "--nonblocking", "--format", "flamegraph", "--output", str(svg_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines() or ["no message"]
        raise OSError(f"py-spy failed ({done.returncode}): {said[0]}")
    well_formed_svg(svg_path)


def well_formed_svg(path) -> None:
    """Make ``path`` an SVG that an XML parser (and so Jupyter) accepts, or remove it.

    A sampled frame's text can carry control characters that XML forbids; they are dropped.
    Anything else that does not parse removes the file and raises OSError saying where."""
    import re
    from pathlib import Path
    from xml.dom import minidom
    from xml.parsers.expat import ExpatError

    path = Path(path)
    text = re.sub("[\x00-\x08\x0b\x0c\x0e-\x1f]", "", path.read_text(errors="replace"))
    try:
        minidom.parseString(text)
    except ExpatError as error:
        path.unlink()
        raise OSError(f"py-spy wrote an SVG that is not well-formed XML ({error})") from None
    path.write_text(text)


def run_in_child(target: str, requests: list[bytes], *, rate: float, duration: float,
                 timeout: float = 5.0, warmup: float = 0.0,
                 concurrency: int = MAX_CONCURRENCY) -> LoadReport:
    """``run_load(rate=...)``, the open loop, in a child process of its own.

    An overloaded server makes grpc.aio lose calls (see ``run_load``); the process that lost
    them may hang when it ends its event loop. The child measures, saves its report, and
    leaves with ``os._exit`` (closing nothing); if it overstays ``duration + warmup +
    timeout + 30`` s it is killed and this raises. gRPC's core can abort a child under
    overload (an ``epoll_wait`` on a closed descriptor): a report saved before that is used;
    a run that left none is repeated once in a fresh child, saying so on stderr, and a
    second failure raises. It dies with its parent, SIGKILL too.
    ``concurrency`` caps the requests in flight (by default so high that only an
    overloaded server reaches it).
    """
    import pickle
    import subprocess
    import tempfile
    from pathlib import Path

    from mnist_course.serving.stack import _die_with_parent

    require_loopback(target)
    with tempfile.TemporaryDirectory(prefix="mnist-load-") as folder:
        (Path(folder) / "requests").write_bytes(pickle.dumps(list(requests)))
        command = [sys.executable, "-m", "mnist_course.serving.loadtest", "--target", target,
                   "--rate", str(rate), "--duration", str(duration), "--timeout",
                   str(timeout), "--warmup", str(warmup), "--concurrency", str(concurrency),
                   "--child", folder]
        saved_at = Path(folder) / "report.npz"
        for attempt in (1, 2):
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=duration + warmup + timeout + 30,
                                  preexec_fn=_die_with_parent if sys.platform == "linux"
                                  else None)
            if done.returncode == 0 or saved_at.exists():
                break
            said = f"the load child failed ({done.returncode}): {done.stderr.strip()[-500:]}"
            if attempt == 2:
                raise RuntimeError(said)
            print(f"{said.splitlines()[0]}; a fresh child repeats the run", file=sys.stderr)
        saved = np.load(saved_at)
        return LoadReport(target, float(saved["seconds"]), saved["latencies_ms"],
                          Counter(json.loads(str(saved["errors"]))), saved["starts_s"])


def _child(folder: str, args: argparse.Namespace) -> None:
    """``run_in_child``'s side: measure, save, and leave without closing anything."""
    import pickle
    from pathlib import Path

    requests = pickle.loads((Path(folder) / "requests").read_bytes())
    # not asyncio.run: at its end it cancels the tasks still pending and waits for them,
    # which is where lost calls hang; this loop is simply abandoned by os._exit
    loop = asyncio.new_event_loop()
    report = loop.run_until_complete(run_load(
        args.target, requests, rate=args.rate, duration=args.duration,
        timeout=args.timeout, warmup=args.warmup, concurrency=args.concurrency))
    np.savez(Path(folder) / "report.npz", seconds=report.seconds,
             latencies_ms=report.latencies_ms, starts_s=report.starts_s,
             errors=json.dumps(dict(report.errors)))
    sys.stdout.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_course.serving.loadtest",
                                     description=__doc__.split("\n\n")[0])
    add = parser.add_argument
    add("--target", default=None, help="host:port of a gRPC server or balancer on this "
        "machine (default: $TF_SERVING_GRPC or 127.0.0.1:8500)")
    add("--model", default="mnist")
    add("--version", type=int, default=None, help="a specific version (default: latest)")
    add("--images", type=int, default=1, help="images per request")
    add("--concurrency", type=int, default=32, help="requests in flight (closed loop)")
    add("--rate", type=float, default=None, help="requests per second (open loop)")
    add("--duration", type=float, default=10.0, help=f"seconds, at most {MAX_DURATION_S:g}")
    add("--requests", type=int, default=None, help="stop after this many requests")
    add("--timeout", type=float, default=5.0, help="seconds per request")
    add("--warmup", type=float, default=1.0, help="seconds of uncounted requests first")
    add("--engine", choices=("python", "h2load"), default="python",
        help="the course's asyncio generator, or nghttp2's h2load (closed loop only)")
    add("--metrics", action="append", default=[], metavar="URL",
        help="h2load: a server's Prometheus endpoint, to count gRPC errors (repeatable)")
    add("--histogram", help="write a latency histogram to this PNG file")
    add("--json", action="store_true", help="print the report as JSON")
    add("--child", help=argparse.SUPPRESS)  # run_in_child's process: the folder it reads
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args)
    from mnist_course.serving.client import grpc_target

    target = args.target or grpc_target()
    try:
        require_loopback(target)
        bodies = digits_requests(args.model, args.images, version=args.version)
        if args.engine == "h2load":
            if args.rate is not None:
                raise ValueError("--rate (open loop) needs --engine python")
            if not args.metrics:
                print("note: without --metrics, gRPC errors (HTTP 200 with an error status "
                      "in the trailers) count as answered", file=sys.stderr)
            report = run_h2load(target, bodies, concurrency=args.concurrency,
                                duration=args.duration, max_requests=args.requests,
                                metrics_urls=args.metrics, warmup=args.warmup,
                                timeout=args.timeout)
        else:
            report = asyncio.run(run_load(target, bodies, concurrency=args.concurrency,
                                          rate=args.rate, duration=args.duration,
                                          max_requests=args.requests, timeout=args.timeout,
                                          warmup=args.warmup))
    except (ValueError, OSError, asyncio.TimeoutError) as error:
        print(f"error: {error or 'no server answered at ' + target}", file=sys.stderr)
        return 2
    summary = report.summary()
    if args.json:
        print(json.dumps(summary))
    else:
        print("  ".join(f"{k}={v}" for k, v in summary.items()))
    if args.histogram and len(report.latencies_ms):
        import matplotlib
        matplotlib.use("Agg")
        report.plot().figure.savefig(args.histogram, dpi=120, bbox_inches="tight")
    return 1 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
