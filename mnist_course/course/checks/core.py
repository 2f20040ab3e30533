"""What every chapter's checkers share: the result type, lenient or strict reporting, running
the learner's function safely, and refusing the package's own function as an answer."""

from __future__ import annotations

import contextlib
import functools
import importlib
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Result:
    """What a checker found: the exercise's name and the problems, if any."""

    exercise: str
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def message(self) -> str:
        if self.passed:
            return f"✓ {self.exercise}: all checks passed."
        lines = [f"✗ {self.exercise}: not there yet."] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        """Already printed by the checker: show nothing more in a notebook."""


class Checker:
    """Base of each chapter's ``Checks``: ``strict=False`` explains and never raises (the
    chapters), ``strict=True`` raises ``AssertionError`` on any problem (the solutions)."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict

    def _report(self, exercise: str, problems: list[str]) -> Result:
        result = Result(exercise, problems)
        print(result.message())
        if self.strict and not result.passed:
            raise AssertionError(result.message())
        return result


def attempt(fn: Callable, *args: Any) -> tuple[Any, str | None]:
    """Call the learner's function; turn an exception into a problem to report."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "not implemented yet: replace the `raise NotImplementedError` with your code."
    except Exception as err:  # the learner's code may fail in any way; report, don't crash
        return None, f"calling it raised {type(err).__name__}: {err}"


def _qualified(fn: Callable) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _uses(obj: Any, targets: dict[int, str], seen: set[int], depth: int = 0) -> str | None:
    """The name of a target that ``obj`` is, or calls by a global name or a module attribute,
    looking into partials, closures and the learner's own helper functions."""
    if id(obj) in targets:
        return targets[id(obj)]
    if depth > 4 or id(obj) in seen:
        return None
    seen.add(id(obj))
    if isinstance(obj, functools.partial):
        return _uses(obj.func, targets, seen, depth + 1)
    code = getattr(obj, "__code__", None)
    if code is None:
        return None
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    scope = dict(getattr(obj, "__globals__", {}))
    for cell in getattr(obj, "__closure__", None) or ():
        with contextlib.suppress(ValueError):  # an empty cell
            found = _uses(cell.cell_contents, targets, seen, depth + 1)
            if found:
                return found
    for name in names:
        value = scope.get(name)
        if id(value) in targets:
            return targets[id(value)]
        if isinstance(value, types.ModuleType):
            for attr in names:
                if id(getattr(value, attr, None)) in targets:
                    return targets[id(getattr(value, attr))]
        elif isinstance(value, types.FunctionType) and value.__globals__ is obj.__globals__:
            found = _uses(value, targets, seen, depth + 1)  # a helper defined beside it
            if found:
                return found
    return None


def borrowed(fn: Callable, *originals: Callable) -> str | None:
    """A problem to report if ``fn`` is, or calls, one of the package's ``originals`` (the
    function the exercise asks the learner to write), else None."""
    found = _uses(fn, {id(o): _qualified(o) for o in originals}, set())
    if found:
        return (f"this uses the course's own `{found}`; the exercise is to write it yourself "
                "(the checker would only be testing the package).")
    return None


@contextlib.contextmanager
def stubbed(*originals: Callable) -> Iterator[None]:
    """Replace the package's ``originals`` in their modules while the learner's code runs,
    so that a call that :func:`borrowed` could not see fails with a message that says so."""
    saved = []
    for original in originals:
        module = importlib.import_module(original.__module__)
        name = _qualified(original)

        def stub(*args, _name=name, **kwargs):
            raise RuntimeError(f"the checker switched off `{_name}` during this exercise: "
                               "write it yourself")

        saved.append((module, original.__name__, original))
        setattr(module, original.__name__, stub)
    try:
        yield
    finally:
        for module, attr, original in saved:
            setattr(module, attr, original)


def attempt_without(originals: tuple[Callable, ...], fn: Callable, *args: Any
                    ) -> tuple[Any, str | None]:
    """:func:`attempt` with the package's ``originals`` refused (:func:`borrowed`) and
    switched off (:func:`stubbed`) while ``fn`` runs."""
    problem = borrowed(fn, *originals)
    if problem:
        return None, problem
    with stubbed(*originals):
        return attempt(fn, *args)


def probe_lenet(n_images: int, epochs: int):
    """A LeNet-5 trained briefly with seed 0 (the same for every learner), and the split."""
    from mnist_course import data, models, training
    from mnist_course.course.profile import seed_everything

    seed_everything(0)
    split = data.load_split()
    model = models.lenet5()
    training.fit(model, data.to_model_input(split.x_train[:n_images]),
                 split.y_train[:n_images], epochs=epochs, progress=False)
    return model, split
