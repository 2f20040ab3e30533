"""mnist-course's helper package: plumbing only, the lessons live in the notebooks.

What the chapters teach, one concern a module: ``data`` (verified MNIST), ``models``
(architectures), ``training`` (one training recipe), ``measure`` (accuracy, latency, size),
``report`` (one evaluation report for any classifier), ``robustness`` and ``corruptions``
(harder test sets), ``tuning`` (searches), ``export`` (SavedModel, LiteRT),
``inference_runtimes`` (ONNX Runtime, OpenVINO, TensorRT), ``pruning``, ``diagnostics``,
``fewshot``, ``continual``, ``multimodal``, ``uci`` (the UCI digits), ``plots`` and
``serving`` (a TF Serving stand-in, its stack and load tests).

The course's own machinery lives apart, in ``mnist_course.course``: ``profile`` (profile,
seed, machine), ``notebooks`` (execute, stamp and audit the notebooks), ``claims`` (the
verdict policy), ``ledger`` (the claims ledger) and ``checks`` (the exercises' checkers).
"""

__version__ = "0.1.0"
