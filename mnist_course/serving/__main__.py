"""``python -m mnist_course.serving``: TF Serving's command line, served by this package."""

from __future__ import annotations

import asyncio
import logging
import sys

from mnist_course.serving.config import (
    Batching,
    ConfigError,
    flag_parser,
    metrics_path,
    model_entries,
)


def main(argv: list[str] | None = None) -> int:
    args = flag_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        stream=sys.stderr)
    try:
        entries = model_entries(args)
        batching = Batching.from_file(args.batching_parameters_file) \
            if args.enable_batching else None
        path = metrics_path(args.monitoring_config_file)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for entry in entries:
        if not entry.base_path.is_dir():
            print(f"error: model base path {entry.base_path} does not exist; export a version "
                  f"first (mnist_course.export.export_saved_model)", file=sys.stderr)
            return 2
    from mnist_course.course.profile import import_tensorflow

    tf = import_tensorflow()
    if args.tensorflow_intra_op_parallelism:
        tf.config.threading.set_intra_op_parallelism_threads(args.tensorflow_intra_op_parallelism)
    if args.tensorflow_inter_op_parallelism:
        tf.config.threading.set_inter_op_parallelism_threads(args.tensorflow_inter_op_parallelism)
    from mnist_course.serving.server import serve

    asyncio.run(serve(entries, host=args.host, port=args.port, rest_api_port=args.rest_api_port,
                      batching=batching, metrics_path=path,
                      poll_seconds=args.file_system_poll_wait_seconds,
                      port_file=args.port_file))
    return 0


if __name__ == "__main__":
    sys.exit(main())
