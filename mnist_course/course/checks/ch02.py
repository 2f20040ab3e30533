"""Checkers of chapter 02 (Bayesian tuning): search spaces and an early-stopping objective."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""


    @staticmethod
    def _samples(space, n: int = 400) -> list:
        from hyperopt.pyll import stochastic

        rng = np.random.default_rng(0)
        return [stochastic.sample(space, rng=rng) for _ in range(n)]

    def fixed_space(self, fn: Callable[[], dict]) -> Result:
        """``fn()`` returns the article's space with its range bug fixed."""
        from mnist_course import tuning

        space, problem = attempt_without((tuning.search_space,), fn)
        if problem:
            return self._report("fixed_space", [problem])
        try:
            draws = self._samples(space)
        except Exception as err:  # not a Hyperopt space
            return self._report("fixed_space", [f"Hyperopt cannot sample it ({err})."])
        problems = []
        missing = {"lr", "batch_size", "dropout", "filters"} - set(draws[0])
        if missing:
            return self._report("fixed_space", [f"missing keys: {sorted(missing)}."])
        lrs = np.array([d["lr"] for d in draws])
        if lrs.min() < 1e-5 or lrs.max() > 1e-2:
            problems.append(f"lr spans {lrs.min():.2g}..{lrs.max():.2g}, outside [1e-5, 1e-2]: "
                            "hp.loguniform takes natural logarithms of the bounds.")
        elif np.mean(lrs < 1e-4) < 0.2 or np.mean(lrs > 1e-3) < 0.2:
            problems.append("lr should be log-uniform: about a third of draws per decade.")
        if {int(d["batch_size"]) for d in draws} != {32, 64, 128, 256}:
            problems.append("batch_size should be one of 32, 64, 128, 256.")
        drops = np.array([d["dropout"] for d in draws])
        if drops.min() < 0.1 or drops.max() > 0.5 or drops.max() - drops.min() < 0.3:
            problems.append("dropout should be uniform on [0.1, 0.5].")
        if {float(d["filters"]) for d in draws} != {16.0, 24.0, 32.0, 40.0, 48.0, 56.0, 64.0}:
            problems.append("filters should take 16, 24, ..., 64 (hp.quniform with q=8).")
        return self._report("fixed_space", problems)

    def conditional_space(self, fn: Callable[[], dict]) -> Result:
        """``fn()`` returns a space whose ``optimizer`` is adam(lr) or sgd(lr, momentum)."""
        space, problem = attempt(fn)
        if problem:
            return self._report("conditional_space", [problem])
        try:
            optimizers = [d["optimizer"] for d in self._samples(space)]
        except Exception as err:  # not a Hyperopt space, or no 'optimizer' key
            return self._report("conditional_space", [f"cannot sample an 'optimizer' ({err})."])
        problems = []
        names = {o.get("name") for o in optimizers}
        if names != {"adam", "sgd"}:
            problems.append(f"optimizer names drawn: {sorted(map(str, names))}; expected adam "
                            "and sgd.")
        for name, low, high in (("adam", 1e-5, 1e-2), ("sgd", 1e-3, 1e-1)):
            lrs = np.array([o["lr"] for o in optimizers if o.get("name") == name])
            if len(lrs) and (lrs.min() < low or lrs.max() > high):
                problems.append(f"{name}'s lr spans {lrs.min():.2g}..{lrs.max():.2g}, outside "
                                f"[{low:g}, {high:g}].")
        if any("momentum" in o for o in optimizers if o.get("name") == "adam"):
            problems.append("adam should have no momentum parameter: it belongs to sgd only.")
        moms = [o.get("momentum") for o in optimizers if o.get("name") == "sgd"]
        if moms and (None in moms or min(moms) < 0.5 or max(moms) > 0.99):
            problems.append("sgd needs momentum uniform on [0.5, 0.99].")
        return self._report("conditional_space", problems)

    def early_stopping_objective(self, make: Callable) -> Result:
        """``make(train_epoch, max_epochs, patience)`` returns a Hyperopt objective."""
        from hyperopt import STATUS_FAIL, STATUS_OK

        cases = [  # (losses per epoch, patience, max_epochs, expected result)
            ([1.0, 0.8, 0.7, 0.75, 0.76, 0.77, 0.5], 3, 20, {"loss": 0.7, "epochs": 6}),
            ([1.0, 0.9, 0.8, 0.7, 0.6], 3, 4, {"loss": 0.7, "epochs": 4}),
            ([1.0, float("nan"), 0.5], 3, 20, {"status": STATUS_FAIL}),
        ]
        problems = []
        for losses, patience, max_epochs, expected in cases:
            calls = []

            def train_epoch(params, epoch, losses=losses, calls=calls):
                calls.append(epoch)
                return losses[min(epoch, len(losses) - 1)]

            objective, problem = attempt(make, train_epoch, max_epochs, patience)
            if problem:
                return self._report("early_stopping_objective", [problem])
            result, problem = attempt(objective, {"lr": 0.001})
            if problem:
                return self._report("early_stopping_objective", [problem])
            if not isinstance(result, dict):
                return self._report("early_stopping_objective",
                                     ["the objective must return a dict."])
            label = f"losses {losses}, patience {patience}, max_epochs {max_epochs}"
            if "status" in expected:
                if result.get("status") != STATUS_FAIL:
                    problems.append(f"{label}: a non-finite loss should give status "
                                    f"STATUS_FAIL, got {result.get('status')!r}.")
                continue
            if result.get("status") != STATUS_OK:
                problems.append(f"{label}: status should be STATUS_OK ('ok').")
            if result.get("loss") != expected["loss"]:
                problems.append(f"{label}: loss should be the best seen, {expected['loss']}, "
                                f"got {result.get('loss')}.")
            if result.get("epochs") != expected["epochs"] or len(calls) != expected["epochs"]:
                problems.append(f"{label}: should run {expected['epochs']} epochs, ran "
                                f"{len(calls)} and reported {result.get('epochs')}.")
        return self._report("early_stopping_objective", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
