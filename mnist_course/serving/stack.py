"""The article's serving architecture on one machine, with real parts:

    client --gRPC--> nginx (grpc_pass, round robin) --> N replicas
                     each replica's /monitoring/prometheus/metrics <-- Prometheus scrapes

``Stack`` starts the replicas (``python -m mnist_course.serving``, or with ``server=`` another
command that takes its flags and files, ``--port_file`` included), nginx and Prometheus from
Debian's packages,
each in its own process group, writing configs and logs to one working folder; ``stop()`` (or
leaving the ``with`` block) ends every process it started and waits for it. No port is guessed:
each replica binds free loopback ports itself and writes them to a file, Prometheus binds port 0
and its port is read back from its socket, and nginx's ports are held (``SO_REUSEPORT``, not
listening) from the moment they are picked until nginx listens on them.

    python -m mnist_course.serving.stack --model_base_path models/mnist --replicas 2
"""

from __future__ import annotations

import argparse
import ast
import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from mnist_course.serving.config import DEFAULT_METRICS_PATH, Batching

#: where the course looks for nginx, Prometheus and h2load: ``$MNIST_COURSE_SEARCH_PATH`` if
#: set (tests hide programs with it), otherwise ``$PATH`` and the sbin folders (Debian's nginx)
SEARCH_PATH = (os.environ.get("MNIST_COURSE_SEARCH_PATH")
               or os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin"]))
HOST = "127.0.0.1"
DEFAULT_BATCHING = Batching()
#: the draw-a-digit page (``deploy/web/``), which nginx serves at ``/`` when it exists
WEB_ROOT = Path(__file__).resolve().parents[2] / "deploy" / "web"


#: the Debian package of each program the course runs
PACKAGES = {"nginx": "nginx", "prometheus": "prometheus", "promtool": "prometheus",
            "h2load": "nghttp2-client"}


def find_program(name: str) -> str:
    """The path of ``name`` (Debian puts nginx in /usr/sbin), or an error saying how to get it."""
    path = shutil.which(name, path=SEARCH_PATH)
    if path is None:
        raise FileNotFoundError(f"{name} is not installed: `sudo apt-get install "
                                f"{PACKAGES.get(name, name)}` (binder/apt.txt and .ci/run "
                                "install it)")
    return path


#: First line of a notebook cell that needs programs: ``# needs: nginx prometheus``.
NEEDS_MARK = "# needs:"


def missing_programs(names: tuple[str, ...] = ("nginx", "prometheus")) -> list[str]:
    """The programs among ``names`` that are not installed."""
    return [name for name in names if shutil.which(name, path=SEARCH_PATH) is None]


def _install(programs: list[str]) -> str:
    return "sudo apt-get install " + " ".join(sorted({PACKAGES.get(n, n) for n in programs}))


def skip_cells_needing_missing_programs(names: tuple[str, ...] = ("nginx", "prometheus")
                                        ) -> list[str]:
    """In a notebook: from now on, a cell whose first line is ``# needs: PROGRAM ...`` prints
    one line instead of running when one of those programs is missing, so the cells that do
    not need them still run. A cell's needs include its inputs' needs: a later cell, marked or
    not, that reads a name a skipped cell would have bound (before binding it itself) is
    skipped too, and so are, in turn, the cells that read what it binds; a cell that runs
    binds its names afresh. In CI (``CI`` set) a missing program is an error instead.
    Returns the missing programs ([] when everything is installed: nothing changes)."""
    missing = missing_programs(names)
    if not missing:
        return []
    if os.environ.get("CI"):
        raise FileNotFoundError(f"{', '.join(missing)} not installed: {_install(missing)}")
    from IPython import get_ipython

    unbound: dict[str, list[str]] = {}  # name a skipped cell would have bound: programs it lacked

    def skip_cell(lines: list[str]) -> list[str]:
        marked = lines[0][len(NEEDS_MARK):].split() if lines and lines[0].startswith(
            NEEDS_MARK) else []
        reads, binds = cell_reads_and_binds("".join(lines))
        needed = sorted(reads & unbound.keys())
        own = {n for n in marked if n in missing}
        lacking = own.union(*(unbound[n] for n in needed))
        if not lacking:
            for name in binds:
                unbound.pop(name, None)
            return lines
        programs = [n for n in missing if n in lacking]
        unbound.update(dict.fromkeys(binds, programs))
        why = (f" (it reads {', '.join(needed)}, left undefined by a skipped cell)"
               if lacking != own else "")
        return [f"print({f'skipped: this cell needs {programs}{why}; {_install(programs)}'!r})\n"]

    skip_cell.has_side_effects = True  # IPython: not to be run just to see if input is complete
    shell = get_ipython()
    if shell is not None:
        transformers = shell.input_transformers_cleanup
        transformers[:] = [t for t in transformers
                           if getattr(t, "__name__", None) != skip_cell.__name__]
        transformers.append(skip_cell)
    print(f"{', '.join(missing)} not installed: the cells marked '{NEEDS_MARK}' will be "
          f"skipped, and the cells that use what they define; to run them: {_install(missing)}")
    return missing


def cell_reads_and_binds(source: str) -> tuple[set[str], set[str]]:
    """The names a notebook cell reads before binding them itself, and the names it binds
    (assignment, ``for``, ``with ... as``, ``import``, ``def``, ``class``, ``except ... as``,
    ``:=``, ``match``), in the order its code runs. A function's or lambda's body runs later:
    the names it reads from outside count unless the cell binds them anywhere. A cell that is
    not Python, even after IPython's own transforms (``%magic``, ``!command``), reads and
    binds nothing."""
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return set(), set()
    names = _CellNames()
    names.visit(tree)
    return names.reads | (names.later - names.binds), names.binds


class _CellNames(ast.NodeVisitor):
    """Walks a cell in execution order, collecting ``reads``, ``binds`` and the names read by
    the bodies of functions it defines (``later``)."""

    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.binds: set[str] = set()
        self.later: set[str] = set()

    def read(self, names: set[str]) -> None:
        self.reads |= names - self.binds

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.binds.add(node.id)
        else:  # ast.Load, and ast.Del: `del x` needs x too
            self.read({node.id})

    def visit_Assign(self, node: ast.Assign) -> None:  # the value runs before the targets
        self.visit(node.value)
        for target in node.targets:
            self.visit(target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:  # `x += 1` reads x
        self.visit(node.value)
        if isinstance(node.target, ast.Name):
            self.read({node.target.id})
        self.visit(node.target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        for child in (node.annotation, node.value, node.target):
            if child is not None:
                self.visit(child)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.visit(node.target)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        for child in (node.iter, node.target, *node.body, *node.orelse):
            self.visit(child)

    visit_AsyncFor = visit_For

    def visit_Import(self, node: ast.Import | ast.ImportFrom) -> None:
        self.binds |= _imported(node)

    visit_ImportFrom = visit_Import

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self.binds.add(node.name)
        for child in node.body:
            self.visit(child)

    def visit_MatchAs(self, node: ast.MatchAs | ast.MatchStar | ast.MatchMapping) -> None:
        self.generic_visit(node)
        self.binds |= {n for n in (getattr(node, "name", None), getattr(node, "rest", None)) if n}

    visit_MatchStar = visit_MatchMapping = visit_MatchAs

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for child in (*node.decorator_list, node.args, node.returns):  # these run now
            if child is not None:
                self.visit(child)
        self.later |= _free_names(node.body, node.args)
        self.binds.add(node.name)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self.visit(node.args)
        self.later |= _free_names([node.body], node.args)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:  # a class body runs now
        for child in (*node.decorator_list, *node.bases, *node.keywords):
            self.visit(child)
        self.read(_free_names(node.body))
        self.binds.add(node.name)

    def visit_ListComp(self, node: ast.expr) -> None:  # a comprehension has a scope of its own
        self.read(_free_names([node]))

    visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_ListComp


def _imported(node: ast.Import | ast.ImportFrom) -> set[str]:
    """The names an import binds (``import a.b`` binds ``a``; ``*`` is not known)."""
    return {alias.asname or alias.name.partition(".")[0] for alias in node.names
            if alias.name != "*"}


def _free_names(body: list[ast.AST], args: ast.arguments | None = None) -> set[str]:
    """The names code with a scope of its own reads from outside: those it loads, less its
    parameters and the names it binds (nested scopes included: a shortcut that errs towards
    running a cell), except those it declares ``global``."""
    loads, declared = set(), set()
    local = {a.arg for a in ast.walk(args) if isinstance(a, ast.arg)} if args else set()
    for node in body:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                (loads if isinstance(sub.ctx, ast.Load) else local).add(sub.id)
            elif isinstance(sub, ast.arg):
                local.add(sub.arg)
            elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                local.add(sub.name)
            elif isinstance(sub, (ast.Import, ast.ImportFrom)):
                local |= _imported(sub)
            elif isinstance(sub, ast.ExceptHandler) and sub.name:
                local.add(sub.name)
            elif isinstance(sub, ast.Global):
                declared.update(sub.names)
    return loads - (local - declared)


def reserve_port() -> socket.socket:
    """A free loopback port, held: a bound, not listening socket with ``SO_REUSEPORT``, so that
    only a program that binds it with ``SO_REUSEPORT`` too (nginx's ``reuseport``) can take it
    until the socket is closed. Its port is ``sock.getsockname()[1]``."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((HOST, 0))
    return sock


def listening_port(pid: int) -> int | None:
    """The TCP port process ``pid`` listens on (the first, if several), or None yet."""
    import psutil

    try:
        ports = sorted(c.laddr.port for c in psutil.Process(pid).net_connections("tcp")
                       if c.status == psutil.CONN_LISTEN)
    except psutil.NoSuchProcess:
        return None
    return ports[0] if ports else None


def read_ports(port_file: Path) -> dict | None:
    """The ports a server wrote with ``--port_file`` (None until it has)."""
    try:
        return json.loads(port_file.read_text())
    except FileNotFoundError:
        return None


def nginx_config(grpc_port: int, rest_port: int, replicas: list[tuple[int, int]],
                 workdir: Path, web_root: Path | None = None) -> str:
    """nginx as TF Serving's gRPC balancer (HTTP/2 ``grpc_pass``) and REST balancer; with
    ``web_root``, the REST port also serves that folder's files (the page at ``/``), and
    every other path goes to the replicas."""
    grpc_servers = "".join(f"        server {HOST}:{g};\n" for g, _ in replicas)
    rest_servers = "".join(f"        server {HOST}:{r};\n" for _, r in replicas)
    page = f"""        root {web_root};
        types {{ text/html html; text/css css; application/javascript js; image/png png; }}
        location = / {{ try_files /index.html =404; }}
        location / {{ try_files $uri @serving; }}
        location @serving {{""" if web_root else "        location / {"
    return f"""# written by mnist_course.serving.stack
# one process that serves (no master and worker): it dies with the Python process that
# started it, which a worker left behind by a killed master would not
master_process off;
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log {workdir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {workdir}/nginx-tmp;
    client_body_buffer_size 1m;
    upstream tf_serving_grpc {{
{grpc_servers}        keepalive 64;
    }}
    upstream tf_serving_rest {{
{rest_servers}        keepalive 16;
    }}
    server {{
        listen {HOST}:{grpc_port} http2 reuseport;
        location / {{
            grpc_pass grpc://tf_serving_grpc;
            grpc_next_upstream error timeout;
        }}
    }}
    server {{
        listen {HOST}:{rest_port} reuseport;
        client_max_body_size 64m;  # the replicas' own limit: they refuse with a message
{page}
            proxy_pass http://tf_serving_rest;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
    }}
}}
"""


def prometheus_config(rest_ports: list[int], metrics_path: str = DEFAULT_METRICS_PATH,
                      interval: str = "1s") -> str:
    targets = ", ".join(f"'{HOST}:{port}'" for port in rest_ports)
    return f"""# written by mnist_course.serving.stack
global:
  scrape_interval: {interval}
  evaluation_interval: {interval}
scrape_configs:
  - job_name: tf-serving
    metrics_path: {metrics_path}
    static_configs:
      - targets: [{targets}]
"""


class ServerProcess:
    """One ``python -m mnist_course.serving`` process on free loopback ports; ``flags`` are TF
    Serving's (``--model_base_path=...`` or ``--model_config_file=...`` and the rest). A context
    manager: ready (the model answers on REST) on entry, terminated and waited for on exit."""

    def __init__(self, flags: list[str], model_name: str = "mnist",
                 log_path: str | os.PathLike | None = None) -> None:
        self.flags, self.model_name = list(flags), model_name
        self._own_log = log_path is None  # a log of our own making is removed on stop
        self.log_path = Path(log_path) if log_path else Path(
            tempfile.mkstemp(prefix="mnist-server-", suffix=".log")[1])
        self.port_file = self.log_path.with_name(self.log_path.name + ".ports")
        self.process: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        """The command line: ports picked by the server itself (gRPC 0, REST -1) and written
        to ``port_file``."""
        return ["python", "-m", "mnist_course.serving", "--port=0", "--rest_api_port=-1",
                f"--port_file={self.port_file}", *self.flags]

    def start(self, timeout: float = 90.0) -> ServerProcess:
        self.port_file.unlink(missing_ok=True)
        self.process = _spawn([sys.executable, *self.command[1:]], self.log_path)
        atexit.register(self.stop)
        try:
            _wait_ready(lambda: self.port_file.exists(), self.process, "the server",
                        self.log_path, timeout)
            ports = read_ports(self.port_file)
            self.grpc_port, self.rest_port = ports["grpc"], ports["rest"]
            self.grpc_target = f"{HOST}:{self.grpc_port}"
            self.rest_url = f"http://{HOST}:{self.rest_port}"
            url = f"{self.rest_url}/v1/models/{self.model_name}"
            _wait_ready(lambda: _http_ok(url), self.process, "the server", self.log_path,
                        timeout)
        except StartError:
            self.stop()
            raise
        return self

    def log(self, lines: int = 20) -> str:
        return _tail(self.log_path, lines)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait (SIGKILL after ``timeout``); the exit code, 0 for a clean shutdown.
        The ports file goes, and the log too where this object made it."""
        atexit.unregister(self.stop)
        code = None if self.process is None else _stop(self.process, timeout)
        self.port_file.unlink(missing_ok=True)
        if self._own_log:
            self.log_path.unlink(missing_ok=True)
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Stack:
    """N serving replicas behind nginx, scraped by Prometheus; a context manager."""

    def __init__(self, model_base_path: str | os.PathLike, *, replicas: int = 2,
                 model_name: str = "mnist", batching: Batching | None = DEFAULT_BATCHING,
                 poll_seconds: float = 0.5, scrape_interval: str = "1s",
                 prometheus: bool = True, server: list[str] | None = None,
                 workdir: str | os.PathLike | None = None,
                 web_root: str | os.PathLike | None = WEB_ROOT) -> None:
        self.model_base_path = Path(model_base_path).resolve()
        self.replicas, self.model_name, self.batching = replicas, model_name, batching
        self.poll_seconds, self.scrape_interval = poll_seconds, scrape_interval
        self.with_prometheus = prometheus
        self.server = server or [sys.executable, "-m", "mnist_course.serving"]
        self._own_workdir = workdir is None
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="mnist-stack-"))
        self.processes: dict[str, subprocess.Popen] = {}
        self.replica_ports: list[tuple[int, int]] = []
        self.web_root = Path(web_root).resolve() if web_root else None
        if self.web_root and not (self.web_root / "index.html").exists():
            if web_root is not WEB_ROOT:  # asked for: say so; the default is optional
                raise FileNotFoundError(f"{self.web_root}/index.html does not exist")
            self.web_root = None

    # endpoints -----------------------------------------------------------------------------
    @property
    def grpc_target(self) -> str:
        return f"{HOST}:{self.grpc_port}"

    @property
    def rest_url(self) -> str:
        return f"http://{HOST}:{self.rest_port}"

    @property
    def prometheus_url(self) -> str:
        return f"http://{HOST}:{self.prometheus_port}"

    # life cycle ----------------------------------------------------------------------------
    def start(self, timeout: float = 90.0) -> Stack:
        if not self.model_base_path.is_dir():
            raise FileNotFoundError(f"{self.model_base_path} does not exist: export a version "
                                    f"first (mnist_course.export.export_saved_model)")
        nginx = find_program("nginx")
        prometheus = find_program("prometheus") if self.with_prometheus else None
        atexit.register(self.stop)
        try:
            self._start_replicas(timeout)
            held = [reserve_port(), reserve_port()]  # nginx binds them with reuseport
            try:
                self.grpc_port, self.rest_port = (sock.getsockname()[1] for sock in held)
                (self.workdir / "nginx-tmp").mkdir(exist_ok=True)
                conf = self.workdir / "nginx.conf"
                conf.write_text(nginx_config(self.grpc_port, self.rest_port,
                                             self.replica_ports, self.workdir,
                                             self.web_root))
                # no `-e` (nginx >= 1.19.5 only; Binder's Ubuntu has 1.18): the config's
                # error_log takes over once read, and a non-root start's alert about the
                # default log is harmless
                self._spawn("nginx", [nginx, "-p", str(self.workdir), "-c", str(conf)])
                self._wait(lambda: _port_open(self.rest_port) and _port_open(self.grpc_port),
                           "nginx", timeout)
            finally:
                for sock in held:
                    sock.close()
            if prometheus:
                conf = self.workdir / "prometheus.yml"
                conf.write_text(prometheus_config([r for _, r in self.replica_ports],
                                                  interval=self.scrape_interval))
                self._spawn("prometheus", [
                    prometheus, f"--config.file={conf}", "--log.level=warn",
                    f"--storage.tsdb.path={self.workdir / 'prometheus-data'}",
                    f"--web.listen-address={HOST}:0"])
                pid = self.processes["prometheus"].pid
                self._wait(lambda: listening_port(pid) is not None, "prometheus", timeout)
                self.prometheus_port = listening_port(pid)
                self._wait(lambda: _http_ok(f"{self.prometheus_url}/-/ready"), "prometheus",
                           timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_replicas(self, timeout: float) -> None:
        (self.workdir / "monitoring.config").write_text(
            f'prometheus_config {{ enable: true, path: "{DEFAULT_METRICS_PATH}" }}\n')
        flags = [f"--model_name={self.model_name}", f"--model_base_path={self.model_base_path}",
                 f"--monitoring_config_file={self.workdir / 'monitoring.config'}",
                 f"--file_system_poll_wait_seconds={self.poll_seconds}",
                 "--tensorflow_intra_op_parallelism=1", "--tensorflow_inter_op_parallelism=1"]
        if self.batching:
            (self.workdir / "batching.config").write_text(self.batching.to_text())
            flags += ["--enable_batching=true",
                      f"--batching_parameters_file={self.workdir / 'batching.config'}"]
        port_files = [self.workdir / f"replica-{i}.ports" for i in range(self.replicas)]
        for i, port_file in enumerate(port_files):
            self._spawn(f"replica-{i}", [*self.server, "--port=0", "--rest_api_port=-1",
                                         f"--port_file={port_file}", *flags])
        for i, port_file in enumerate(port_files):  # each replica bound its own ports
            self._wait(port_file.exists, f"replica-{i}", timeout)
            ports = read_ports(port_file)
            self.replica_ports.append((ports["grpc"], ports["rest"]))
            url = f"http://{HOST}:{ports['rest']}/v1/models/{self.model_name}"
            self._wait(lambda url=url: _http_ok(url), f"replica-{i}", timeout)

    def _spawn(self, name: str, command: list[str]) -> None:
        self.processes[name] = _spawn(command, self.workdir / f"{name}.log")

    def _wait(self, ready, name: str, timeout: float) -> None:
        _wait_ready(ready, self.processes[name], name, self.workdir / f"{name}.log", timeout)

    def log(self, name: str, lines: int = 20) -> str:
        return _tail(self.workdir / f"{name}.log", lines)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop each part (balancer first, replicas last): SIGTERM, wait, then SIGKILL."""
        for name in reversed(list(self.processes)):
            _stop(self.processes.pop(name), timeout)
        atexit.unregister(self.stop)
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def running(self) -> dict[str, int]:
        """PID of every process still alive (empty after ``stop``)."""
        return {name: p.pid for name, p in self.processes.items() if p.poll() is None}

    def cpu_seconds(self) -> dict[str, float]:
        """CPU time (user + system) used so far by each part, its process group included
        (nginx's worker, say); read from /proc, so Linux only. Differences between two calls
        show where the time of a load test went."""
        ticks = os.sysconf("SC_CLK_TCK")
        groups = {p.pid: name for name, p in self.processes.items()}
        used = dict.fromkeys(groups.values(), 0.0)
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            group = int(fields[2])  # pgrp; fields[0] is the state
            if group in groups:
                used[groups[group]] += (int(fields[11]) + int(fields[12])) / ticks
        return used

    # Prometheus's HTTP API -----------------------------------------------------------------
    def query(self, promql: str, **params) -> list[dict]:
        """``/api/v1/query`` (``time=``) or, with ``start=``/``end=``/``step=``,
        ``/api/v1/query_range``; the ``result`` list."""
        kind = "query_range" if "start" in params else "query"
        url = f"{self.prometheus_url}/api/v1/{kind}?" + urllib.parse.urlencode(
            {"query": promql, **params})
        with urllib.request.urlopen(url, timeout=10) as response:
            reply = json.loads(response.read())
        if reply.get("status") != "success":
            raise RuntimeError(f"Prometheus refused {promql!r}: {reply.get('error')}")
        return reply["data"]["result"]

    def wait_for_scrape(self, timeout: float = 20.0) -> None:
        """Block until Prometheus has scraped every replica once."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            up = self.query('up{job="tf-serving"}')
            if len(up) == self.replicas and all(float(r["value"][1]) == 1 for r in up):
                return
            time.sleep(0.25)
        raise TimeoutError(f"Prometheus has not scraped all {self.replicas} replicas")


class StartError(RuntimeError):
    """A part of the stack exited or did not get ready in time; the message ends with its log."""


def _die_with_parent() -> None:
    """Run in the child before ``exec``: ask Linux to SIGKILL it when the process that
    started it dies, however that dies (SIGKILL included, where ``atexit`` never runs)."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def _spawn(command: list[str], log_path: Path) -> subprocess.Popen:
    """Start ``command`` in its own process group (so one signal reaches its children), tied
    to this process's life on Linux, quiet TensorFlow, output to ``log_path``."""
    with open(log_path, "wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL,
                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                                start_new_session=True,
                                preexec_fn=_die_with_parent if sys.platform == "linux" else None)


def _tail(log_path: Path, lines: int = 20) -> str:
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


def _wait_ready(ready, process: subprocess.Popen, name: str, log_path: Path,
                timeout: float) -> None:
    """Poll ``ready()`` until true; StartError if ``process`` exits or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None:
            raise StartError(f"{name} exited with code {process.returncode}; its log "
                             f"({log_path}) ends:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            raise StartError(f"{name} not ready after {timeout:.0f} s; its log ({log_path}) "
                             f"ends:\n{_tail(log_path)}")
        time.sleep(0.2)


def _stop(process: subprocess.Popen, timeout: float) -> int:
    """SIGTERM the process group, wait up to ``timeout``, then SIGKILL; the exit code."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    _signal_group(process, signal.SIGKILL)  # children left in its group, if any
    return process.returncode


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(process.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mnist_course.serving.stack",
                                     description="Start N replicas behind nginx and "
                                     "Prometheus; Ctrl-C stops them all.")
    parser.add_argument("--model_base_path", required=True)
    parser.add_argument("--model_name", default="mnist")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--batching_parameters_file",
                        help="BatchingParameters text file (default: TF Serving's defaults)")
    parser.add_argument("--no_batching", action="store_true")
    parser.add_argument("--no_prometheus", action="store_true")
    args = parser.parse_args(argv)
    batching = None if args.no_batching else Batching.from_file(args.batching_parameters_file)
    with Stack(args.model_base_path, replicas=args.replicas, model_name=args.model_name,
               batching=batching, prometheus=not args.no_prometheus) as stack:
        lines = [f"gRPC (nginx): {stack.grpc_target}", f"REST (nginx): {stack.rest_url}"]
        if stack.web_root:
            lines.append(f"page (nginx): {stack.rest_url}/  (draw a digit)")
        if stack.with_prometheus:
            lines.append(f"Prometheus:   {stack.prometheus_url}")
        lines += [f"logs:         {stack.workdir}", f"export TF_SERVING_GRPC="
                  f"{stack.grpc_target} TF_SERVING_REST={stack.rest_url}"]
        print("\n".join(lines), flush=True)
        stop = []
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # Ctrl-C, kill, hang-up
            signal.signal(sig, lambda *_: stop.append(1))
        while not stop:
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
