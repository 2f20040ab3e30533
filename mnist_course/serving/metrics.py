"""Prometheus metrics in TF Serving's names, written in Prometheus's text format.

TF Serving exports ``:tensorflow:serving:request_count{model_name,status}`` and the histogram
``:tensorflow:serving:request_latency{model_name,API,entrypoint}`` in microseconds, with buckets
10 * 1.8^k, and ``:tensorflow:cc:saved_model:load_attempt_count{model_path,status}``; a dashboard
built on these names works with either server. The batch-size histogram, the loaded-version
gauge and the CPU seconds spent in each stage of a request are this server's own (prefixed
``:mnist_course:``), for the batching and cost lessons.

Label values can come from clients (a model name in a gRPC request or a URL). Two rules keep
any request from breaking a scrape: every value is escaped as the text format requires
(backslash, double quote and newline), and a request for a model the server does not serve
is counted under the one value :data:`UNKNOWN_MODEL`, so that no client can add series
without bound.
"""

from __future__ import annotations

import bisect
import functools
import threading
import time
from collections import defaultdict
from collections.abc import Iterable

LATENCY_BUCKETS_US = tuple(round(10 * 1.8 ** k, 1) for k in range(33))
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
#: the model_name of requests for a model this server does not serve
UNKNOWN_MODEL = "__unknown__"
#: the stages whose CPU time a server counts; ``process`` is all of the process's CPU time,
#: so what the stages leave of it is gRPC's and asyncio's own machinery (and anything else)
STAGES = ("decode", "convert", "batching", "model", "respond")


class Histogram:
    """Cumulative-bucket histogram of one label set."""

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value

    def lines(self, name: str, labels: str) -> list[str]:
        out, running = [], 0
        sep = "," if labels else ""
        for bound, count in zip(self.buckets + ("+Inf",), self.counts):
            running += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{bound}"}} {running}')
        out += [f"{name}_sum{{{labels}}} {self.total}", f"{name}_count{{{labels}}} {running}"]
        return out


def escape(value: object) -> str:
    """A label value as the text exposition format writes it: backslash, double quote and
    newline each escaped with a backslash (a newline as backslash-n)."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@functools.lru_cache(maxsize=1024)
def _label_text(items: tuple) -> str:
    return ",".join(f'{key}="{escape(value)}"' for key, value in items)


def _labels(**labels: object) -> str:
    return _label_text(tuple(labels.items()))


class Metrics:
    """All metrics of one server process; thread-safe, rendered on each scrape."""

    def __init__(self, models: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self.models = frozenset(models)  # the names served; others count as UNKNOWN_MODEL
        self.requests: dict[str, int] = defaultdict(int)
        self.latency: dict[str, Histogram] = {}
        self.batch_size: dict[str, Histogram] = {}
        self.loads: dict[str, int] = defaultdict(int)
        self.loaded: dict[tuple[str, int], int] = {}
        self.stage_cpu = dict.fromkeys(STAGES, 0.0)

    def request(self, model: str, status: str, api: str, entrypoint: str, seconds: float) -> None:
        model = model if model in self.models else UNKNOWN_MODEL
        with self._lock:
            self.requests[_labels(model_name=model, status=status)] += 1
            key = _labels(model_name=model, API=api, entrypoint=entrypoint)
            self.latency.setdefault(key, Histogram(LATENCY_BUCKETS_US)).observe(seconds * 1e6)

    def batch(self, model: str, version: int, size: int) -> None:
        with self._lock:
            key = _labels(model_name=model, version=version)
            self.batch_size.setdefault(key, Histogram(BATCH_BUCKETS)).observe(size)

    def cpu(self, stage: str, seconds: float) -> None:
        """Count ``seconds`` of CPU time against ``stage`` (one of :data:`STAGES`)."""
        with self._lock:
            self.stage_cpu[stage] += seconds

    def version_loaded(self, model: str, path: str, version: int, ok: bool) -> None:
        with self._lock:
            self.loads[_labels(model_path=path, status="success" if ok else "error")] += 1
            if ok:
                self.loaded[(model, version)] = 1

    def version_unloaded(self, model: str, version: int) -> None:
        with self._lock:
            self.loaded[(model, version)] = 0

    def render(self) -> str:
        """The text exposition format that Prometheus scrapes."""
        with self._lock:
            loaded = {_labels(model_name=m, version=v): state
                      for (m, v), state in self.loaded.items()}
            families = [(":tensorflow:serving:request_count", "counter", self.requests),
                        (":tensorflow:serving:request_latency", "histogram", self.latency),
                        (":tensorflow:cc:saved_model:load_attempt_count", "counter", self.loads),
                        (":mnist_course:serving:batch_size", "histogram", self.batch_size),
                        (":mnist_course:serving:version_loaded", "gauge", loaded),
                        (":mnist_course:serving:cpu_seconds", "counter",
                         {_labels(stage=stage): seconds for stage, seconds in
                          [*self.stage_cpu.items(), ("process", time.process_time())]})]
            lines = []
            for name, kind, series in families:
                lines.append(f"# TYPE {name} {kind}")
                for key, value in sorted(series.items()):
                    lines += value.lines(name, key) if kind == "histogram" else \
                        [f"{name}{{{key}}} {value}"]
        return "\n".join(lines) + "\n"
