"""Hyperparameter search with Hyperopt: the article's search space (and its bugs), a grid
over the same space, an objective that never trains one configuration twice, and the search
history as JSON that can be reloaded to resume a search."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Callable

import numpy as np
from hyperopt import STATUS_OK, Trials, hp

BATCH_SIZES = (32, 64, 128, 256)


def article_space() -> dict:
    """The article's space, verbatim in meaning, bugs included (for the pitfalls section):
    ``loguniform(-5, -2)`` spans e^-5..e^-2 (0.0067..0.135), not 1e-5..1e-2, and
    ``quniform`` returns floats such as 16.0."""
    return {
        "lr": hp.loguniform("lr", -5, -2),
        "batch_size": hp.choice("batch_size", list(BATCH_SIZES)),
        "dropout": hp.uniform("dropout", 0.1, 0.5),
        "filters": hp.quniform("filters", 16, 64, 8),
    }


def search_space() -> dict:
    """The same space, fixed: learning rate log-uniform on [1e-5, 1e-2]; ``filters`` is still
    a float from ``quniform`` and is made an int by :func:`config`."""
    return {
        "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-2)),
        "batch_size": hp.choice("batch_size", list(BATCH_SIZES)),
        "dropout": hp.uniform("dropout", 0.1, 0.5),
        "filters": hp.quniform("filters", 16, 64, 8),
    }


def config(params: dict) -> dict:
    """A sampled point as a concrete configuration: integer filters and batch size, the
    learning rate to 2 significant digits and dropout to 0.01 (so that points closer than
    that count as the same configuration and are trained once)."""
    return {
        "lr": float(f"{params['lr']:.2g}"),
        "batch_size": int(params["batch_size"]),
        "dropout": round(float(params["dropout"]), 2),
        "filters": int(params["filters"]),
    }


def grid(lrs=(1e-4, 1e-3, 1e-2), batch_sizes=(32, 256), dropouts=(0.1, 0.5),
         filters=(16, 64), seed: int = 0) -> list[dict]:
    """Every combination of the given values, in a seeded random order (a grid has no natural
    order, and listing it lexicographically would favour whatever comes first)."""
    points = [dict(zip(("lr", "batch_size", "dropout", "filters"), combo))
              for combo in itertools.product(lrs, batch_sizes, dropouts, filters)]
    order = np.random.default_rng(seed).permutation(len(points))
    return [config(points[i]) for i in order]


class CachedObjective:
    """Wraps ``train(config) -> {"val_loss": ..., "val_accuracy": ..., ...}`` as a Hyperopt
    objective returning ``{"loss": val_loss, "status": STATUS_OK, ...}`` (every other number
    ``train`` returns is passed on, a standard error say), training each distinct
    configuration once per run (``calls`` counts real trainings)."""

    def __init__(self, train: Callable[[dict], dict]) -> None:
        self.train, self.cache, self.calls = train, {}, 0

    def __call__(self, params: dict) -> dict:
        cfg = config(params)
        key = tuple(sorted(cfg.items()))
        if key not in self.cache:
            self.calls += 1
            self.cache[key] = self.train(cfg)
        metrics = self.cache[key]
        extra = {k: float(v) for k, v in metrics.items() if k != "val_loss"}
        return {"loss": float(metrics["val_loss"]), "status": STATUS_OK, **extra,
                "config": cfg}


def best_so_far(values, larger_is_better: bool = False) -> np.ndarray:
    """Running best of a sequence of results, in evaluation order."""
    values = np.asarray(values, dtype=float)
    return np.maximum.accumulate(values) if larger_is_better else np.minimum.accumulate(values)


def evaluations_to_reach(losses, target: float) -> int | None:
    """1-based number of evaluations after which the best loss is at or below ``target``;
    None if the budget never reaches it."""
    hits = np.flatnonzero(best_so_far(losses) <= target + 1e-12)
    return int(hits[0]) + 1 if len(hits) else None


# -- the search history as JSON ------------------------------------------------------------

def trials_to_json(trials: Trials) -> str:
    """The finished evaluations of a Hyperopt ``Trials``: id, sampled values, result."""
    records = []
    for trial in trials.trials:
        records.append({
            "tid": int(trial["tid"]),
            "state": int(trial["state"]),
            "vals": {k: [float(v) for v in vs] for k, vs in trial["misc"]["vals"].items()},
            "result": json.loads(json.dumps(trial["result"], default=float)),
        })
    return json.dumps(records, indent=1)


def trials_from_json(text: str) -> Trials:
    """Rebuild a ``Trials`` from :func:`trials_to_json`; pass it to ``fmin`` with a larger
    ``max_evals`` to resume the search where it stopped."""
    records = json.loads(text)
    trials = Trials()
    miscs = [{
        "tid": r["tid"], "cmd": ("domain_attachment", "FMinIter_Domain"), "workdir": None,
        "idxs": {k: [r["tid"]] * len(v) for k, v in r["vals"].items()},
        "vals": {k: list(v) for k, v in r["vals"].items()},
    } for r in records]
    docs = trials.new_trial_docs([r["tid"] for r in records], [None] * len(records),
                                 [r["result"] for r in records], miscs)
    for doc, record in zip(docs, records):
        doc["state"] = record["state"]
    trials.insert_trial_docs(docs)
    trials.refresh()
    return trials


def ray_init(temp_dir, num_cpus: int = 2) -> str:
    """Start Ray for a search, or join a cluster: with ``RAY_ADDRESS`` set (``HOST:6379``
    of a running ``ray start --head``, or ``ray://HOST:10001``), connect to that cluster,
    whose nodes then run the trials; otherwise start Ray on this machine with ``num_cpus``
    CPUs and its session files in ``temp_dir``. Returns a sentence saying which it did."""
    import os

    import ray

    quiet = {"log_to_driver": False, "logging_level": "ERROR", "configure_logging": True}
    address = os.environ.get("RAY_ADDRESS", "").strip()
    if address:
        ray.init(address=address, **quiet)
        nodes = [n for n in ray.nodes() if n["Alive"]]
        cpus = sum(n["Resources"].get("CPU", 0) for n in nodes)
        return (f"Ray: joined the cluster at {address} (RAY_ADDRESS): {len(nodes)} node(s), "
                f"{cpus:g} CPUs")
    ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=str(temp_dir), **quiet)
    return (f"Ray: started on this machine with {num_cpus} CPUs (set RAY_ADDRESS to run the "
            "trials on a cluster)")
