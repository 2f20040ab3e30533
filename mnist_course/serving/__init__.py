"""Serving MNIST the TF Serving way, on machines without Docker.

- ``config``: TF Serving's flags and text-format config files.
- ``models``: version folders, loading, the version policy, dynamic batching.
- ``server``: the gRPC and REST APIs (``python -m mnist_course.serving --help``).
- ``metrics``: Prometheus metrics in TF Serving's names.
- ``client``: small gRPC and REST clients, pointed by ``TF_SERVING_GRPC`` / ``TF_SERVING_REST``.
- ``loadtest``: a bounded, loopback-only load generator
  (``python -m mnist_course.serving.loadtest``).
- ``stack``: N replicas behind nginx (gRPC balancer), scraped by Prometheus.

Nothing here imports TensorFlow until a submodule is used.
"""
