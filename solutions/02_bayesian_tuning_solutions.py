# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Bayesian tuning with Hyperopt: solutions
#
# The exercises of chapter 02, solved, with strict checkers: a wrong answer raises.

# %%
# Colab set-up: on Google Colab, fetch this course; anywhere else, do nothing.
import sys

if "google.colab" in sys.modules:
    url = "https://github.com/mnist-course/mnist-course"
    # !git clone --quiet --depth 1 --branch main $url /content/mnist-course
    # %pip install --quiet -e /content/mnist-course
    sys.path.insert(0, "/content/mnist-course")  # no restart needed
    # %cd /content/mnist-course/solutions

# %%
import math

from hyperopt import STATUS_FAIL, STATUS_OK, hp

from mnist_course.course.checks.ch02 import strict_check as check
from mnist_course.course.profile import active_profile

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** `hp.loguniform` takes the logarithms of the bounds.


# %%
def fixed_space() -> dict:
    return {
        "lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-2)),
        "batch_size": hp.choice("batch_size", [32, 64, 128, 256]),
        "dropout": hp.uniform("dropout", 0.1, 0.5),
        "filters": hp.quniform("filters", 16, 64, 8),
    }


check.fixed_space(fixed_space)

# %% [markdown]
# **Exercise 2.** `hp.choice` over two dicts: each branch has its own parameters, with their
# own labels, so TPE models each learning rate separately.


# %%
def conditional_space() -> dict:
    return {
        "optimizer": hp.choice(
            "optimizer",
            [
                {
                    "name": "adam",
                    "lr": hp.loguniform("adam_lr", math.log(1e-5), math.log(1e-2)),
                },
                {
                    "name": "sgd",
                    "lr": hp.loguniform("sgd_lr", math.log(1e-3), math.log(1e-1)),
                    "momentum": hp.uniform("sgd_momentum", 0.5, 0.99),
                },
            ],
        ),
    }


check.conditional_space(conditional_space)

# %% [markdown]
# **Exercise 3.** Track the best loss and how many epochs ago it improved; a NaN or an
# infinity means the run diverged, which Hyperopt should record as a failure, not a loss.


# %%
def early_stopping_objective(train_epoch, max_epochs: int = 20, patience: int = 3):
    def objective(params: dict) -> dict:
        best, since_best, epochs = math.inf, 0, 0
        for epoch in range(max_epochs):
            loss = train_epoch(params, epoch)
            epochs += 1
            if not math.isfinite(loss):
                return {"status": STATUS_FAIL, "epochs": epochs}
            if loss < best:
                best, since_best = loss, 0
            else:
                since_best += 1
                if since_best >= patience:
                    break
        return {"loss": best, "status": STATUS_OK, "epochs": epochs}

    return objective


check.early_stopping_objective(early_stopping_objective)
