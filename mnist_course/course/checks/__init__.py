"""Exercise checkers, one module per chapter (``ch00`` ... ``ch04b``) on a small ``core``.

A chapter imports ``check`` from its module: it explains what is missing and never raises,
so a learner can run the notebook top to bottom with exercises still open. Its solutions
notebook imports ``strict_check``: the same tests, but a failure raises ``AssertionError``::

    from mnist_course.course.checks.ch01 import check
    check.se_block(my_se_block)

Each checker tries the learner's function on inputs whose right answer it knows and prints
one line per problem. Where the exercise is to write something the package already has,
the checker refuses the package's own function and switches it off while the learner's code
runs (``core.attempt_without``).

This file imports nothing, so a notebook depends only on its own chapter's checkers.
"""
