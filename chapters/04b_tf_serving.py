# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 04b · Serving: TF Serving's APIs, a balanced stack, load and faults
#
# The article deploys its model as a micro-service: **client → gRPC load balancer → TF Serving
# replicas with version management → Prometheus and Grafana**, and claims that gRPC + TF
# Serving serves **2000+ requests/s with p99 latency under 15 ms** (**C10**). This chapter builds
# that architecture with real parts and measures it on the machine in front of you.
#
# TF Serving itself is a C++ binary usually run with Docker, which this course cannot assume
# (Binder, CI and many laptops have none). So the replicas here are `python -m
# mnist_course.serving`, a server that speaks **TF Serving's gRPC and REST APIs with the official
# protos** (`tensorflow-serving-api`), takes **TF Serving's flags and config files**, and exports
# **TF Serving's Prometheus metrics**. The balancer is **real nginx**, the monitoring **real
# Prometheus**. `deploy/` holds the same stack with the real `tensorflow/serving` image and
# Grafana, for machines with Docker; the client cells below run unchanged against it (see
# `deploy/README.md`).
#
# **By the end of this chapter you will be able to**
#
# - lay out a model repository of versions that a server picks up, and unloads, while serving;
# - start a server with TF Serving's command line and config files, and call it over gRPC (from
#   the protos) and REST;
# - tell from a status code what was wrong with a request, and check that a bad request never
#   takes the server down;
# - measure throughput and tail latency with a bounded load generator, tune dynamic batching,
#   and find where the time goes;
# - run replicas behind an nginx gRPC balancer, watch them in Prometheus, and roll a new version
#   out (and back) under load without failing a request.

# %%
# Colab set-up: on Google Colab, fetch this course; anywhere else, do nothing.
import sys

if "google.colab" in sys.modules:
    url = "https://github.com/mnist-course/mnist-course"
    # !git clone --quiet --depth 1 --branch main $url /content/mnist-course
    # %pip install --quiet -e /content/mnist-course
    sys.path.insert(0, "/content/mnist-course")  # no restart needed
    # %cd /content/mnist-course/chapters

# %%
import asyncio
import inspect
import json
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from mnist_course.course.profile import (
    active_profile,
    describe_machine,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import grpc
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import SVG, Code, display
from prometheus_client.parser import text_string_to_metric_families
from tensorflow_serving.apis import (
    get_model_metadata_pb2,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from mnist_course import data, export, measure, models, training
from mnist_course.course import claims
from mnist_course.course.checks.ch04b import check
from mnist_course.course.claims import Claim, claims_table, markdown_table
from mnist_course.serving.client import predict_request, rest
from mnist_course.serving.config import Batching
from mnist_course.serving.loadtest import (
    DO_NOTHING_SERVER,
    digits_requests,
    record_profile,
    run_h2load,
    run_load,
    runtime_floor,
)
from mnist_course.serving.metrics import STAGES
from mnist_course.serving.stack import (
    ServerProcess,
    Stack,
    skip_cells_needing_missing_programs,
)
from mnist_course.serving.versions import Batcher

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0
SIZES = {
    # n_train/epochs: the two model versions; n_test: test images scoring them (None:
    # all); load_s: seconds per load-test point; replicas x batching x concurrency: the
    # sweep; confirm_runs x confirm_s: the C10 runs; watch_s / rollout_s: the monitored
    # run and each rollout; warmup_s: uncounted load before each timed run; settle_s: a
    # quiet pause around the monitored runs (Prometheus scrapes every second);
    # prometheus_in_sweep: the sweep's stacks run Prometheus too (in quick, where the
    # sweep has the monitored setting, one stack then serves every cell)
    "quick": {
        "n_train": 500,
        "n_test": 1_000,
        "epochs": (1, 1),
        "load_s": 1.0,
        "replicas": (2,),
        "batching": ("32/1000us",),
        "concurrency": (8,),
        "confirm_s": 1.0,
        "confirm_runs": 1,
        "watch_s": 1.5,
        "rollout_s": 2.5,
        "warmup_s": 0.5,
        "settle_s": 1.0,
        "prometheus_in_sweep": True,
    },
    "full": {
        "n_train": 55_000,
        "n_test": None,
        "epochs": (2, 4),
        "load_s": 5.0,
        "replicas": (1, 2),
        "batching": ("none", "32/1000us", "32/300us", "64/2000us"),
        "concurrency": (8, 16, 32),
        "confirm_s": 12.0,
        "confirm_runs": 3,
        "watch_s": 30.0,
        "rollout_s": 10.0,
        "warmup_s": 1.0,
        "settle_s": 2.0,
        "prometheus_in_sweep": False,
    },
}
# the article's C10, as the course reads it once (mnist_course.course.claims.READINGS)
P99_LIMIT_MS = claims.READINGS["C10"].parts["p99"].claimed
RPS_GOAL = claims.READINGS["C10"].parts["throughput"].claimed

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
S = SIZES[PROFILE]
seed_everything(SEED)
split = data.load_split()
x_train, y_train = (
    data.to_model_input(split.x_train[: S["n_train"]]),
    split.y_train[: S["n_train"]],
)
x_test, y_test = data.to_model_input(split.x_test), split.y_test
scratch = tempfile.TemporaryDirectory(
    prefix="mnist-04b-"
)  # removed when the kernel stops
workdir = Path(scratch.name)
print(f"profile {PROFILE}: {S}\nmodels, configs and logs in {workdir}")

# %% [markdown]
# ## A model repository
#
# TF Serving watches a **base path** holding one folder per version: `models/mnist/1/`,
# `models/mnist/2/`, each a SavedModel. A version must appear **whole**: a server that polls
# the folder must never load half of one. `export.export_saved_model` writes to a hidden
# temporary folder and renames it into place in one step (a rename is atomic on one file
# system), and refuses to overwrite an existing version: versions are immutable.
#
# We train LeNet-5 twice, version 2 for longer, and keep version 2 aside until the rollout.
# `keras.backend.clear_session()` before each model keeps Keras's automatic tensor names, and so
# the **signature's input key** (`keras_tensor`), the same in both: the signature is the API
# that clients are written against, and a new version must not change it.

# %% tags=["nbval-ignore-output"]
store = workdir / "store"  # versions exported but not yet published
versions = {}
for version, epochs in zip((1, 2), S["epochs"]):
    keras.backend.clear_session()
    seed_everything(SEED + version)
    model = models.lenet5()
    training.fit(model, x_train, y_train, epochs=epochs, progress=False)
    versions[version] = measure.accuracy(
        model, x_test[: S["n_test"]], y_test[: S["n_test"]]
    )
    export.export_saved_model(model, store, "mnist", version)
    print(
        f"version {version}: {epochs} epoch(s), test accuracy {versions[version]:.2%} "
        f"({len(x_test[: S['n_test']]):,} images)"
    )

base = workdir / "models" / "mnist"
base.mkdir(parents=True)


def publish(version: int) -> Path:
    """Copy a stored version into the served folder the atomic way: hidden copy, then
    rename."""
    staging = base / f".{version}-incoming"
    shutil.copytree(store / "mnist" / str(version), staging)
    return staging.rename(base / str(version))


publish(1)
print(sorted(str(p.relative_to(workdir)) for p in base.rglob("*") if p.is_dir()))

# %% [markdown]
# ## One server, TF Serving's command line
#
# The flags are TF Serving's own; the two config files are protobuf text, `BatchingParameters`
# and `MonitoringConfig`. The same command line with `tensorflow_model_server` in place of
# `python -m mnist_course.serving` starts the real thing. (TF Serving binds every interface;
# this server binds 127.0.0.1 unless given `--host`.) Three flags are this server's own:
# `--port=0` and `--rest_api_port=-1` let it bind free ports itself, and `--port_file` is where
# it writes the ports it bound, so nothing here guesses a port that another program may take.

# %% tags=["nbval-ignore-output"]
(workdir / "batching.config").write_text(
    "max_batch_size { value: 32 }\n"
    "batch_timeout_micros { value: 1000 }\n"
    "num_batch_threads { value: 1 }\n"
)
(workdir / "monitoring.config").write_text(
    'prometheus_config { enable: true, path: "/monitoring/prometheus/metrics" }\n'
)
flags = [
    "--model_name=mnist",
    f"--model_base_path={base}",
    "--enable_batching=true",
    f"--batching_parameters_file={workdir / 'batching.config'}",
    f"--monitoring_config_file={workdir / 'monitoring.config'}",
    "--file_system_poll_wait_seconds=1",
]
server = ServerProcess(flags, log_path=workdir / "server.log").start()
print(" ".join(server.command).replace(str(workdir), "$WORK"))

# %% [markdown]
# The client cells use `TF_SERVING_GRPC` and `TF_SERVING_REST` when they are set (say, to the
# Docker stack of `deploy/`), and this server otherwise.

# %% tags=["nbval-ignore-output"]
GRPC = os.environ.get("TF_SERVING_GRPC") or server.grpc_target
REST = os.environ.get("TF_SERVING_REST") or server.rest_url
print(f"gRPC {GRPC}   REST {REST}")

# %% [markdown]
# ### gRPC, from the protos
#
# A gRPC call is a stub, a request message and a response message. First ask the server what
# the model expects: `GetModelMetadata` returns the **signature**, with the input's key, dtype
# and shape.

# %%
channel = grpc.insecure_channel(GRPC)
stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
request = get_model_metadata_pb2.GetModelMetadataRequest(
    metadata_field=["signature_def"]
)
request.model_spec.name = "mnist"
response = stub.GetModelMetadata(request, timeout=10)
signatures = get_model_metadata_pb2.SignatureDefMap()
response.metadata["signature_def"].Unpack(signatures)
serving_default = signatures.signature_def["serving_default"]
for kind, tensors in (
    ("input", serving_default.inputs),
    ("output", serving_default.outputs),
):
    for key, info in tensors.items():
        shape = [d.size for d in info.tensor_shape.dim]
        print(f"{kind:6} {key!r}: {tf.dtypes.as_dtype(info.dtype).name}, shape {shape}")

# %% [markdown]
# `Predict` takes a `TensorProto` per input: dtype, shape, and the values, here as raw bytes
# in `tensor_content`. The model's output comes back the same way (logits: the course's models
# end without softmax). `mnist_course.serving.client.predict_request` is these lines; exercise
# 1 asks you to write the whole call yourself.

# %% tags=["nbval-ignore-output"]
digits = x_test[:4]
request = predict_request(digits)  # model_spec.name "mnist", inputs["keras_tensor"]
response = stub.Predict(request, timeout=10)
logits = tf.make_ndarray(response.outputs["output_0"])
print("answered by version", response.model_spec.version.value)
print("predicted", logits.argmax(axis=1).tolist(), " true", y_test[:4].tolist())

# %% [markdown]
# ### REST
#
# The same server on its REST port: model status, then `:predict` with `instances` (one
# entry per image, "row" form). The answer matches gRPC's.

# %%
print(rest("/v1/models/mnist", url=REST))
status, body = rest(
    "/v1/models/mnist:predict", {"instances": digits.tolist()}, url=REST
)
print(
    status, "same answer as gRPC:", np.allclose(body["predictions"], logits, atol=1e-5)
)

# %% [markdown]
# ## Bad input never takes it down
#
# A server is only as robust as its answer to the worst request. Each bad request below gets a
# status code that says whose fault it is (`INVALID_ARGUMENT` and 400: the client's;
# `NOT_FOUND` and 404: no such model or version) and a message that says what to change. After
# each one, a good request must still succeed.


# %%
def bad(x: np.ndarray, **spec) -> predict_pb2.PredictRequest:
    """A request carrying ``x`` as it is (no check on the client side)."""
    from mnist_course.serving.server import array_to_tensor

    request = predict_request(digits[:1], **spec)
    request.inputs["keras_tensor"].CopyFrom(array_to_tensor(x))
    return request


wrong_dtype = bad(digits[:1])
wrong_dtype.inputs["keras_tensor"].dtype = tf.float64.as_datatype_enum
wrong_dtype.inputs["keras_tensor"].tensor_content = (
    digits[:1].astype(np.float64).tobytes()
)
cases = {
    "wrong shape (flattened)": bad(digits[:1].reshape(1, 784)),
    "wrong dtype (float64)": wrong_dtype,
    "NaN pixels": bad(np.full((1, 28, 28, 1), np.nan, np.float32)),
    "0-255 pixels": bad(digits[:1] * 255),
    "empty batch": bad(digits[:0]),
    "oversized batch (33 > 32)": bad(np.zeros((33, 28, 28, 1), np.float32)),
    "unknown model": predict_request(digits[:1], model="fashion"),
    "unknown version": predict_request(digits[:1], version=7),
}
rows = []
for case, request in cases.items():
    try:
        stub.Predict(request, timeout=10)
        rows.append([case, "OK (should have failed!)", ""])
    except grpc.RpcError as error:
        rows.append([case, f"`{error.code().name}`", error.details()])
    assert stub.Predict(
        predict_request(digits[:1]), timeout=10
    ).outputs  # still serving
truncated = predict_request(digits[:1]).SerializeToString()[:1000]
try:
    channel.unary_unary("/tensorflow.serving.PredictionService/Predict")(
        truncated, timeout=10
    )
except grpc.RpcError as error:
    rows.append(["truncated gRPC message", f"`{error.code().name}`", error.details()])
for case, body in (
    ("malformed JSON (REST)", None),
    ("ragged list (REST)", {"instances": [[1, 2], [3]]}),
):
    if body is None:
        try:
            urllib.request.urlopen(
                urllib.request.Request(
                    REST + "/v1/models/mnist:predict", data=b"{not json"
                ),
                timeout=10,
            )
        except urllib.error.HTTPError as error:
            status, message = error.code, json.loads(error.read())["error"]
    else:
        status, reply = rest("/v1/models/mnist:predict", body, url=REST)
        message = reply["error"]
    rows.append([case, f"HTTP {status}", message])
markdown_table(["request", "answer", "message"], rows)

# %% [markdown]
# And the server is still there, with every refusal counted in its metrics by status, as TF
# Serving counts them (`:tensorflow:serving:request_count`). Model names come from clients,
# so they are label values no one should trust: the server escapes every label value as
# Prometheus's text format requires, and counts requests for a model it does not serve
# under one name, `__unknown__`, so that neither a quote or newline in a name nor ten
# thousand made-up names can break or bloat what Prometheus scrapes. We send one such name
# and read the exposition the way Prometheus does, with `prometheus_client`'s parser.

# %%
hostile = predict_request(digits[:1], model='mnist"} 1\nfake_metric 2')
try:
    stub.Predict(hostile, timeout=10)
except grpc.RpcError as error:
    print(f"a model name with a quote and a newline: {error.code().name}")
with urllib.request.urlopen(
    server.rest_url + "/monitoring/prometheus/metrics"
) as reply:
    families = list(text_string_to_metric_families(reply.read().decode()))
counts = {
    (s.labels["model_name"], s.labels["status"]): int(s.value)
    for family in families
    if family.name == ":tensorflow:serving:request_count"
    for s in family.samples
}
assert not any(family.name.startswith("fake") for family in families)
assert (
    server.process.poll() is None and stub.Predict(predict_request(digits[:1])).outputs
)
markdown_table(
    ["model_name", "status", "requests"],
    [
        [name, status, n]
        for (name, status), n in sorted(counts.items())
        if status != "OK"
    ],
)

# %% [markdown]
# ## Load: throughput, tail latency and dynamic batching
#
# `python -m mnist_course.serving.loadtest` (here its function, `run_load`) keeps a fixed
# number of requests in flight (closed loop) or sends at a fixed rate (open loop), for a
# bounded time, to loopback addresses only. It reports requests/s and latency quantiles: the
# **p99** is the latency that 1 request in 100 exceeds, what users of a busy service feel.
#
# **Dynamic batching** lets requests that arrive together share one model call: the server
# waits up to `batch_timeout_micros` for up to `max_batch_size` images. Why it pays: a model
# call has a fixed cost that a batch shares. Timed here, in this kernel, on the served
# SavedModel itself (median of 50 calls):

# %% tags=["nbval-ignore-output"]
served = tf.saved_model.load(str(base / "1")).signatures["serving_default"]
call_ms = {}
for size in (1, 8, 32, 64):
    batch = tf.constant(np.resize(x_test, (size, 28, 28, 1)))
    call_ms[size] = measure.latency_ms(
        lambda b: served(keras_tensor=b)["output_0"], [batch], runs=50, warmup=5
    )["p50"]
markdown_table(
    ["images per call", "ms per call", "ms per image"],
    [[size, f"{ms:.2f}", f"{ms / size:.3f}"] for size, ms in call_ms.items()],
)

# %% [markdown]
# The batcher each replica runs, read from the package as it runs now: `submit` queues a
# request and awaits its share of a batch; `_loop` fills a batch until it is full or the
# timeout passes; `_run` makes one model call and hands each request its rows.

# %%
Code(inspect.getsource(Batcher), language="python")

# %% [markdown]
# Batching trades a little waiting for much less work per request. We sweep replicas ×
# batching × concurrency, every request **through nginx**, with the load generator on the same
# machine: all of it shares this machine's CPU cores. Each point starts with half a second of
# uncounted warm-up requests.
# `stack_for` starts a stack per setting; later cells that ask for the same setting reuse
# the running one.


# %%
def batching_setting(name: str) -> Batching | None:
    """'none', or 'SIZE/TIMEOUTus': max_batch_size and batch_timeout_micros."""
    if name == "none":
        return None
    size, timeout = name.removesuffix("us").split("/")
    return Batching(max_batch_size=int(size), batch_timeout_micros=int(timeout))


live: Stack | None = None  # the one running stack


def stack_for(replicas: int, batching: str, prometheus: bool = False) -> Stack:
    """A running stack with these settings: the live one if it has them (one that also
    runs
    Prometheus will do), otherwise a new one, started after the live one is stopped.
    Starting
    a stack takes seconds (each replica imports TensorFlow), so cells share one where
    they
    can."""
    global live
    wanted = batching_setting(batching)
    if live is not None:
        if (live.replicas, live.batching) == (replicas, wanted) and (
            live.with_prometheus or not prometheus
        ):
            return live
        live.stop()
    live = Stack(
        base, replicas=replicas, batching=wanted, prometheus=prometheus
    ).start()
    return live


# %% [markdown]
# From here on, the cells that start a stack need Debian's (or Homebrew's) `nginx` and
# `prometheus` (and one cell `h2load`). Where they are missing, each such cell (its first line is `# needs: ...`)
# prints one line instead of running, and the cells that need only the single server above
# still run.

# %% tags=["nbval-ignore-output"]
skip_cells_needing_missing_programs(("nginx", "prometheus", "h2load"))
sweep = []  # the sweep's rows, filled below

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
requests = digits_requests(count=64)  # 64 single-digit PredictRequests, serialised once
for replicas in S["replicas"]:
    for name in S["batching"]:
        stack = stack_for(replicas, name, prometheus=S["prometheus_in_sweep"])
        for concurrency in S["concurrency"]:
            report = await run_load(
                stack.grpc_target,
                requests,
                concurrency=concurrency,
                duration=S["load_s"],
                warmup=0.5,
            )
            summary = report.summary()
            sweep.append({
                "config": (
                    f"{replicas} replica(s), batching {name}, {concurrency} in flight"
                ),
                "replicas": replicas,
                "batching": name,
                "concurrency": concurrency,
                "rps": summary["rps"],
                "p50_ms": summary["p50_ms"],
                "p99_ms": summary["p99_ms"],
                "errors": sum(report.errors.values()),
            })
        print(f"{replicas} replica(s), batching {name}: done")
markdown_table(
    ["replicas", "batching", "in flight", "req/s", "p50 ms", "p99 ms", "errors"],
    [
        [
            r["replicas"],
            r["batching"],
            r["concurrency"],
            f"{r['rps']:,.0f}",
            f"{r['p50_ms']:.2f}",
            f"{r['p99_ms']:.2f}",
            r["errors"],
        ]
        for r in sweep
    ],
)

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
fig, ax = plt.subplots(figsize=(7.5, 4))
for (replicas, name), marker in zip(
    [(r, b) for r in S["replicas"] for b in S["batching"]], "osD^vP*Xh"
):
    points = [r for r in sweep if r["replicas"] == replicas and r["batching"] == name]
    ax.plot(
        [r["rps"] for r in points],
        [r["p99_ms"] for r in points],
        marker=marker,
        label=f"{replicas} replica(s), batching {name}",
    )
ax.axhline(P99_LIMIT_MS, color="k", ls="--", lw=1)
ax.axvline(RPS_GOAL, color="k", ls=":", lw=1)
ax.set(
    xlabel="requests/s (through nginx)",
    ylabel="p99 latency (ms)",
    yscale="log",
    title="Each line: more requests in flight, left to right",
)
ax.yaxis.set_major_formatter(plt.ScalarFormatter())
ax.yaxis.set_minor_formatter(plt.ScalarFormatter())
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The best configuration is the one with the most requests/s among those whose p99 stays under
# 15 ms (exercise 3 asks you to write this choice). A sweep point is one short run on a shared
# machine, so we measure C10 on the best configuration again: several longer runs, each after
# a warm-up, and take the medians.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
qualifying = [r for r in sweep if r["p99_ms"] < P99_LIMIT_MS and r["errors"] == 0]
best = max(qualifying or sweep, key=lambda r: r["rps"])
print("best:", best["config"])


def replica_cpu(stack: Stack) -> dict[str, float]:
    """CPU seconds so far by stage, from each replica's own counters, summed over
    replicas."""
    spent = dict.fromkeys([*STAGES, "process"], 0.0)
    for _, rest_port in stack.replica_ports:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
        ) as reply:
            for family in text_string_to_metric_families(reply.read().decode()):
                if family.name == ":mnist_course:serving:cpu_seconds":
                    for sample in family.samples:
                        spent[sample.labels["stage"]] += sample.value
    return spent


runs, cpu_us = [], {}
stack = stack_for(best["replicas"], best["batching"])
for _ in range(S["confirm_runs"]):
    await run_load(
        stack.grpc_target,
        requests,
        concurrency=best["concurrency"],
        duration=S["warmup_s"],
    )  # warm-up, outside the CPU accounting
    cpu_before, client_before, stages_before = (
        stack.cpu_seconds(),
        os.times(),
        replica_cpu(stack),
    )
    report = await run_load(
        stack.grpc_target,
        requests,
        concurrency=best["concurrency"],
        duration=S["confirm_s"],
    )
    cpu_after, client_after, stages_after = (
        stack.cpu_seconds(),
        os.times(),
        replica_cpu(stack),
    )
    runs.append(report)
    answered = len(report.latencies_ms)  # CPU per answered request
    for name in cpu_after:  # by process group, from /proc
        cpu_us.setdefault(name, []).append(
            (cpu_after[name] - cpu_before[name]) / answered * 1e6
        )
    for stage in stages_after:  # inside the replicas, from their own counters
        cpu_us.setdefault(f"stage {stage}", []).append(
            (stages_after[stage] - stages_before[stage]) / answered * 1e6
        )
    cpu_us.setdefault("load generator", []).append(
        (
            (client_after.user + client_after.system)
            - (client_before.user + client_before.system)
        )
        / answered
        * 1e6
    )
    print(report.summary())
batched = {"sum": 0.0, "count": 0.0}  # images and batches, from each replica's metrics
for _, rest_port in stack.replica_ports:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
    ) as reply:
        for family in text_string_to_metric_families(reply.read().decode()):
            for sample in family.samples:
                for key in batched:
                    if sample.name == f":mnist_course:serving:batch_size_{key}":
                        batched[key] += sample.value
mean_batch = batched["sum"] / batched["count"] if batched["count"] else 1.0
c10 = {
    key: float(np.median([r.summary()[key] for r in runs])) for key in ("rps", "p99_ms")
}
met_runs = sum(r.rps >= RPS_GOAL and r.quantile(99) < P99_LIMIT_MS for r in runs)
middle = sorted(runs, key=lambda r: r.rps)[len(runs) // 2]
middle.plot(
    title=f"{best['config']}: median run, {middle.rps:,.0f} req/s through nginx"
)
plt.show()
print(
    f"median of {len(runs)} runs: {c10['rps']:,.0f} req/s, p99 {c10['p99_ms']:.1f} ms; "
    f"{met_runs} of {len(runs)} met both goals"
)

# %% [markdown]
# ### Where the time goes
#
# Everything runs on this machine's cores: the replicas, nginx and the load generator itself.
# CPU seconds per answered request, read from `/proc` for each process group, show who spends
# them; the sum, times the request rate, is how many cores the run kept busy. Inside the
# replicas, each one counts its own CPU time by stage, with its own thread settings, and
# exports the counts as `:mnist_course:serving:cpu_seconds{stage=...}`:
#
# - **decode**: parsing the `PredictRequest` protobuf;
# - **convert**: the tensor to a NumPy array, resolving the version, checking shape and pixels;
# - **batching**: queueing, joining a batch, splitting the answers;
# - **model**: the model call (the whole process's CPU during it, as TensorFlow computes on
#   threads of its own);
# - **respond**: building and serialising the `PredictResponse`;
# - **process**: all of it, so what the stages leave is gRPC's and asyncio's own machinery.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
cpu_us = {name: float(np.median(values)) for name, values in cpu_us.items()}
replicas_us = sum(us for name, us in cpu_us.items() if name.startswith("replica"))
inside = {stage: cpu_us[f"stage {stage}"] for stage in STAGES}
inside["gRPC, asyncio, the rest"] = cpu_us["stage process"] - sum(inside.values())
split_us = {
    **{f"replicas: {stage}": us for stage, us in inside.items()},
    "nginx": cpu_us["nginx"],
    "load generator": cpu_us["load generator"],
}
busy = sum(split_us.values()) * c10["rps"] / 1e6
outside_model = cpu_us["stage process"] - inside["model"]
print(
    f"mean batch: {mean_batch:.1f} images; replicas' CPU per request:"
    f" {cpu_us['stage process']:.0f} µs by their own count, {replicas_us:.0f} µs from"
    " /proc"
)
fig, ax = plt.subplots(figsize=(6.5, 3.4))
ax.barh(list(split_us)[::-1], list(split_us.values())[::-1], color="tab:gray")
ax.set(xlabel="CPU µs per request", title=f"{busy:.2f} of {os.cpu_count()} cores busy")
plt.show()
display(
    markdown_table(
        ["where", "CPU µs per request"],
        [[name, f"{us:.0f}"] for name, us in split_us.items()],
    )
)
print(
    f"replica CPU per request outside the model call: {outside_model:.0f} µs "
    "(the goal: at most 250 µs)"
)
by_replicas = {
    n: max(r["rps"] for r in sweep if r["replicas"] == n)
    for n in sorted({r["replicas"] for r in sweep})
}
print(
    "most requests/s in the sweep, by number of replicas:",
    ", ".join(f"{n}: {rps:,.0f}" for n, rps in by_replicas.items()),
)

# %% [markdown]
# How much of "gRPC, asyncio, the rest" could any handler avoid? A gRPC server whose `Predict`
# does nothing at all, on the same runtime (`grpc.aio`) in a process of its own, driven by
# `h2load` at the same concurrency, shows the floor: the CPU per request of the Python gRPC
# runtime alone.

# %% tags=["nbval-ignore-output"]
# needs: h2load
print(DO_NOTHING_SERVER)
floor, floor_us = runtime_floor(
    requests, concurrency=best["concurrency"], duration=S["confirm_s"] / 2
)
print(
    f"the do-nothing server: {floor.rps:,.0f} req/s, {floor_us:.0f} µs of CPU per"
    " request"
)

# %% [markdown]
# Read the table and the floor together. The model's share is what batching divides; the rest
# is per request, whatever the batch. Of that rest, our own Python (decode, convert, batching,
# respond) is the smaller part: most is the gRPC runtime and the event loop, which a handler
# that does nothing pays too. TF Serving does all of that work in C++, and the article's
# cluster had cores to spare for each replica; here the load generator and nginx compete for
# the same cores as the replicas, which limits what a second replica can add (the last line
# of the split shows what it added in this run's sweep).

# %% [markdown]
# ### A second opinion: h2load
#
# Every number so far came from the course's own load generator, written in Python, which
# spends CPU on the same cores as the server. `h2load` (nghttp2's HTTP/2 benchmarking tool,
# written in C) can send the very same gRPC requests: a gRPC call is an HTTP/2 POST with a
# 5-byte frame header before the protobuf. `loadtest.run_h2load` wraps it with the same
# report. h2load sees only HTTP statuses, and gRPC reports errors in trailers with HTTP 200,
# so its error count comes from the replicas' own request metrics by status. Both engines
# now drive the best configuration, in turns, with the same concurrency and duration; the
# load generator's CPU per request is read for each.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus h2load
engines = {"python": [], "h2load": []}
generator_us = {"python": [], "h2load": []}
stack = stack_for(best["replicas"], best["batching"])  # the C10 runs' stack, still warm
metrics_urls = [
    f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
    for _, rest_port in stack.replica_ports
]
await run_load(
    stack.grpc_target, requests, concurrency=best["concurrency"], duration=S["warmup_s"]
)
for _ in range(S["confirm_runs"]):
    for engine in engines:
        before = os.times()
        if engine == "python":
            report = await run_load(
                stack.grpc_target,
                requests,
                concurrency=best["concurrency"],
                duration=S["confirm_s"],
            )
        else:
            report = run_h2load(
                stack.grpc_target,
                requests,
                concurrency=best["concurrency"],
                duration=S["confirm_s"],
                metrics_urls=metrics_urls,
            )
        after = os.times()
        spent = (
            after.user
            + after.system
            + after.children_user
            + after.children_system
            - before.user
            - before.system
            - before.children_user
            - before.children_system
        )
        engines[engine].append(report)
        generator_us[engine].append(spent / max(report.requests, 1) * 1e6)
markdown_table(
    [
        "engine",
        "runs",
        "req/s (median)",
        "p50 ms",
        "p99 ms",
        "errors",
        "load generator CPU µs per request",
    ],
    [
        [
            engine,
            len(reports),
            f"{np.median([r.rps for r in reports]):,.0f}",
            f"{np.median([r.quantile(50) for r in reports]):.2f}",
            f"{np.median([r.quantile(99) for r in reports]):.2f}",
            sum(sum(r.errors.values()) for r in reports),
            f"{np.median(generator_us[engine]):.0f}",
        ]
        for engine, reports in engines.items()
    ],
)

# %% [markdown]
# Where h2load reaches more requests per second, the difference is CPU the Python generator
# took from the replicas on these shared cores; where the two agree, the server, not the
# generator, was the limit. C10 below keeps the Python engine's runs above (its latency is
# measured per request from the client's side); this table shows how far a cheaper client
# moves the answer.

# %% [markdown]
# A sampling profiler shows where a replica's time goes from the other side: `py-spy` reads
# replica 0's Python stacks 250 times a second, without pausing it, while `h2load` loads the
# same stack. Each bar's width is its share of the samples; a bar sits on the function that
# called it. `Servable.run` is the model call; a wide `Handle._run` with little above it is
# time spent inside gRPC's compiled (Cython) callbacks, which py-spy cannot look into.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus h2load
flame = workdir / "replica-flame.svg"
try:  # the stack of the cell above, already warm
    profiling = asyncio.to_thread(
        record_profile, stack.processes["replica-0"].pid, S["confirm_s"] / 2, flame
    )
    loading = asyncio.to_thread(
        run_h2load,
        stack.grpc_target,
        requests,
        concurrency=best["concurrency"],
        duration=S["confirm_s"] / 2 + 1,
    )
    await asyncio.gather(profiling, loading)
except OSError as error:  # py-spy may not be allowed to attach (ptrace) on this machine
    print(f"no flame graph: {error}")
if flame.exists():
    display(SVG(flame.read_text()))

# %% [markdown]
# ## The article's architecture: replicas, balancer, monitoring
#
# Now two replicas behind nginx, and Prometheus scraping each replica's
# `/monitoring/prometheus/metrics` every second. We send load at three rates in turn, then ask
# Prometheus's HTTP API for the three panels a Grafana dashboard would show (`deploy/grafana`
# has that dashboard): request rate by status, latency quantiles, and requests per replica.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
# the best batching setting, or TF Serving's default where the best had none
stack = stack_for(
    2, best["batching"] if best["batching"] != "none" else "32/1000us", prometheus=True
)
stack.wait_for_scrape()
await run_load(
    stack.grpc_target, requests, duration=0.5, concurrency=4
)  # warm-up, unplotted
time.sleep(S["settle_s"])
t_start = time.time()
phase = S["watch_s"] / 3
for rate in (200, 500, 900):
    report = await run_load(stack.grpc_target, requests, rate=rate, duration=phase)
    print(
        f"{rate} req/s asked: {report.rps:,.0f} achieved, p99"
        f" {report.quantile(99):.2f} ms"
    )
time.sleep(S["settle_s"] + 0.5)  # one more scrape
t_end = time.time()


# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
def panel(ax, promql: str, label: str, title: str, scale: float = 1.0) -> None:
    """One Grafana-style time-series panel from Prometheus's query_range API."""
    for series in stack.query(promql, start=t_start, end=t_end, step="1s"):
        t, v = np.array(series["values"], dtype=float).T
        ax.plot(t - t_start, v * scale, label=label.format(**series["metric"]))
    ax.set(title=title, xlabel="seconds")
    ax.legend(fontsize=8)


fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
panel(
    axes[0],
    'sum by (status) (rate(:tensorflow:serving:request_count{model_name="mnist"}[3s]))',
    "{status}",
    "requests/s by status",
)
for q in (0.5, 0.95, 0.99):
    panel(
        axes[1],
        f"histogram_quantile({q}, sum by (le) (rate("
        f':tensorflow:serving:request_latency_bucket{{API="predict"}}[3s])))',
        f"p{int(q * 100)}",
        "server-side latency (ms)",
        scale=1e-3,
    )
panel(
    axes[2],
    "sum by (instance) (rate(:tensorflow:serving:request_count[3s]))",
    "{instance}",
    "requests/s by replica (round robin)",
)
plt.show()

# %% [markdown]
# ## Rolling out version 2, and back, under load
#
# Publishing a version is one rename into the base path. Each replica notices it at its next
# poll, **loads version 2 before unloading version 1**, and requests already in flight finish
# on the version they started with. The load generator records which version answered each
# request; the gauge `:mnist_course:serving:version_loaded` shows the switch in Prometheus.
# Then we roll back: take version 2 out of the base path (rename it away) and version 1 is
# loaded again, first, before 2 goes.


# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
async def during_load(change, seconds: float, rate: int = 400):
    """Run an open-loop load and call ``change()`` a third of the way through."""
    load = asyncio.ensure_future(
        run_load(
            stack.grpc_target,
            requests,
            rate=rate,
            duration=seconds,
            record_versions=True,
            timeout=10,
        )
    )
    await asyncio.sleep(seconds / 3)
    changed_at = time.perf_counter()
    change()
    report = await load
    return report, changed_at


t_roll = time.time()
rollout, _ = await during_load(lambda: publish(2), S["rollout_s"])
rollback, _ = await during_load(
    lambda: (base / "2").rename(base / ".2-rolled-back"), S["rollout_s"]
)
time.sleep(S["settle_s"] + 0.5)  # one more scrape
t_roll_end = time.time()

fig, axes = plt.subplots(1, 3, figsize=(14, 3.2))
for ax, report, title in (
    (axes[0], rollout, "rollout: publish 2"),
    (axes[1], rollback, "rollback: remove 2"),
):
    for version, color in ((1, "tab:blue"), (2, "tab:orange")):
        mask = report.versions == version
        ax.plot(
            report.starts_s[mask],
            np.full(mask.sum(), version),
            "|",
            color=color,
            label=f"version {version}: {mask.sum()} answers",
        )
    ax.set(
        title=f"{title}; {sum(report.errors.values())} failed",
        xlabel="seconds",
        yticks=[1, 2],
        ylim=(0.5, 2.5),
    )
    ax.legend(fontsize=8, loc="center right")
for series in stack.query(
    "sum by (version) (:mnist_course:serving:version_loaded)",
    start=t_roll,
    end=t_roll_end,
    step="1s",
):
    t, v = np.array(series["values"], dtype=float).T
    axes[2].step(
        t - t_roll, v, where="post", label=f"version {series['metric']['version']}"
    )
axes[2].set(
    title="Prometheus: replicas with the version loaded",
    xlabel="seconds",
    yticks=[0, 1, 2],
)
axes[2].legend(fontsize=8)
plt.show()

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
print(
    "failed requests during rollout:",
    sum(rollout.errors.values()),
    "and rollback:",
    sum(rollback.errors.values()),
)
print(
    "last answers came from version",
    sorted({int(v) for v in rollout.versions[-20:]}),
    "then",
    sorted({int(v) for v in rollback.versions[-20:]}),
)
assert not rollout.errors and not rollback.errors

# %% [markdown]
# ## Claims check
#
# C10 is measured above through nginx with the best configuration of the sweep, on this
# machine, with the load generator competing for the same cores. The article's number was for
# a TF Serving cluster; ours is one machine, named below.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
here = describe_machine()
rps_runs = claims.t_interval([r.rps for r in runs], what="runs")
p99_runs = claims.t_interval([r.quantile(99) for r in runs], what="runs")
# the article measured a cluster; this notebook always measures its own stack on one
# machine, a weaker setting: what holds here holds there a fortiori
c10_verdict = claims.judge(
    "C10",
    {"throughput": rps_runs, "p99": p99_runs},
    here=f"one machine ({here}) running replicas, nginx and the load generator",
)
claims_table([
    Claim(
        "C10",
        f"{rps_runs.estimate:,.0f} req/s (interval {rps_runs.low:,.0f} to "
        f"{rps_runs.high:,.0f}), p99 {p99_runs.estimate:.1f} ms (interval "
        f"{p99_runs.low:.1f} to {p99_runs.high:.1f}) through nginx, mean of "
        f"{len(runs)} runs ({best['config']}); {met_runs} of {len(runs)} runs met "
        "both goals",
        c10_verdict,
        "Python replicas, nginx and the load generator share this machine's cores; the "
        "CPU split above shows what a larger machine would need.",
    ),
])

# %% [markdown]
# ## Exercises
#
# **Exercise 1.** Write a gRPC client from the protos, without `mnist_course.serving.client`:
# a channel, a `PredictionServiceStub`, a `PredictRequest` whose `inputs["keras_tensor"]` is a
# `TensorProto` (dtype `DT_FLOAT`, the shape, the bytes in `tensor_content`), and the output
# read back as an array of shape (n, 10).


# %%
def my_predict(images: np.ndarray, target: str) -> np.ndarray:
    raise NotImplementedError


check.grpc_client(my_predict, GRPC)

# %% [markdown]
# **Exercise 2.** Serve versions 1 and 2 **at once** and send a request to each explicitly. By
# default TF Serving loads only the latest version; write a `ModelServerConfig` (text format)
# whose version policy keeps both, and `request_for(images, version)` returning a
# `PredictRequest` that names the version in `model_spec`. The checker starts a server with
# your config on a folder holding both versions.

# %%
both = workdir / "both" / "mnist"
for version in (1, 2):
    shutil.copytree(store / "mnist" / str(version), both / str(version))

model_config = """
"""


def request_for(images: np.ndarray, version: int) -> predict_pb2.PredictRequest:
    raise NotImplementedError


check.version_routing(model_config, request_for, both)

# %% [markdown]
# **Exercise 3.** From the sweep's rows (dicts with `config`, `rps` and `p99_ms`), return the
# row with the most requests/s among those whose p99 is strictly under 15 ms, or `None` if none
# is. Then try a batching setting of your own in the sweep and see whether it wins.


# %%
def best_batching(rows: list[dict]) -> dict | None:
    raise NotImplementedError


check.best_batching(best_batching, sweep)

# %% [markdown]
# ## Cleaning up
#
# Every process this chapter started stops here, and its folder goes. (Both would also happen
# when the kernel exits.)

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
stack.stop()
print("stack processes left:", stack.running())

# %%
channel.close()
print("server exit code:", server.stop())
scratch.cleanup()
