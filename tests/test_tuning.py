"""Search-space helpers (ranges and types of sampled values), the caching objective, the grid,
and the JSON round trip of a search history, resumed."""

import json
import math

import numpy as np
import pytest
from hyperopt import Trials, fmin, rand, tpe
from hyperopt.pyll import stochastic

from mnist_course import tuning


def draws(space, n=500):
    rng = np.random.default_rng(0)
    return [stochastic.sample(space, rng=rng) for _ in range(n)]


def test_article_space_has_the_documented_bugs():
    points = draws(tuning.article_space())
    lrs = np.array([p["lr"] for p in points])
    assert lrs.min() >= math.exp(-5) and lrs.max() <= math.exp(-2)  # e^-5..e^-2, not 1e-5..
    assert isinstance(points[0]["filters"], float)


def test_fixed_space_ranges_and_config_types():
    configs = [tuning.config(p) for p in draws(tuning.search_space())]
    lrs = np.array([c["lr"] for c in configs])
    assert lrs.min() >= 1e-5 * 0.95 and lrs.max() <= 1e-2 * 1.05
    assert np.mean(lrs < 1e-4) > 0.2 and np.mean(lrs > 1e-3) > 0.2  # log-uniform
    assert {c["batch_size"] for c in configs} == {32, 64, 128, 256}
    assert {c["filters"] for c in configs} == {16, 24, 32, 40, 48, 56, 64}
    assert all(isinstance(c["filters"], int) and isinstance(c["batch_size"], int)
               for c in configs)
    assert all(0.1 <= c["dropout"] <= 0.5 for c in configs)


def test_grid_is_complete_and_seeded():
    points = tuning.grid(seed=0)
    assert len(points) == 3 * 2 * 2 * 2
    assert len({tuple(sorted(p.items())) for p in points}) == 24
    assert points == tuning.grid(seed=0) and points != tuning.grid(seed=1)


def fake_train(cfg):
    loss = abs(math.log10(cfg["lr"]) + 3) + cfg["dropout"] + cfg["filters"] / 640
    return {"val_loss": loss, "val_accuracy": 1 - loss / 10, "val_loss_se": loss / 100}


def test_cached_objective_trains_each_configuration_once():
    objective = tuning.CachedObjective(fake_train)
    point = {"lr": 0.00123456, "batch_size": 64, "dropout": 0.2501, "filters": 32.0}
    first = objective(point)
    again = objective({**point, "lr": 0.0012349})  # same configuration after rounding
    assert first == again and objective.calls == 1
    assert first["status"] == "ok" and first["config"]["lr"] == 0.0012
    assert first["val_loss_se"] == first["loss"] / 100  # other numbers passed on
    objective({**point, "batch_size": 128})
    assert objective.calls == 2


def test_best_so_far_and_evaluations_to_reach():
    losses = [0.5, 0.7, 0.3, 0.4, 0.2]
    assert tuning.best_so_far(losses).tolist() == [0.5, 0.5, 0.3, 0.3, 0.2]
    assert tuning.evaluations_to_reach(losses, 0.3) == 3
    assert tuning.evaluations_to_reach(losses, 0.1) is None


@pytest.mark.parametrize("algo", [tpe.suggest, rand.suggest])
def test_trials_json_round_trip_and_resume(algo):
    objective = tuning.CachedObjective(fake_train)
    trials = Trials()
    fmin(objective, tuning.search_space(), algo=algo, max_evals=6, trials=trials,
         rstate=np.random.default_rng(0), show_progressbar=False)
    text = tuning.trials_to_json(trials)
    records = json.loads(text)  # plain JSON, no pickle
    assert [r["tid"] for r in records] == list(range(6))
    reloaded = tuning.trials_from_json(text)
    assert reloaded.losses() == trials.losses()
    assert [t["misc"]["vals"] for t in reloaded.trials] == [
        {k: [float(v) for v in vs] for k, vs in t["misc"]["vals"].items()} for t in trials.trials]
    fmin(objective, tuning.search_space(), algo=algo, max_evals=9, trials=reloaded,
         rstate=np.random.default_rng(1), show_progressbar=False)
    assert len(reloaded.trials) == 9 and reloaded.trials[-1]["tid"] == 8
    assert min(reloaded.losses()) <= min(trials.losses())


def test_ray_tune_runs_the_hyperopt_space_with_data_in_the_object_store(tmp_path):
    """Chapter 02's Ray Tune set-up (skipped in its quick profile): HyperOptSearch over the
    course's space, arrays shipped once with tune.with_parameters, two trials at a time."""
    ray = pytest.importorskip("ray")
    from ray import tune
    from ray.tune.search.hyperopt import HyperOptSearch

    def trainable(params, x=None, y=None):
        cfg = tuning.config(params)
        # a stand-in for training: depends on the config and on the shipped arrays
        tune.report({"val_loss": abs(math.log10(cfg["lr"]) + 3) + float(x.mean() - y.mean()),
                     "filters": cfg["filters"]})

    x, y = np.ones((100, 28, 28, 1), np.float32), np.ones(100, np.float32)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR",
             configure_logging=True)
    try:
        results = tune.Tuner(
            tune.with_parameters(trainable, x=x, y=y),
            tune_config=tune.TuneConfig(
                search_alg=HyperOptSearch(tuning.search_space(), metric="val_loss", mode="min",
                                          random_state_seed=0, n_initial_points=2),
                num_samples=3, max_concurrent_trials=2),
            run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), verbose=0),
        ).fit()
    finally:
        ray.shutdown()
    assert len(results) == 3 and not results.errors
    best = results.get_best_result(metric="val_loss", mode="min")
    losses = [r.metrics["val_loss"] for r in results]
    assert best.metrics["val_loss"] == min(losses) and all(map(math.isfinite, losses))
    assert all(16 <= r.metrics["filters"] <= 64 for r in results)
