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
#       jupytext_version: 1.19.7
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
# - test a latency claim at the load it names: pick the setting with room on both goals,
#   offer the load in an open loop, and judge the interval over fresh runs;
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
import re
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
    run_in_child,
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

CHAPTER_START = time.perf_counter()  # the closing cell prints this run's time

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0
SIZES = {
    # n_train/epochs: the two model versions; n_test: test images scoring them (None:
    # all); load_s: seconds per sweep point; replicas x batching x concurrency: the
    # sweep; c10_settings: how many server settings (the sweep's most margin first) get
    # the C10 runs; c10_loads: the offered requests/s of those open-loop runs;
    # c10_runs x c10_s: fresh runs per (setting, load); c10_pause_s: a quiet pause after
    # each; engine_runs x engine_s: the Python-vs-h2load runs; profile_s: the do-nothing
    # server's run and the flame graph; watch_s / rollout_s: the monitored run and each
    # rollout; warmup_s: uncounted load before timed runs; settle_s: a quiet pause
    # around the monitored runs (Prometheus scrapes every second); prometheus_in_sweep:
    # the sweep's stacks run Prometheus too (in quick, where the sweep has the monitored
    # setting, one stack then serves every cell)
    "quick": {
        "n_train": 500,
        "n_test": 1_000,
        "epochs": (1, 1),
        "load_s": 1.0,
        "replicas": (2,),
        "batching": ("32/1000us",),
        "concurrency": (8,),
        "c10_settings": 1,
        "c10_loads": (100, 200),
        "c10_runs": 2,
        "c10_s": 1.0,
        "c10_pause_s": 0.2,
        "engine_runs": 1,
        "engine_s": 1.0,
        "profile_s": 0.5,
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
        "batching": ("none", "32/1000us", "64/2000us"),
        "concurrency": (8, 16, 32),
        "c10_settings": 2,
        "c10_loads": (2_000, 2_500),
        "c10_runs": 5,
        "c10_s": 15.0,
        "c10_pause_s": 1.0,
        "engine_runs": 3,
        "engine_s": 8.0,
        "profile_s": 6.0,
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
display(markdown_table(["request", "answer", "message"], rows))
answers = {}
for _, answer, _ in rows:
    answers[answer.strip("`")] = answers.get(answer.strip("`"), 0) + 1
refused = sum(n for answer, n in answers.items() if not answer.startswith("OK"))
print(
    f"The table above: {refused} of {len(rows)} bad requests were refused ("
    + ", ".join(f"{n} {answer}" for answer, n in sorted(answers.items()))
    + "), each with a message that names the input and what to change; after every"
    " gRPC one a good request was still answered."
)

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
display(
    markdown_table(
        ["model_name", "status", "requests"],
        [
            [name, status, n]
            for (name, status), n in sorted(counts.items())
            if status != "OK"
        ],
    )
)
failed_counted = sum(n for (_, status), n in counts.items() if status != "OK")
unknown = sum(n for (name, _), n in counts.items() if name == "__unknown__")
print(
    f"The table above counts {failed_counted} refused requests, {unknown} of them under"
    " `__unknown__` (the made-up and the hostile model names, one label between them);"
    f" metric families named fake_*: "
    f"{sum(f.name.startswith('fake') for f in families)}."
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
display(
    markdown_table(
        ["images per call", "ms per call", "ms per image"],
        [[size, f"{ms:.2f}", f"{ms / size:.3f}"] for size, ms in call_ms.items()],
    )
)
largest = max(call_ms)
per_image = (call_ms[largest] - call_ms[1]) / (largest - 1)  # what one more image adds
fixed = call_ms[1] - per_image  # what any call costs, whatever its size
print(
    f"The table above: a call of {largest} images takes"
    f" {call_ms[largest] / call_ms[1]:.1f}x the time of a call of one, so each image"
    f" costs {call_ms[1] / (call_ms[largest] / largest):.0f}x less in a full batch than"
    f" alone; each image adds about {per_image:.3f} ms, and the fixed cost of a call,"
    f" about {fixed:.2f} ms, is {fixed / call_ms[1]:.0%} of a single image's call."
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
display(
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
)
met_both = [
    r
    for r in sweep
    if r["rps"] >= RPS_GOAL and r["p99_ms"] < P99_LIMIT_MS and not r["errors"]
]
fastest = max(sweep, key=lambda r: r["rps"])
unbatched = [r["rps"] for r in sweep if r["batching"] == "none"]
batched_rps = [r["rps"] for r in sweep if r["batching"] != "none"]
print(
    f"The table above: {len(met_both)} of {len(sweep)} points met both goals in their"
    f" one {S['load_s']:g}-s run; the most requests/s was {fastest['rps']:,.0f} ("
    f"{fastest['config']}, p99 {fastest['p99_ms']:.1f} ms)"
    + (
        f"; without batching at most {max(unbatched):,.0f} req/s, with it up to "
        f"{max(batched_rps):,.0f}."
        if unbatched and batched_rps
        else "."
    )
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
more_in_flight = []  # per setting: its point with the fewest in flight, and the most
for key in sorted({(r["replicas"], r["batching"]) for r in sweep}):
    points = sorted(
        (r for r in sweep if (r["replicas"], r["batching"]) == key),
        key=lambda r: r["concurrency"],
    )
    more_in_flight.append((points[0], points[-1]))
worse = sum(hi["p99_ms"] > lo["p99_ms"] for lo, hi in more_in_flight)
gain = [hi["rps"] / lo["rps"] for lo, hi in more_in_flight]
print(
    f"The figure above: in {worse} of {len(more_in_flight)} settings the p99 rose from"
    " the fewest to the most requests in flight, while requests/s changed by a factor"
    f" of {min(gain):.2f} to {max(gain):.2f}"
    + (
        ": past a few in flight, more of them mostly wait in a queue."
        if max(gain) < 1.5
        else ": more in flight still bought throughput somewhere."
    )
    + " Points left of the dotted line or above the dashed one miss a goal."
)

# %% [markdown]
# ## C10 at the claimed load: fresh open-loop runs
#
# Which setting should C10 be tested on? Not the sweep point with the most requests/s
# among those under 15 ms: a one-run maximum taken under a limit selects the point that sits
# on the limit, and its next run lands on either side by chance. The settings worth
# confirming are those with the most **room on both goals**: we score each sweep point by
# the smaller of its two ratios, requests/s over 2,000 and 15 ms over its p99 (above 1: both
# goals met; 1: on an edge), and take the server settings (replicas × batching) whose best
# point scores highest.
#
# Each chosen setting then gets fresh runs in an **open loop** (`loadtest.run_in_child`): it
# offers a fixed rate, 2,000 and 2,500 requests/s, whatever the server does, and counts each
# request's latency from when it was due, so a server that falls behind shows its queue
# instead of slowing the client down (a closed loop would). Requests still waiting after
# half a second fail, and the p99 counts each failure at that half second, a lower bound on
# what its user waited. Five runs of 15 s per (setting, load), in alternating order, give
# an interval over runs; a verdict reads its edges: the p99's upper bound and the
# throughput's lower bound. An open loop cannot answer more than it is offered, so at 2,000
# offered the throughput half sits on its edge by construction: C10 is judged at 2,500
# offered, where a server that keeps up answers well over 2,000 a second and its tail is
# measured at that rate; the 2,000 runs show the tail at exactly the claimed rate.
#
# Each run goes in a process of its own because of a client bug worth knowing: under
# overload, grpc.aio (gRPC's asyncio client) can lose a call whose deadline has passed. It
# never returns, and cancelling it or closing the channel can block the event loop for good
# (this chapter's first open-loop runs hung that way). The child counts a call still out a
# second after the last deadline as DEADLINE_EXCEEDED, saves its report and exits without
# closing anything; one that overstays is killed.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
C10_TIMEOUT_S = 0.5  # a request not answered by then is cancelled: a failure


def margin(row: dict) -> float:
    """Room on both goals: the smaller of rps / 2,000 and 15 ms / p99 (1: an edge)."""
    return min(row["rps"] / RPS_GOAL, P99_LIMIT_MS / row["p99_ms"])


settings = {}  # (replicas, batching) -> its error-free sweep point with the most room
for r in [r for r in sweep if not r["errors"]] or sweep:
    key = (r["replicas"], r["batching"])
    if key not in settings or margin(r) > margin(settings[key]):
        settings[key] = r
chosen = sorted(settings.values(), key=margin, reverse=True)[: S["c10_settings"]]
under_limit = [r for r in sweep if r["p99_ms"] < P99_LIMIT_MS and not r["errors"]]
edge = max(under_limit or sweep, key=lambda r: r["rps"])  # the old rule's pick
display(
    markdown_table(
        ["setting", "its point with most room", "req/s", "p99 ms", "room"],
        [
            [
                f"{r['replicas']} replica(s), batching {r['batching']}",
                f"{r['concurrency']} in flight",
                f"{r['rps']:,.0f}",
                f"{r['p99_ms']:.2f}",
                f"{margin(r):.2f}",
            ]
            for r in sorted(settings.values(), key=margin, reverse=True)
        ],
    )
)
print(
    f"The table above ranks the {len(settings)} settings; C10's runs take the first "
    f"{len(chosen)}, with room {', '.join(f'{margin(r):.2f}' for r in chosen)}. "
    + (
        f"The old rule's pick, the most requests/s under {P99_LIMIT_MS:g} ms, was"
        f" {edge['config']} ({edge['rps']:,.0f} req/s at p99 {edge['p99_ms']:.2f} ms):"
        f" room {margin(edge):.2f}, of which the p99 goal's ratio alone is"
        f" {P99_LIMIT_MS / edge['p99_ms']:.2f}."
        if under_limit
        else f"No sweep point had a p99 under {P99_LIMIT_MS:g} ms."
    )
)


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


def p99_counting_failures(report) -> float:
    """The p99 over every request offered, a failed one counted at the timeout."""
    failed = np.full(sum(report.errors.values()), C10_TIMEOUT_S * 1e3)
    return float(np.percentile(np.concatenate([report.latencies_ms, failed]), 99))


def in_flight(report) -> float:
    """Requests in flight on average over the run (Little's law, L = sum of latencies /
    time): each request adds its latency to the total time spent in flight."""
    if not len(report.latencies_ms):
        return 0.0
    ends = report.starts_s + report.latencies_ms / 1e3
    return float(report.latencies_ms.sum() / 1e3 / (ends.max() - report.starts_s.min()))

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
c10_runs, cpu_us = {}, {}  # (setting, offered load) -> a dict per run; CPU per request
top = chosen[0]
for row in chosen[::-1]:  # the first-ranked last: its stack stays up for what follows
    setting = f"{row['replicas']} replica(s), batching {row['batching']}"
    stack = stack_for(row["replicas"], row["batching"])
    await run_load(
        stack.grpc_target,
        requests,
        concurrency=row["concurrency"],
        duration=S["warmup_s"],
    )  # warm-up, uncounted
    for round_ in range(S["c10_runs"]):  # the loads alternate their order by round
        for load in S["c10_loads"][:: 1 if round_ % 2 == 0 else -1]:
            account = row is top and load == S["c10_loads"][0]
            before = (stack.cpu_seconds(), os.times(), replica_cpu(stack))
            report = run_in_child(  # an open loop, in a process of its own
                stack.grpc_target,
                requests,
                rate=load,
                duration=S["c10_s"],
                timeout=C10_TIMEOUT_S,
            )
            after = (stack.cpu_seconds(), os.times(), replica_cpu(stack))
            answered = max(report.ok, 1)
            c10_runs.setdefault((setting, load), []).append({
                "rps": report.rps,
                "p99_ms": p99_counting_failures(report),
                "failed": sum(report.errors.values()),
                "offered": report.requests,
                "in_flight": in_flight(report),
                "generator_us": (
                    sum(after[1][:2]) - sum(before[1][:2])
                ) / answered * 1e6,
            })
            if account:  # CPU per answered request, the top setting at the lower load
                for name in after[0]:  # by process group, from /proc
                    cpu_us.setdefault(name, []).append(
                        (after[0][name] - before[0][name]) / answered * 1e6
                    )
                for stage in after[2]:  # inside the replicas, from their own counters
                    cpu_us.setdefault(f"stage {stage}", []).append(
                        (after[2][stage] - before[2][stage]) / answered * 1e6
                    )
                cpu_us.setdefault("load generator", []).append(
                    c10_runs[(setting, load)][-1]["generator_us"]
                )
            time.sleep(S["c10_pause_s"])  # let a backlog drain before the next run
    print(f"{setting}: {S['c10_runs']} runs at each of {S['c10_loads']} req/s done")
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

# %% [markdown]
# Each (setting, load) below: the mean of its runs with a t-interval over runs (95%), the
# share of requests that failed, and how many were in flight on average. The last column is
# the policy's rule applied to that row alone.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
here = describe_machine()
here_words = f"one machine ({here}) running replicas, nginx and the load generator"
c10_rows = {}
for (setting, load), results in c10_runs.items():
    rps_interval = claims.t_interval(
        [r["rps"] for r in results], what="runs", resolution=1 / S["c10_s"]
    )
    p99_interval = claims.t_interval(
        [r["p99_ms"] for r in results], what="runs", resolution=0.01
    )
    c10_rows[(setting, load)] = {
        "rps": rps_interval,
        "p99": p99_interval,
        "failed": sum(r["failed"] for r in results)
        / sum(r["offered"] for r in results),
        "in_flight": float(np.mean([r["in_flight"] for r in results])),
        "verdict": claims.judge(
            "C10", {"throughput": rps_interval, "p99": p99_interval}, here=here_words
        ),
    }


def span(interval, fmt: str) -> str:
    return f"{interval.estimate:{fmt}} ({interval.low:{fmt}} to {interval.high:{fmt}})"


def rule_says(part: dict) -> str:
    """The rule's label for one part, before the setting is taken into account."""
    return claims.decide({**part, "setting_ok": True})[0]


display(
    markdown_table(
        [
            "setting",
            "offered req/s",
            "runs",
            "answered req/s",
            "p99 ms",
            "failed",
            "in flight",
            "the rule says",
        ],
        [
            [
                setting,
                f"{load:,}",
                len(c10_runs[(setting, load)]),
                span(row["rps"], ",.0f"),
                span(row["p99"], ".1f"),
                f"{row['failed']:.2%}",
                f"{row['in_flight']:.1f}",
                ", ".join(
                    f"{part['part']} {rule_says(part)}"
                    for part in row["verdict"].record["parts"]
                ),
            ]
            for (setting, load), row in sorted(c10_rows.items())
        ],
    )
)
top_setting = f"{top['replicas']} replica(s), batching {top['batching']}"
judged = c10_rows[(top_setting, max(S["c10_loads"]))]
at_claim = c10_rows[(top_setting, min(S["c10_loads"]))]
met = [key for key, row in c10_rows.items() if row["verdict"].verdict == "confirmed"]
print(
    f"The table above: at {max(S['c10_loads']):,} offered, {top_setting} answered"
    f" {judged['rps'].low:,.0f} req/s or more (the interval's lower bound) with a p99"
    f" of at most {judged['p99'].high:.1f} ms (its upper bound), {judged['failed']:.1%}"
    f" failed; at {min(S['c10_loads']):,} offered its p99 was at most"
    f" {at_claim['p99'].high:.1f} ms. Rows whose whole intervals met both goals: "
    f"{len(met)} of {len(c10_rows)}."
)

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
for i, (row, marker) in enumerate(zip(chosen, "osD^")):
    setting = f"{row['replicas']} replica(s), batching {row['batching']}"
    loads = sorted(load for s_, load in c10_rows if s_ == setting)
    shift = (i - (len(chosen) - 1) / 2) * 0.012 * max(loads)  # side by side
    for ax, key, runs_key in ((axes[0], "p99", "p99_ms"), (axes[1], "rps", "rps")):
        intervals = [c10_rows[(setting, load)][key] for load in loads]
        x = np.array(loads, float) + shift
        ax.errorbar(
            x,
            [v.estimate for v in intervals],
            yerr=[
                [v.estimate - v.low for v in intervals],
                [v.high - v.estimate for v in intervals],
            ],
            marker=marker,
            capsize=4,
            label=setting,
        )
        for xi, load in zip(x, loads):
            values = [r[runs_key] for r in c10_runs[(setting, load)]]
            ax.plot([xi] * len(values), values, ".", color="gray", alpha=0.6)
axes[0].axhline(P99_LIMIT_MS, color="k", ls="--", lw=1)
axes[0].set(
    xlabel="offered requests/s",
    ylabel="p99 latency (ms)",
    title="p99 against offered load (dots: runs; bars: 95% interval)",
)
top_load = max(S["c10_loads"])
axes[1].plot([0, top_load], [0, top_load], color="gray", lw=0.8, label="all answered")
axes[1].axhline(RPS_GOAL, color="k", ls=":", lw=1)
axes[1].set(
    xlabel="offered requests/s",
    ylabel="answered requests/s",
    title="what was answered",
    xlim=(min(S["c10_loads"]) * 0.9, top_load * 1.05),
)
for ax in axes:
    ax.legend(fontsize=8)
plt.show()
rises = {
    setting: c10_rows[(setting, max(S["c10_loads"]))]["p99"].estimate
    - c10_rows[(setting, min(S["c10_loads"]))]["p99"].estimate
    for setting in {s_ for s_, _ in c10_rows}
}
kept_up = {
    setting: c10_rows[(setting, load)]["rps"].estimate / load
    for (setting, load) in c10_rows
    if load == max(S["c10_loads"])
}
print(
    f"The figure above: from {min(S['c10_loads']):,} to {max(S['c10_loads']):,} offered"
    " req/s the p99 moved by "
    + ", ".join(f"{rise:+.1f} ms ({name})" for name, rise in sorted(rises.items()))
    + f"; at {max(S['c10_loads']):,} offered the settings answered "
    + ", ".join(f"{share:.0%}" for _, share in sorted(kept_up.items()))
    + " of what was offered. A point under the dashed line whose bar stays under it too"
    " is the p99 goal met; the right panel's points on the grey line kept up."
)

# %% [markdown]
# ### Where the time goes
#
# Everything runs on this machine's cores: the replicas, nginx and the load generator itself.
# CPU seconds per answered request, read from `/proc` for each process group during the C10
# runs of the first-ranked setting at 2,000 offered requests/s, show who spends them; the
# sum, times the request rate, is how many cores the run kept busy. Inside the
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
accounted = c10_runs[(top_setting, min(S["c10_loads"]))]
accounted_rps = float(np.mean([r["rps"] for r in accounted]))
busy = sum(split_us.values()) * accounted_rps / 1e6
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
largest_part = max(split_us, key=split_us.get)
print(
    f"The figure and table above: {largest_part} is the largest part, "
    f"{split_us[largest_part] / sum(split_us.values()):.0%} of the"
    f" {sum(split_us.values()):,.0f} µs each answered request cost; the model call is"
    f" {inside['model'] / cpu_us['stage process']:.0%} of the replicas' own. At"
    f" {RPS_GOAL:,} req/s that would keep"
    f" {sum(split_us.values()) * RPS_GOAL / 1e6:.1f} cores busy, against the"
    f" {os.cpu_count()} this machine has; replica CPU per request outside the model"
    f" call: {outside_model:.0f} µs."
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
    requests, concurrency=top["concurrency"], duration=S["profile_s"]
)
print(
    f"the do-nothing server: {floor.rps:,.0f} req/s, {floor_us:.0f} µs of CPU per"
    " request"
)
by_replicas = {
    n: max(r["rps"] for r in sweep if r["replicas"] == n)
    for n in sorted({r["replicas"] for r in sweep})
}
print(
    f"Against the replicas' {inside['gRPC, asyncio, the rest']:.0f} µs of gRPC, asyncio"
    f" and the rest per request, the runtime alone costs {floor_us:.0f} µs"
    f" ({floor_us / max(inside['gRPC, asyncio, the rest'], 1):.0%} of it). Most"
    " requests/s in the sweep, by number of replicas: "
    + ", ".join(f"{n}: {rps:,.0f}" for n, rps in by_replicas.items())
    + "."
)

# %% [markdown]
# Read the table and the floor together. The model's share is what batching divides; the rest
# is per request, whatever the batch. Of that rest, our own Python (decode, convert, batching,
# respond) is the smaller part: most is the gRPC runtime and the event loop, which a handler
# that does nothing pays too. TF Serving does all of that work in C++, and the article's
# cluster had cores to spare for each replica; here the load generator and nginx compete for
# the same cores as the replicas, which limits what a second replica can add (the line above
# shows what it added in this run's sweep).

# %% [markdown]
# ### A second opinion: h2load
#
# Every number so far came from the course's own load generator, written in Python, which
# spends CPU on the same cores as the server. `h2load` (nghttp2's HTTP/2 benchmarking tool,
# written in C) can send the very same gRPC requests: a gRPC call is an HTTP/2 POST with a
# 5-byte frame header before the protobuf. `loadtest.run_h2load` wraps it with the same
# report. h2load sees only HTTP statuses, and gRPC reports errors in trailers with HTTP 200,
# so its error count comes from the replicas' own request metrics by status. Both engines
# now drive the first-ranked setting in a closed loop, in turns, asked for the same number
# of requests in flight and for the same time; the load generator's CPU per request is read
# for each, and so is how many requests each actually kept in flight: by Little's law, the
# requests in flight on average are the total time requests spent in flight (the sum of
# their latencies) over the run's length, and requests/s = in flight / mean latency.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus h2load
engines = {"python": [], "h2load": []}
generator_us = {"python": [], "h2load": []}
stack = stack_for(top["replicas"], top["batching"])  # the C10 runs' stack, still warm
metrics_urls = [
    f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
    for _, rest_port in stack.replica_ports
]
await run_load(
    stack.grpc_target, requests, concurrency=top["concurrency"], duration=S["warmup_s"]
)
for _ in range(S["engine_runs"]):
    for engine in engines:
        before = os.times()
        if engine == "python":
            report = await run_load(
                stack.grpc_target,
                requests,
                concurrency=top["concurrency"],
                duration=S["engine_s"],
            )
        else:
            report = run_h2load(
                stack.grpc_target,
                requests,
                concurrency=top["concurrency"],
                duration=S["engine_s"],
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
engine_stats = {
    engine: {
        "rps": float(np.median([r.rps for r in reports])),
        "in_flight": float(np.median([in_flight(r) for r in reports])),
        "mean_ms": float(np.median([r.latencies_ms.mean() for r in reports])),
    }
    for engine, reports in engines.items()
}
display(
    markdown_table(
        [
            "engine",
            "runs",
            "req/s (median)",
            "p50 ms",
            "p99 ms",
            "mean ms",
            "in flight (asked)",
            "errors",
            "load generator CPU µs per request",
        ],
        [
            [
                engine,
                len(reports),
                f"{engine_stats[engine]['rps']:,.0f}",
                f"{np.median([r.quantile(50) for r in reports]):.2f}",
                f"{np.median([r.quantile(99) for r in reports]):.2f}",
                f"{engine_stats[engine]['mean_ms']:.2f}",
                f"{engine_stats[engine]['in_flight']:.1f} ({top['concurrency']})",
                sum(sum(r.errors.values()) for r in reports),
                f"{np.median(generator_us[engine]):.0f}",
            ]
            for engine, reports in engines.items()
        ],
    )
)
py, h2 = engine_stats["python"], engine_stats["h2load"]
if h2["rps"] >= py["rps"]:
    reading = (
        "h2load's cheaper client left the replicas more CPU on these shared cores"
    )
elif h2["in_flight"] / py["in_flight"] < py["mean_ms"] / h2["mean_ms"]:
    reading = (
        "h2load lost requests/s because it kept fewer requests in flight: each of its"
        " connections sat idle between one answer and its next request, time that no"
        " latency counts, while the Python engine's workers send again at once"
    )
else:
    reading = "h2load lost requests/s because each of its requests took longer"
print(
    f"The table above: h2load answered {h2['rps'] / py['rps']:.2f}x the Python engine's"
    f" requests/s. It kept {h2['in_flight']:.1f} requests in flight on average against"
    f" the Python engine's {py['in_flight']:.1f} (both asked for {top['concurrency']}),"
    f" a factor of {h2['in_flight'] / py['in_flight']:.2f}, and its requests took"
    f" {h2['mean_ms']:.2f} ms on average against {py['mean_ms']:.2f} ms; Little's law,"
    " requests/s = in flight / mean latency, gives a factor of"
    f" {h2['in_flight'] / py['in_flight'] * py['mean_ms'] / h2['mean_ms']:.2f}."
    f" So {reading}. C10 keeps the Python engine's open-loop runs (latency counted from"
    " when each request was due); this table shows how much a cheaper client moves the"
    " answer."
)

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
        record_profile, stack.processes["replica-0"].pid, S["profile_s"], flame
    )
    loading = asyncio.to_thread(
        run_h2load,
        stack.grpc_target,
        requests,
        concurrency=top["concurrency"],
        duration=S["profile_s"] + 1,
    )
    await asyncio.gather(profiling, loading)
except OSError as error:  # py-spy may not be allowed to attach (ptrace) on this machine
    print(f"no flame graph: {error}")
if flame.exists():
    svg = flame.read_text()
    display(SVG(svg))
    # each bar's tooltip: "function (file:line) (N samples, P%)"
    bars = re.findall(
        r"<title>(\S+) \(.*?\) \(([\d,]+) samples?, [\d.]+%\)</title>", svg
    )
    everything = re.search(r"<title>all \(([\d,]+) samples", svg)
    total = int(everything.group(1).replace(",", "")) if everything else 0
    share = {
        name: sum(int(n.replace(",", "")) for f, n in bars if f == name) / max(total, 1)
        for name in ("Servable.run", "Handle._run", "EpollSelector.select")
    }
    print(
        f"The flame graph above, {total:,} samples: the model call (Servable.run) holds"
        f" {share['Servable.run']:.0%} of them, asyncio's callbacks (Handle._run,"
        f" gRPC's compiled code among them) {share['Handle._run']:.0%}, and the event"
        " loop waiting for work"
        f" (EpollSelector.select) {share['EpollSelector.select']:.0%}."
    )

# %% [markdown]
# ## The article's architecture: replicas, balancer, monitoring
#
# Now two replicas behind nginx, and Prometheus scraping each replica's
# `/monitoring/prometheus/metrics` every second. We send load at three rates in turn, then ask
# Prometheus's HTTP API for the three panels a Grafana dashboard would show (`deploy/grafana`
# has that dashboard): request rate by status, latency quantiles, and requests per replica.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
# the first-ranked batching setting, or TF Serving's default where it had none
stack = stack_for(
    2, top["batching"] if top["batching"] != "none" else "32/1000us", prometheus=True
)
stack.wait_for_scrape()
await run_load(
    stack.grpc_target, requests, duration=0.5, concurrency=4
)  # warm-up, unplotted
time.sleep(S["settle_s"])
t_start = time.time()
phase = S["watch_s"] / 3
watched = {}
for rate in (200, 500, 900):
    watched[rate] = await run_load(
        stack.grpc_target, requests, rate=rate, duration=phase
    )
    print(
        f"{rate} req/s asked: {watched[rate].rps:,.0f} achieved, p99"
        f" {watched[rate].quantile(99):.2f} ms"
    )
time.sleep(S["settle_s"] + 0.5)  # one more scrape
t_end = time.time()


# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
def panel(ax, promql: str, label: str, title: str, scale: float = 1.0) -> dict:
    """One Grafana-style time-series panel from Prometheus's query_range API; returns
    each line's values by its label."""
    lines = {}
    for series in stack.query(promql, start=t_start, end=t_end, step="1s"):
        t, v = np.array(series["values"], dtype=float).T
        lines[label.format(**series["metric"])] = v * scale
        ax.plot(t - t_start, v * scale, label=label.format(**series["metric"]))
    ax.set(title=title, xlabel="seconds")
    ax.legend(fontsize=8)
    return lines


fig, axes = plt.subplots(1, 3, figsize=(14, 3.5))
by_status = panel(
    axes[0],
    'sum by (status) (rate(:tensorflow:serving:request_count{model_name="mnist"}[3s]))',
    "{status}",
    "requests/s by status",
)
quantiles = {}
for q in (0.5, 0.95, 0.99):
    quantiles |= panel(
        axes[1],
        f"histogram_quantile({q}, sum by (le) (rate("
        f':tensorflow:serving:request_latency_bucket{{API="predict"}}[3s])))',
        f"p{int(q * 100)}",
        "server-side latency (ms)",
        scale=1e-3,
    )
by_replica = panel(
    axes[2],
    "sum by (instance) (rate(:tensorflow:serving:request_count[3s]))",
    "{instance}",
    "requests/s by replica (round robin)",
)
plt.show()
replica_totals = {name: float(np.nansum(v)) for name, v in by_replica.items()}
served_share = [
    v / max(sum(replica_totals.values()), 1e-9) for v in replica_totals.values()
]
peak_p99 = float(np.nanmax(quantiles["p99"])) if len(quantiles.get("p99", [])) else 0.0
client_p99 = max(report.quantile(99) for report in watched.values())
print(
    f"The panels above: the peak request rate Prometheus saw was"
    f" {max(float(np.nanmax(v)) for v in by_status.values()):,.0f} req/s (statuses:"
    f" {', '.join(sorted(by_status))}); the replicas took"
    f" {', '.join(f'{share:.0%}' for share in served_share)} of the requests; the"
    f" server-side p99 peaked at {peak_p99:.1f} ms, against the client's worst p99 of"
    f" {client_p99:.1f} ms in the three phases (the client's also counts nginx, the"
    " network stack and its own queue)."
)

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
print(
    f"The figure above: during the rollout {int((rollout.versions == 1).sum()):,}"
    f" answers came from version 1 and {int((rollout.versions == 2).sum()):,} from"
    f" version 2; during the rollback {int((rollback.versions == 2).sum()):,} from 2"
    f" and {int((rollback.versions == 1).sum()):,} from 1, with"
    f" {sum(rollout.errors.values()) + sum(rollback.errors.values())} failed requests"
    " in all."
)
assert not rollout.errors and not rollback.errors

# %% [markdown]
# ## Claims check
#
# C10 is judged on the fresh open-loop runs above at 2,500 offered requests/s, for the
# setting ranked first by its room on both goals (chosen from the sweep, before those runs):
# the throughput's lower bound against 2,000, the p99's upper bound against 15 ms. The
# article's number was for a TF Serving cluster; ours is one machine, named below, a weaker
# setting, so the policy confirms the claim here only if it holds here anyway (a fortiori),
# and otherwise calls it not testable here, naming what the rule said.

# %% tags=["nbval-ignore-output"]
# needs: nginx prometheus
c10_verdict = claims.judge(
    "C10",
    {"throughput": judged["rps"], "p99": judged["p99"]},
    here=here_words,
    setting_ok=False,  # a 2-core machine, not the article's cluster
)
others = [
    f"{setting} at {load:,}: {row['rps'].estimate:,.0f} req/s, p99 up to"
    f" {row['p99'].high:.1f} ms"
    for (setting, load), row in sorted(c10_rows.items())
    if (setting, load) != (top_setting, max(S["c10_loads"]))
]
display(claims_table([
    Claim(
        "C10",
        f"at {max(S['c10_loads']):,} offered req/s: {span(judged['rps'], ',.0f')}"
        f" answered, p99 {span(judged['p99'], '.1f')} ms (counting"
        f" {judged['failed']:.1%} failed requests at {C10_TIMEOUT_S * 1e3:.0f} ms),"
        f" {len(c10_runs[(top_setting, max(S['c10_loads']))])} fresh open-loop runs of"
        f" {S['c10_s']:g} s through nginx ({top_setting}); also "
        + "; ".join(others),
        c10_verdict,
        "The setting with the most room on both goals in the sweep, chosen before these"
        " runs. Python replicas, nginx and the load generator share this machine's"
        f" {os.cpu_count()} cores; the CPU split above shows what a larger machine"
        " would need.",
    ),
]))
parts = {p["part"]: p for p in c10_verdict.record["parts"]}
print(
    f"C10 is {c10_verdict.verdict}: on this machine the rule says"
    f" '{rule_says(parts['throughput'])}' for the throughput (lower bound"
    f" {judged['rps'].low:,.0f} against {RPS_GOAL:,}) and"
    f" '{rule_says(parts['p99'])}' for the p99 (upper bound"
    f" {judged['p99'].high:.1f} ms against {P99_LIMIT_MS:g})."
    f" This chapter ran in {time.perf_counter() - CHAPTER_START:.0f} s in the {PROFILE}"
    " profile."
)

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
# **Exercise 3.** A sweep point is one short run; before you spend time confirming a
# configuration, pick the one a fresh run is least likely to push over an edge. From the
# sweep's rows (dicts with `config`, `rps`, `p99_ms` and `errors`), return the row to
# confirm C10 on: it must meet **both** goals (at least 2,000 requests/s, p99 strictly under
# 15 ms, and no errors), and among those it must have the most room on **both** at once, not
# the most requests/s (a fast point whose p99 sits just under 15 ms has almost no room).
# Decide yourself how to measure room on two goals with different units. Return `None`
# when no row meets both goals.


# %%
def pick_to_confirm(rows: list[dict]) -> dict | None:
    raise NotImplementedError


check.pick_to_confirm(pick_to_confirm, sweep)

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
