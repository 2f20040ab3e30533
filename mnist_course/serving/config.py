"""TF Serving's command-line flags and config files, read the way TF Serving reads them.

One command line and one set of files work with ``tensorflow_model_server`` and with
``python -m mnist_course.serving``: the flags keep TF Serving's names and the files its protobuf
text format. ``--model_config_file`` is parsed with the official ``ModelServerConfig`` proto
from ``tensorflow-serving-api``; that wheel does not ship the monitoring and batching protos,
so the few messages they need are declared here with the same field names.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import (
    descriptor_pb2,
    descriptor_pool,
    message_factory,
    text_format,
    wrappers_pb2,
)

DEFAULT_METRICS_PATH = "/monitoring/prometheus/metrics"


def _declare_messages() -> dict[str, type]:
    """``BatchingParameters`` and ``MonitoringConfig`` with TF Serving's field names."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="mnist_course/serving_config.proto", package="tensorflow.serving",
        syntax="proto3", dependency=["google/protobuf/wrappers.proto"])
    T = descriptor_pb2.FieldDescriptorProto

    def add(message, name, number, kind, type_name="", repeated=False):
        added = message.field.add(name=name, number=number, type=kind,
                                  label=T.LABEL_REPEATED if repeated else T.LABEL_OPTIONAL)
        if type_name:
            added.type_name = type_name

    batching = proto.message_type.add(name="BatchingParameters")
    int64 = ".google.protobuf.Int64Value"
    for number, name in enumerate(("max_batch_size", "batch_timeout_micros",
                                   "max_enqueued_batches", "num_batch_threads"), start=1):
        add(batching, name, number, T.TYPE_MESSAGE, int64)
    add(batching, "thread_pool_name", 5, T.TYPE_MESSAGE, ".google.protobuf.StringValue")
    add(batching, "allowed_batch_sizes", 6, T.TYPE_INT64, repeated=True)
    add(batching, "pad_variable_length_inputs", 7, T.TYPE_BOOL)
    add(batching, "enable_large_batch_splitting", 8, T.TYPE_MESSAGE, ".google.protobuf.BoolValue")
    add(batching, "max_execution_batch_size", 9, T.TYPE_MESSAGE, int64)

    prometheus = proto.message_type.add(name="PrometheusConfig")
    add(prometheus, "enable", 1, T.TYPE_BOOL)
    add(prometheus, "path", 2, T.TYPE_STRING)
    monitoring = proto.message_type.add(name="MonitoringConfig")
    add(monitoring, "prometheus_config", 1, T.TYPE_MESSAGE, ".tensorflow.serving.PrometheusConfig")

    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(proto.SerializeToString())
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"tensorflow.serving.{name}")) for name in ("BatchingParameters", "MonitoringConfig")}


_MESSAGES = _declare_messages()
BatchingParameters = _MESSAGES["BatchingParameters"]
MonitoringConfig = _MESSAGES["MonitoringConfig"]


class ConfigError(ValueError):
    """A config file that TF Serving would refuse too; the message names the file."""


def read_text_proto(path: str | Path, message):
    """Parse ``path`` (protobuf text format) into ``message`` and return it."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    try:
        return text_format.Parse(text, message)
    except text_format.ParseError as error:
        raise ConfigError(f"{path}: {error} (TF Serving's text format, "
                          f"message {message.DESCRIPTOR.full_name})") from None


@dataclass(frozen=True)
class Batching:
    """The batching settings the server uses (TF Serving's defaults where a field is unset)."""

    max_batch_size: int = 32
    batch_timeout_micros: int = 1000
    max_enqueued_batches: int = 100
    num_batch_threads: int = 1

    @classmethod
    def from_file(cls, path: str | Path | None) -> Batching:
        if not path:
            return cls()
        params = read_text_proto(path, BatchingParameters())
        values = {name: getattr(params, name).value for name in cls.__dataclass_fields__
                  if params.HasField(name)}
        batching = cls(**values)
        if batching.max_batch_size < 1 or batching.num_batch_threads < 1:
            raise ConfigError(f"{path}: max_batch_size and num_batch_threads must be >= 1")
        return batching

    def to_text(self) -> str:
        """The same settings as a ``--batching_parameters_file`` for either server."""
        return "".join(f"{name} {{ value: {getattr(self, name)} }}\n"
                       for name in self.__dataclass_fields__)


def metrics_path(monitoring_config_file: str | Path | None) -> str | None:
    """The Prometheus path that ``--monitoring_config_file`` enables, or None (TF Serving's rule:
    no file, or ``enable: false``, means no metrics endpoint)."""
    if not monitoring_config_file:
        return None
    config = read_text_proto(monitoring_config_file, MonitoringConfig()).prometheus_config
    return (config.path or DEFAULT_METRICS_PATH) if config.enable else None


@dataclass(frozen=True)
class ModelEntry:
    """One model to serve: its name, folder of versions and version policy."""

    name: str
    base_path: Path
    policy: str = "latest"  # "latest", "all" or "specific"
    num_versions: int = 1
    versions: tuple[int, ...] = ()
    labels: dict[str, int] = field(default_factory=dict)


def read_model_config(path: str | Path) -> list[ModelEntry]:
    """The models of a ``--model_config_file`` (``ModelServerConfig``, text format)."""
    from tensorflow_serving.config import model_server_config_pb2

    config = read_text_proto(path, model_server_config_pb2.ModelServerConfig())
    entries = []
    for model in config.model_config_list.config:
        policy = model.model_version_policy
        kind = policy.WhichOneof("policy_choice") or "latest"
        entries.append(ModelEntry(
            name=model.name, base_path=(Path(path).parent / model.base_path).resolve(),
            policy=kind, num_versions=max(1, policy.latest.num_versions or 1),
            versions=tuple(policy.specific.versions), labels=dict(model.version_labels)))
    if not entries:
        raise ConfigError(f"{path}: model_config_list lists no model")
    return entries


def flag_parser() -> argparse.ArgumentParser:
    """TF Serving's flags (the subset this server implements), with TF Serving's defaults."""
    parser = argparse.ArgumentParser(
        prog="python -m mnist_course.serving",
        description="Serve SavedModels over TF Serving's gRPC and REST APIs "
                    "(flags and config files as tensorflow_model_server takes them).")
    add = parser.add_argument
    add("--port", type=int, default=8500, help="gRPC port (0: pick a free one)")
    add("--rest_api_port", type=int, default=0,
        help="REST port (0: no REST API, as TF Serving; -1: pick a free one, this server's own)")
    add("--model_name", default="default", help="name of the model in requests")
    add("--model_base_path", help="folder holding numbered version folders")
    add("--model_config_file", help="ModelServerConfig text file (instead of name/base path)")
    add("--enable_batching", type=_boolean, nargs="?", const=True, default=False,
        help="server-side dynamic batching")
    add("--batching_parameters_file", help="BatchingParameters text file")
    add("--monitoring_config_file", help="MonitoringConfig text file (Prometheus endpoint)")
    add("--file_system_poll_wait_seconds", type=float, default=1.0,
        help="how often to look for new or removed versions (0: only at start)")
    add("--tensorflow_intra_op_parallelism", type=int, default=0)
    add("--tensorflow_inter_op_parallelism", type=int, default=0)
    add("--host", default="127.0.0.1",
        help="address to bind (not a TF Serving flag; it binds 0.0.0.0)")
    add("--port_file", help="once serving, write the bound ports to this file as JSON "
        '{"grpc": ..., "rest": ...}, for ports picked with 0 or -1 (not a TF Serving flag)')
    return parser


def _boolean(text: str) -> bool:
    if text.lower() in ("1", "true", "yes"):
        return True
    if text.lower() in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def model_entries(args: argparse.Namespace) -> list[ModelEntry]:
    """The models that the parsed flags ask for."""
    if args.model_config_file:
        return read_model_config(args.model_config_file)
    if not args.model_base_path:
        raise ConfigError("give --model_base_path (with --model_name) or --model_config_file")
    return [ModelEntry(args.model_name, Path(args.model_base_path).resolve())]
