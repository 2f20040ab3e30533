"""mnist-course's helper package: plumbing only, the lessons live in the notebooks.

Modules, one concern each: ``data`` (verified MNIST), ``runtime`` (profile, seed, environment),
``checks`` (exercise checkers), ``claims`` (the claims table), ``plots`` (shared figures),
``notebooks`` (execute, stamp and audit the course's notebooks).
"""

__version__ = "0.1.0"
