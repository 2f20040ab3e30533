"""mnist-course's helper package: plumbing only, the lessons live in the notebooks.

Modules, one concern each: ``data`` (verified MNIST), ``runtime`` (profile, seed, environment),
``models`` (architectures), ``training`` (one training recipe), ``evaluation`` (accuracy,
latency, size), ``robustness`` (harder test sets), ``export`` (SavedModel, TFLite, LiteRT),
``checks`` (exercise checkers), ``claims``
(tables and the claims check), ``plots`` (shared figures), ``notebooks`` (execute, stamp and
audit the course's notebooks).
"""

__version__ = "0.1.0"
