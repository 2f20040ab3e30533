"""Model versions as TF Serving manages them: found on disk, loaded, served, unloaded.

A model's base path holds numbered version folders (``models/mnist/1/``). ``ModelManager.sync``
compares what the version policy wants with what is loaded, loads the new versions first and
only then unloads the old ones (TF Serving's availability-preserving order), so some version
always answers. A request keeps a reference to the version it resolved, so unloading never
fails a request already in flight: the retired version's batcher drains before it stops.
"""

from __future__ import annotations

import asyncio
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from time import process_time, thread_time

import numpy as np

from mnist_course.serving.config import Batching, ModelEntry
from mnist_course.serving.metrics import Metrics

log = logging.getLogger("mnist_course.serving")

DEFAULT_SIGNATURE = "serving_default"
MAX_REQUEST_IMAGES = 1024  # without batching: the largest batch one request may send
NUMPY_DTYPES = {"DT_FLOAT": np.float32, "DT_UINT8": np.uint8}  # the inputs our models take

HTTP_CODES = {"OK": 200, "INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "NOT_FOUND": 404,
              "RESOURCE_EXHAUSTED": 429, "UNAVAILABLE": 503, "INTERNAL": 500}


class ServingError(Exception):
    """A request the server refuses: a gRPC status code name and a message for the client."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message

    @property
    def http_status(self) -> int:
        return HTTP_CODES.get(self.code, 500)


@dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: its key, dtype name and shape (-1: any size)."""

    key: str
    dtype: str  # TF Serving's enum name, e.g. "DT_FLOAT"
    shape: tuple[int, ...]


def read_signatures(version_dir: Path):
    """The ``SignatureDefMap`` proto stored in ``version_dir/saved_model.pb``."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2

    saved = saved_model_pb2.SavedModel()
    saved.ParseFromString((version_dir / "saved_model.pb").read_bytes())
    signatures = get_model_metadata_pb2.SignatureDefMap()
    for key, value in saved.meta_graphs[0].signature_def.items():
        if not key.startswith("__"):
            signatures.signature_def[key].CopyFrom(value)
    return signatures


def _specs(tensor_map) -> list[TensorSpec]:
    from tensorflow.core.framework import types_pb2

    return [TensorSpec(key, types_pb2.DataType.Name(info.dtype),
                       tuple(d.size for d in info.tensor_shape.dim))
            for key, info in sorted(tensor_map.items())]


class Servable:
    """One loaded version of one model."""

    def __init__(self, name: str, version: int, path: Path) -> None:
        from mnist_course.course.profile import import_tensorflow

        tf = import_tensorflow()
        self.name, self.version, self.path = name, version, path
        self.signature_map = read_signatures(path)
        self._loaded = tf.saved_model.load(str(path))
        self._functions = {key: self._loaded.signatures[key]
                           for key in self.signature_map.signature_def}
        self._specs: dict[str, tuple[list[TensorSpec], list[TensorSpec]]] = {}
        self.batcher: Batcher | None = None
        self._tf = tf

    def signature(self, key: str) -> tuple[list[TensorSpec], list[TensorSpec]]:
        """Inputs and outputs of signature ``key``, or FAILED_PRECONDITION as TF Serving says."""
        key = key or DEFAULT_SIGNATURE
        if key not in self._specs:
            if key not in self.signature_map.signature_def:
                raise ServingError("FAILED_PRECONDITION",
                                   f'Serving signature key "{key}" not found; this model has '
                                   f"{sorted(self.signature_map.signature_def)}.")
            sig = self.signature_map.signature_def[key]
            self._specs[key] = _specs(sig.inputs), _specs(sig.outputs)
        return self._specs[key]

    def run(self, key: str, x: np.ndarray) -> dict[str, np.ndarray]:
        """Run signature ``key`` on one batch (blocking; called from a worker thread). A check
        inside the graph that fails (a blank canvas, say) is INVALID_ARGUMENT, in its words."""
        inputs, _ = self.signature(key)
        function = self._functions[key or DEFAULT_SIGNATURE]
        try:
            outputs = function(**{inputs[0].key: self._tf.constant(x)})
        except self._tf.errors.InvalidArgumentError as error:
            said = re.search(r"assertion failed: \[([^\]]*)\]", error.message)
            raise ServingError("INVALID_ARGUMENT", said[1] if said else
                               error.message.strip().splitlines()[0]) from None
        return {k: v.numpy() for k, v in outputs.items()}


def run_timed(servable: Servable, key: str, x: np.ndarray, metrics: Metrics):
    """``servable.run``, its CPU counted as the stage ``model``: the whole process's CPU time
    during the call, as TensorFlow runs the graph on threads of its own."""
    cpu = process_time()
    try:
        return servable.run(key, x)
    finally:
        metrics.cpu("model", process_time() - cpu)


def validate(x: np.ndarray, spec: TensorSpec, limit: int) -> np.ndarray:
    """Check a request's tensor against the signature; INVALID_ARGUMENT says what is wrong.
    Float images must lie in [0, 1]; a uint8 input (a canvas) holds 0-255 by its type."""
    expected = NUMPY_DTYPES.get(spec.dtype)
    if expected is not None and x.dtype != expected:
        raise ServingError("INVALID_ARGUMENT", f"input '{spec.key}' expects {spec.dtype} "
                           f"({np.dtype(expected).name}), got {x.dtype}")
    if x.ndim != len(spec.shape) or any(want not in (-1, got)
                                        for want, got in zip(spec.shape, x.shape)):
        raise ServingError("INVALID_ARGUMENT",
                           f"input '{spec.key}' expects shape "
                           f"{[d if d >= 0 else None for d in spec.shape]} "
                           f"(None: any batch size), got {list(x.shape)}")
    if x.shape[0] == 0:
        raise ServingError("INVALID_ARGUMENT", f"input '{spec.key}' holds an empty batch")
    if x.shape[0] > limit:
        raise ServingError("INVALID_ARGUMENT",
                           f"Task size {x.shape[0]} is larger than maximum input batch size "
                           f"{limit}; split the request")
    if spec.dtype != "DT_FLOAT":
        return x
    low, high = x.min(), x.max()  # NaN propagates into both, so one pass finds every problem
    if not (low >= 0.0 and high <= 1.0):
        if not np.isfinite(x).all():
            raise ServingError("INVALID_ARGUMENT",
                               f"input '{spec.key}' holds NaN or infinite pixels")
        raise ServingError("INVALID_ARGUMENT",
                           f"input '{spec.key}' pixels must lie in [0, 1] (divide 8-bit pixels "
                           f"by 255); got {low:g} to {high:g}")
    return x


_STOP = ("stop", None, None)  # queued by Batcher.close after the last request


class Batcher:
    """Server-side dynamic batching: requests wait up to ``batch_timeout_micros`` for others
    to fill a batch of up to ``max_batch_size`` images, which the model then runs in one call;
    ``max_enqueued_batches`` full batches may wait, beyond that requests get UNAVAILABLE."""

    def __init__(self, servable: Servable, settings: Batching, metrics: Metrics) -> None:
        self.servable, self.settings, self.metrics = servable, settings, metrics
        self._queue: asyncio.Queue = asyncio.Queue()
        # One batch thread: the event loop runs each batch itself. That blocks it for one model
        # call but saves a thread hand-off per batch; more threads run batches in a pool.
        self._pool = None if settings.num_batch_threads == 1 else ThreadPoolExecutor(
            settings.num_batch_threads, thread_name_prefix=f"batch-{servable.version}")
        self._slots = asyncio.Semaphore(settings.num_batch_threads)
        self._pending = 0  # images accepted and not yet answered
        self._queued = 0  # images waiting in the queue since the batch being filled started
        self._wanted = 0  # images that would fill that batch (0: not waiting)
        self._filled = asyncio.Event()
        self._closing = False
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def submit(self, key: str, x: np.ndarray) -> dict[str, np.ndarray]:
        limit = self.settings.max_batch_size * self.settings.max_enqueued_batches
        if self._pending + len(x) > limit:
            raise ServingError("UNAVAILABLE", "The batch scheduling queue to which this task "
                               "was submitted is full; retry later")
        if self._closing:  # resolved just before this version was unloaded: run it alone
            return await asyncio.to_thread(run_timed, self.servable, key, x, self.metrics)
        cpu = thread_time()
        future = asyncio.get_running_loop().create_future()
        self._pending += len(x)
        self._queue.put_nowait((key, x, future))
        self._queued += len(x)
        if self._wanted and self._queued >= self._wanted:
            self._filled.set()
        self.metrics.cpu("batching", thread_time() - cpu)
        return await future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        timeout = self.settings.batch_timeout_micros / 1e6
        carry = None
        while True:
            first = carry if carry is not None else await self._queue.get()
            carry = None
            if first is _STOP:  # close() was called and everything before it is done
                break
            batch, size = [first], len(first[1])
            deadline = loop.time() + timeout
            while size < self.settings.max_batch_size:
                if self._queue.empty():
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    self._wanted = self.settings.max_batch_size - size
                    self._queued = 0
                    self._filled.clear()
                    try:  # woken early by submit() once enough images wait
                        await asyncio.wait_for(self._filled.wait(), remaining)
                    except asyncio.TimeoutError:
                        pass
                    self._wanted = 0
                    if self._queue.empty():
                        break
                item = self._queue.get_nowait()
                if item is _STOP or item[0] != first[0] or \
                        item[1].shape[1:] != first[1].shape[1:] or \
                        size + len(item[1]) > self.settings.max_batch_size:
                    carry = item  # starts the next batch (or ends the loop)
                    break
                batch.append(item)
                size += len(item[1])
            await self._slots.acquire()
            loop.create_task(self._run(batch, size))
        for _ in range(self.settings.num_batch_threads):  # wait for the batches in flight
            await self._slots.acquire()
        if self._pool:
            self._pool.shutdown(wait=False)

    async def _run(self, batch: list, size: int) -> None:
        key = batch[0][0]
        try:
            cpu = thread_time()
            x = np.concatenate([item[1] for item in batch]) if len(batch) > 1 else batch[0][1]
            self.metrics.batch(self.servable.name, self.servable.version, size)
            spent = thread_time() - cpu
            if self._pool is None:
                out = run_timed(self.servable, key, x, self.metrics)
            else:
                out = await asyncio.get_running_loop().run_in_executor(
                    self._pool, run_timed, self.servable, key, x, self.metrics)
            cpu, start = thread_time(), 0
            for _, images, future in batch:
                if not future.done():
                    future.set_result({k: v[start:start + len(images)] for k, v in out.items()})
                start += len(images)
            self.metrics.cpu("batching", spent + thread_time() - cpu)
        except ServingError as error:  # a request the graph refused (a blank canvas)
            if len(batch) == 1:
                batch[0][2].set_exception(error)
            else:  # run each alone, so that one bad request does not fail the others
                for key, images, future in batch:
                    try:
                        out = await asyncio.to_thread(run_timed, self.servable, key, images,
                                                      self.metrics)
                        future.set_result(out)
                    except Exception as alone:
                        future.set_exception(alone)
        except Exception as error:  # a failed batch fails its requests, not the server
            log.exception("batch of %d failed", size)
            for *_, future in batch:
                if not future.done():
                    future.set_exception(ServingError("INTERNAL", f"batch failed: {error}"))
        finally:
            self._pending -= size
            self._slots.release()

    async def close(self) -> None:
        """Finish every request already queued, then stop."""
        if not self._closing:
            self._closing = True
            self._queue.put_nowait(_STOP)
        await self._task


class ModelManager:
    """The loaded versions of every model, kept in step with the folders on disk."""

    def __init__(self, entries: list[ModelEntry], batching: Batching | None,
                 metrics: Metrics) -> None:
        self.entries = {entry.name: entry for entry in entries}
        self.batching, self.metrics = batching, metrics
        self.loaded: dict[str, dict[int, Servable]] = {e.name: {} for e in entries}
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="loader")
        self._inline = ThreadPoolExecutor(4, thread_name_prefix="predict")
        self.request_limit = batching.max_batch_size if batching else MAX_REQUEST_IMAGES

    @staticmethod
    def versions_on_disk(base: Path) -> list[int]:
        """Complete version folders: numbered, holding a saved_model.pb (hidden ones are
        exports still being written)."""
        if not base.is_dir():
            return []
        return sorted(int(p.name) for p in base.iterdir()
                      if p.name.isdigit() and (p / "saved_model.pb").exists())

    def wanted(self, entry: ModelEntry) -> list[int]:
        on_disk = self.versions_on_disk(entry.base_path)
        if entry.policy == "all":
            return on_disk
        if entry.policy == "specific":
            return [v for v in on_disk if v in entry.versions]
        return on_disk[-entry.num_versions:]

    async def sync(self) -> None:
        """Load the versions the policy wants, then unload the ones it no longer wants."""
        loop = asyncio.get_running_loop()
        for name, entry in self.entries.items():
            wanted = self.wanted(entry)
            loaded = self.loaded[name]
            for version in wanted:
                if version in loaded:
                    continue
                path = entry.base_path / str(version)
                try:
                    servable = await loop.run_in_executor(self._pool, Servable, name, version,
                                                          path)
                except Exception as error:  # a broken version is reported, not served
                    log.error("could not load %s version %d from %s: %s", name, version, path,
                              error)
                    self.metrics.version_loaded(name, str(path), version, ok=False)
                    continue
                if self.batching:
                    servable.batcher = Batcher(servable, self.batching, self.metrics)
                loaded[version] = servable
                self.metrics.version_loaded(name, str(path), version, ok=True)
                log.info("loaded %s version %d", name, version)
            for version in [v for v in loaded if v not in wanted and wanted]:
                servable = loaded.pop(version)
                self.metrics.version_unloaded(name, version)
                if servable.batcher:
                    await servable.batcher.close()
                log.info("unloaded %s version %d", name, version)

    async def poll(self, seconds: float) -> None:
        """Call ``sync`` every ``seconds`` (TF Serving's ``--file_system_poll_wait_seconds``)."""
        while seconds > 0:
            await asyncio.sleep(seconds)
            await self.sync()

    def resolve(self, name: str, version: int | None = None, label: str = "") -> Servable:
        """The servable a request names: latest by default, else a version or a label."""
        if name not in self.loaded:
            raise ServingError("NOT_FOUND", f"Servable not found for request: Latest({name}); "
                               f"this server has {sorted(self.loaded)}")
        versions = self.loaded[name]
        if label:
            labels = self.entries[name].labels
            if label not in labels:
                raise ServingError("NOT_FOUND", f"Unrecognized servable version label: {label}")
            version = labels[label]
        if version is None:
            if not versions:
                raise ServingError("UNAVAILABLE", f"no version of {name} is loaded yet")
            return versions[max(versions)]
        if version not in versions:
            raise ServingError("NOT_FOUND", f"Servable not found for request: "
                               f"Specific({name}, {version}); loaded: {sorted(versions)}")
        return versions[version]

    async def predict(self, servable: Servable, key: str, x: np.ndarray):
        if servable.batcher:
            return await servable.batcher.submit(key, x)
        return await asyncio.get_running_loop().run_in_executor(self._inline, run_timed,
                                                                servable, key, x, self.metrics)

    async def close(self) -> None:
        for versions in self.loaded.values():
            for servable in versions.values():
                if servable.batcher:
                    await servable.batcher.close()
        self._pool.shutdown(wait=False)
        self._inline.shutdown(wait=False)

