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
# # 07a · Few-shot learning: solutions
#
# The exercises of chapter 07a, solved, with strict checkers: a wrong answer raises.

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
from mnist_course.course.profile import (
    active_profile,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import numpy as np

from mnist_course.course.checks.ch07a import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** Group the support embeddings by label (not by position: episodes may list
# them in any order), average each group, then expand the squared distance
# `|q - p|^2 = |q|^2 - 2 q.p + |p|^2` so that one matrix product does all pairs at once.


# %%
def prototype_logits(
    support: np.ndarray, support_labels: np.ndarray, queries: np.ndarray, n_way: int
) -> np.ndarray:
    support, queries = np.asarray(support, float), np.asarray(queries, float)
    protos = np.stack(
        [support[support_labels == way].mean(axis=0) for way in range(n_way)]
    )
    squared = (
        (queries**2).sum(axis=1, keepdims=True)
        - 2 * queries @ protos.T
        + (protos**2).sum(axis=1)
    )
    return -squared


check.prototype_logits(prototype_logits)

# %% [markdown]
# **Exercise 2.** Check the request first, then one draw without replacement of
# `k_shot + n_query` indices: the first `k_shot` are the support, the rest the queries, so
# no index can be in both. All randomness comes from `rng`, which makes the split
# reproducible for a seed.


# %%
def split_support_query(
    indices: np.ndarray, k_shot: int, n_query: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    if k_shot + n_query > len(indices):
        raise ValueError(
            f"{k_shot} shots + {n_query} queries asked of a class with only "
            f"{len(indices)} images"
        )
    drawn = rng.choice(np.asarray(indices), size=k_shot + n_query, replace=False)
    return drawn[:k_shot], drawn[k_shot:]


check.split_support_query(split_support_query)

# %% [markdown]
# **Exercise 3.** Normalise queries and prototypes to unit length; their dot products are
# then the cosine similarities. The chapter compares the two distances on ProtoNet's
# embedding over the same episodes.


# %%
def cosine_logits(queries: np.ndarray, protos: np.ndarray) -> np.ndarray:
    q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    p = protos / np.linalg.norm(protos, axis=1, keepdims=True)
    return q @ p.T


check.cosine_logits(cosine_logits)
