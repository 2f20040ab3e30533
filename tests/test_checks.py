"""Exercise checkers: lenient in chapters (explain, never raise), strict in solutions."""

import time

import numpy as np
import pytest

from mnist_course.course.checks import ch00, ch01, ch02, ch03, ch04a, ch06, ch07a, ch07b, ch07c


def right_count(labels):
    return np.bincount(labels, minlength=10)


def wrong_count(labels):
    return np.bincount(labels)  # no minlength: too short when 9 never occurs


def right_input(images):
    return (images.astype(np.float32) / 255.0)[..., None]


def no_channel(images):
    return images.astype(np.float32) / 255.0


def right_means(images, labels):
    return np.stack([images[labels == d].mean(axis=0) for d in range(10)])


def rounded_means(images, labels):
    return right_means(images, labels).astype(np.uint8)


def stub(*args):
    raise NotImplementedError


EXERCISES = [
    ("count_classes", right_count, wrong_count),
    ("to_model_input", right_input, no_channel),
    ("class_means", right_means, rounded_means),
]


@pytest.mark.parametrize("name,right,wrong", EXERCISES)
def test_lenient_explains_without_raising(name, right, wrong, capsys):
    assert getattr(ch00.check, name)(right).passed
    assert "all checks passed" in capsys.readouterr().out
    for bad in (wrong, stub):
        result = getattr(ch00.check, name)(bad)
        assert not result.passed and result.problems
        assert "not there yet" in capsys.readouterr().out


@pytest.mark.parametrize("name,right,wrong", EXERCISES)
def test_strict_raises_on_wrong_answer(name, right, wrong):
    assert getattr(ch00.strict_check, name)(right).passed
    for bad in (wrong, stub):
        with pytest.raises(AssertionError, match=name):
            getattr(ch00.strict_check, name)(bad)


def test_messages_say_what_is_missing(capsys):
    assert "not implemented yet" in ch00.check.count_classes(stub).problems[0]
    assert "here 9" in ch00.check.count_classes(wrong_count).problems[0]
    assert "counts are wrong" in ch00.check.count_classes(lambda y: right_count(y) + 1).problems[0]
    assert "float32" in " ".join(ch00.check.to_model_input(lambda x: x[..., None]).problems)
    assert "(4, 28, 28, 1)" in ch00.check.to_model_input(no_channel).problems[0]
    assert "rounded" in ch00.check.class_means(rounded_means).problems[0]
    assert "ZeroDivisionError" in ch00.check.count_classes(lambda labels: 1 / 0).problems[0]


# -- chapter 01 ----------------------------------------------------------------------------

def right_separable(k, c_in, c_out):
    return k * k * c_in + c_in + c_in * c_out + c_out


def test_separable_params_modes():
    assert ch01.check.separable_params(right_separable).passed
    no_bias = ch01.check.separable_params(lambda k, c_in, c_out: k * k * c_in + c_in * c_out)
    assert not no_bias.passed and "biases" in no_bias.problems[0]
    with pytest.raises(AssertionError, match="separable_params"):
        ch01.strict_check.separable_params(lambda k, c_in, c_out: k * k * c_in * c_out + c_out)
    assert "not implemented" in ch01.check.separable_params(stub).problems[0]


def good_se(x, ratio=16):
    import keras

    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D()(x)
    s = keras.layers.Dense(max(4, channels // ratio), activation="relu")(s)
    s = keras.layers.Dense(channels, activation="sigmoid")(s)
    return keras.layers.Multiply()([x, keras.layers.Reshape((1, 1, channels))(s)])


def no_sigmoid_se(x, ratio=16):
    import keras

    channels = x.shape[-1]
    s = keras.layers.GlobalAveragePooling2D()(x)
    s = keras.layers.Dense(max(4, channels // ratio), activation="relu")(s)
    s = keras.layers.Dense(channels)(s)
    return keras.layers.Multiply()([x, keras.layers.Reshape((1, 1, channels))(s)])


def test_se_block_modes():
    assert ch01.check.se_block(good_se).passed
    assert "parameters" in ch01.check.se_block(lambda x, ratio: x).problems[0]
    bad = ch01.check.se_block(no_sigmoid_se)
    assert not bad.passed and "sigmoid" in bad.problems[0]
    with pytest.raises(AssertionError, match="se_block"):
        ch01.strict_check.se_block(no_sigmoid_se)
    assert "not implemented" in ch01.check.se_block(stub).problems[0]


def test_budget_model_rejects_before_training():
    from mnist_course import models

    over = ch01.check.budget_model(models.lenet5)
    assert not over.passed and "over the budget" in over.problems[0]
    with pytest.raises(AssertionError, match="budget_model"):
        ch01.strict_check.budget_model(models.lenet5)
    assert "not implemented" in ch01.check.budget_model(stub).problems[0]


# -- chapter 04a ---------------------------------------------------------------------------

def right_quantize(images, scale, zero_point):
    return np.clip(np.round(images / scale) + zero_point, 0, 255).astype(np.uint8)


def test_quantize_input_modes():
    assert ch04a.check.quantize_input(right_quantize).passed
    truncating = ch04a.check.quantize_input(
        lambda x, s, z: np.clip(x / s + z, 0, 255).astype(np.uint8))
    assert not truncating.passed and "Round" in truncating.problems[0]
    with pytest.raises(AssertionError, match="quantize_input"):
        ch04a.strict_check.quantize_input(lambda x, s, z: (x * 255).astype(np.float32))


def float_converter(saved_model_dir, representative):
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_saved_model(saved_model_dir).convert()


def test_int8_converter_rejects_a_float_model():
    result = ch04a.check.int8_converter(float_converter)
    assert not result.passed
    assert any("float tensors remain" in p for p in result.problems)
    assert any("not uint8" in p for p in result.problems)


def test_throughput_curve_modes():
    def fixed_order(predict, images, batch_sizes, rounds):
        out = {b: [] for b in batch_sizes}
        for _ in range(rounds):
            for b in batch_sizes[::-1]:  # always the same order, even if not ascending
                start = time.perf_counter()
                predict(images[:b])
                out[b].append(b / (time.perf_counter() - start))
        return {b: float(np.median(v)) for b, v in out.items()}

    result = ch04a.check.throughput_curve(fixed_order)
    assert not result.passed and any("same order" in p for p in result.problems)
    per_call = ch04a.check.throughput_curve(
        lambda predict, images, sizes, rounds: {b: 1.0 for b in sizes})
    assert not per_call.passed and any("batch 64" in p for p in per_call.problems)
    with pytest.raises(AssertionError, match="throughput_curve"):
        ch04a.strict_check.throughput_curve(lambda predict, images, sizes, rounds: [])


# -- chapter 03 ----------------------------------------------------------------------------

def unclipped_fgsm(model, images, labels, epsilon):
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.keras.losses.sparse_categorical_crossentropy(labels, model(x), from_logits=True)
    return (x + epsilon * tf.sign(tape.gradient(loss, x))).numpy()


def numpy_watch_fgsm(model, images, labels, epsilon):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(images)  # the article's pitfall: a NumPy array cannot be watched
        loss = model(images)
    return images + epsilon * np.sign(tape.gradient(loss, images))


def own_fgsm(model, images, labels, epsilon):

    return np.clip(unclipped_fgsm(model, images, labels, epsilon), 0, 1).astype(np.float32)


def test_fgsm_checker():
    assert ch03.check.fgsm(own_fgsm).passed
    assert "clip" in " ".join(ch03.check.fgsm(unclipped_fgsm).problems)
    assert not ch03.check.fgsm(numpy_watch_fgsm).passed
    with pytest.raises(AssertionError, match="fgsm"):
        ch03.strict_check.fgsm(lambda model, x, y, eps: x)


def test_random_erasing_checker():
    import keras

    dropout = ch03.check.random_erasing(lambda p: keras.layers.Dropout(0.5))
    assert "leave [0, 1]" in " ".join(dropout.problems)   # dropout rescales what it keeps
    identity = ch03.check.random_erasing(lambda p: keras.layers.Identity())
    assert "rectangle erased" in " ".join(identity.problems)
    with pytest.raises(AssertionError, match="random_erasing"):
        ch03.strict_check.random_erasing(stub)


def test_attack_evaluation_checker():
    def no_attack(model, x, y):
        return float(np.mean(model.predict(x, verbose=0).argmax(-1) == y)), x

    def dishonest(model, x, y):
        return 0.0, x

    assert "does nothing" in " ".join(ch03.check.attack_evaluation(no_attack).problems)
    assert "you report" in " ".join(ch03.check.attack_evaluation(dishonest).problems)


# -- chapter 02 ----------------------------------------------------------------------------

def own_space():
    import math

    from hyperopt import hp

    return {"lr": hp.loguniform("lr", math.log(1e-5), math.log(1e-2)),
            "batch_size": hp.choice("batch_size", [32, 64, 128, 256]),
            "dropout": hp.uniform("dropout", 0.1, 0.5),
            "filters": hp.quniform("filters", 16, 64, 8)}


def test_fixed_space_checker():
    from mnist_course import tuning

    assert ch02.check.fixed_space(own_space).passed
    buggy = ch02.check.fixed_space(tuning.article_space)
    assert not buggy.passed and "natural logarithms" in buggy.problems[0]
    with pytest.raises(AssertionError, match="fixed_space"):
        ch02.strict_check.fixed_space(lambda: {"lr": 0.001})


def test_conditional_space_checker():
    import math

    from hyperopt import hp

    def right():
        return {"optimizer": hp.choice("optimizer", [
            {"name": "adam", "lr": hp.loguniform("a_lr", math.log(1e-5), math.log(1e-2))},
            {"name": "sgd", "lr": hp.loguniform("s_lr", math.log(1e-3), math.log(1e-1)),
             "momentum": hp.uniform("m", 0.5, 0.99)}])}

    def shared_momentum():
        return {"optimizer": hp.choice("optimizer", [
            {"name": "adam", "lr": hp.loguniform("a_lr", math.log(1e-5), math.log(1e-2)),
             "momentum": hp.uniform("m1", 0.5, 0.99)},
            {"name": "sgd", "lr": hp.loguniform("s_lr", math.log(1e-3), math.log(1e-1)),
             "momentum": hp.uniform("m2", 0.5, 0.99)}])}

    assert ch02.check.conditional_space(right).passed
    assert "adam should have no momentum" in " ".join(
        ch02.check.conditional_space(shared_momentum).problems)
    with pytest.raises(AssertionError, match="conditional_space"):
        ch02.strict_check.conditional_space(stub)


def test_early_stopping_objective_checker():
    from hyperopt import STATUS_OK

    def never_stops(train_epoch, max_epochs=20, patience=3):
        def objective(params):
            losses = [train_epoch(params, e) for e in range(max_epochs)]
            return {"loss": min(losses), "status": STATUS_OK, "epochs": max_epochs}
        return objective

    result = ch02.check.early_stopping_objective(never_stops)
    assert not result.passed
    assert any("should run 6 epochs" in p for p in result.problems)
    assert any("STATUS_FAIL" in p for p in result.problems)


# -- the package's own function is not an answer -------------------------------------------

def test_checkers_refuse_the_package_function():
    from mnist_course import export, models, robustness, tuning

    cases = [
        (ch03.check.fgsm, robustness.fgsm, "mnist_course.robustness.fgsm"),
        (ch02.check.fixed_space, tuning.search_space, "mnist_course.tuning.search_space"),
        (ch02.check.fixed_space, lambda: tuning.search_space(), "search_space"),
        (ch01.check.se_block, lambda x, r: models.se_block(x, r), "se_block"),
        (ch01.check.budget_model, lambda: models.compact_cnn(widths=(12, 24, 48)),
         "compact_cnn"),
        (ch04a.check.quantize_input, export.quantize, "export.quantize"),
        (ch04a.check.int8_converter, lambda d, r: export.to_tflite(d, "int8", r), "to_tflite"),
    ]
    for checker, answer, name in cases:
        result = checker(answer)
        assert not result.passed and name in result.problems[0], (name, result.problems)
        assert "write it yourself" in result.problems[0]


def test_a_helper_that_calls_the_package_is_caught_too():
    from mnist_course.robustness import fgsm as imported_fgsm

    def helper(model, x, y, eps):
        return imported_fgsm(model, x, y, eps)

    def answer(model, x, y, eps):
        return helper(model, x, y, eps)

    assert "robustness.fgsm" in ch03.check.fgsm(answer).problems[0]


def test_a_call_the_inspection_misses_meets_the_stub():
    import importlib

    def sneaky():
        return getattr(importlib.import_module("mnist_course.tuning"), "search_" + "space")()

    result = ch02.check.fixed_space(sneaky)
    assert not result.passed and "switched off" in result.problems[0]
    from mnist_course import tuning

    assert tuning.search_space.__module__ == "mnist_course.tuning"  # restored afterwards
    assert "lr" in tuning.search_space()


def test_attack_evaluation_bounds_the_perturbation_by_epsilon():
    def unbounded(model, x, y):
        noisy = np.clip(x + np.random.default_rng(0).uniform(-0.5, 0.5, x.shape), 0, 1)
        noisy = noisy.astype(np.float32)
        return float(np.mean(model.predict(noisy, verbose=0).argmax(-1) == y)), noisy

    problems = " ".join(ch03.check.attack_evaluation(unbounded).problems)
    assert "more than epsilon" in problems


# -- chapter 07a ----------------------------------------------------------------------------

def own_prototype_logits(support, labels, queries, n_way):
    protos = np.stack([support[labels == w].mean(axis=0) for w in range(n_way)])
    return -((queries[:, None, :] - protos[None]) ** 2).sum(axis=-1)


def own_split(indices, k_shot, n_query, rng):
    if k_shot + n_query > len(indices):
        raise ValueError("too few images")
    drawn = rng.permutation(indices)[: k_shot + n_query]
    return drawn[:k_shot], drawn[k_shot:]


def test_prototype_logits_checker():
    from mnist_course import fewshot

    assert ch07a.check.prototype_logits(own_prototype_logits).passed
    flipped = ch07a.check.prototype_logits(lambda *a: -own_prototype_logits(*a))
    assert "sign" in flipped.problems[0]
    by_position = ch07a.check.prototype_logits(  # right on 2 ways in order, wrong on shuffled
        lambda s, lab, q, n: own_prototype_logits(s, np.sort(lab)[::-1] if n == 2 else
                                                  np.repeat(np.arange(n), len(lab) // n), q, n))
    assert not by_position.passed
    package = ch07a.check.prototype_logits(
        lambda s, lab, q, n: fewshot.squared_euclidean_logits(q, fewshot.prototypes(s, lab, n)))
    assert "course's own" in package.problems[0] or "switched off" in package.problems[0]
    with pytest.raises(AssertionError):
        ch07a.strict_check.prototype_logits(lambda *a: np.zeros((3, 2)))


def test_split_support_query_checker():
    from mnist_course import fewshot

    assert ch07a.check.split_support_query(own_split).passed
    assert "course's own" in ch07a.check.split_support_query(
        fewshot.split_support_query).problems[0]
    fixed = ch07a.check.split_support_query(lambda i, k, n, r: (i[:k], i[k:k + n]))
    assert any("two seeds" in p for p in fixed.problems)
    assert any("ValueError" in p for p in fixed.problems)
    overlapping = ch07a.check.split_support_query(
        lambda i, k, n, r: (r.choice(i, k), r.choice(i, n)))
    assert any("twice" in p for p in overlapping.problems)
    unseeded = ch07a.check.split_support_query(
        lambda i, k, n, r: own_split(i, k, n, np.random.default_rng()))
    assert any("same seed" in p for p in unseeded.problems)
    with pytest.raises(AssertionError):
        ch07a.strict_check.split_support_query(lambda i, k, n, r: (i[:k], i[k:k + n]))


def test_cosine_logits_checker():
    def cosine(q, p):
        return (q / np.linalg.norm(q, axis=1, keepdims=True)) @ \
            (p / np.linalg.norm(p, axis=1, keepdims=True)).T

    assert ch07a.check.cosine_logits(cosine).passed
    assert "Normalise" in ch07a.check.cosine_logits(lambda q, p: q @ p.T).problems[0]
    assert "similarity" in ch07a.check.cosine_logits(lambda q, p: 1 - cosine(q, p)).problems[0]
    with pytest.raises(AssertionError):
        ch07a.strict_check.cosine_logits(lambda q, p: q @ p.T)


# -- chapter 07b ----------------------------------------------------------------------------

def own_forgetting(R):
    R = np.asarray(R, float)
    return 0.0 if len(R) == 1 else float((R[:-1, :-1].max(axis=0) - R[-1, :-1]).mean())


def own_ewc(weights, anchors, fisher, lam):
    return lam / 2 * sum(float((f * (w - a) ** 2).sum())
                         for w, a, f in zip(weights, anchors, fisher))


def own_keep(labels, per_class, rng):
    return np.concatenate([rng.choice(np.flatnonzero(labels == c),
                                      min(per_class, int((labels == c).sum())), replace=False)
                           for c in np.unique(labels)])


def test_forgetting_checker():
    from mnist_course import continual

    assert ch07b.check.forgetting(own_forgetting).passed
    after_learning = ch07b.check.forgetting(
        lambda R: float((np.diag(R)[:-1] - R[-1, :-1]).mean()) if len(R) > 1 else 0.0)
    assert "best accuracy" in after_learning.problems[0]
    with_last = ch07b.check.forgetting(lambda R: float((R.max(axis=0) - R[-1]).mean()))
    assert "Leave the last task out" in with_last.problems[0]
    assert "course's own" in ch07b.check.forgetting(continual.forgetting).problems[0]
    with pytest.raises(AssertionError):
        ch07b.strict_check.forgetting(lambda R: -own_forgetting(R))


def test_ewc_penalty_checker():
    from mnist_course import continual

    assert ch07b.check.ewc_penalty(own_ewc).passed
    assert "lam / 2" in ch07b.check.ewc_penalty(
        lambda w, a, f, lam: 2 * own_ewc(w, a, f, lam)).problems[0]
    assert "Square" in ch07b.check.ewc_penalty(
        lambda w, a, f, lam: lam / 2 * sum(float((fi * abs(wi - ai)).sum())
                                           for wi, ai, fi in zip(w, a, f))).problems[0]
    assert "every tensor" in ch07b.check.ewc_penalty(
        lambda w, a, f, lam: own_ewc(w[:1], a[:1], f[:1], lam)).problems[0]
    package = ch07b.check.ewc_penalty(
        lambda w, a, f, lam: float(continual.ewc_penalty(w, a, f, lam))).problems[0]
    assert "course's own" in package or "switched off" in package
    with pytest.raises(AssertionError):
        ch07b.strict_check.ewc_penalty(lambda w, a, f, lam: 1.0)


def test_balanced_keep_checker():
    assert ch07b.check.balanced_keep(own_keep).passed
    first = ch07b.check.balanced_keep(lambda labels, k, rng: np.concatenate(
        [np.flatnonzero(labels == c)[:k] for c in np.unique(labels)]))
    assert any("two seeds" in p for p in first.problems)
    unbalanced = ch07b.check.balanced_keep(
        lambda labels, k, rng: rng.choice(len(labels), 4 * k, replace=False))
    assert any("should keep" in p for p in unbalanced.problems)
    assert "integer indices" in ch07b.check.balanced_keep(
        lambda labels, k, rng: labels == 0).problems[0]
    with pytest.raises(AssertionError):
        ch07b.strict_check.balanced_keep(lambda labels, k, rng: np.arange(3))


# -- chapter 07c ----------------------------------------------------------------------------

def own_late(a, b, w):
    if not 0 <= w <= 1:
        raise ValueError("weight")
    return w * a + (1 - w) * b


def own_dropout(images, sequences, rate, rng):
    images, sequences = images.copy(), sequences.copy()
    dropped, which = rng.random(len(images)) < rate, rng.random(len(images)) < 0.5
    images[dropped & which] = 0
    sequences[dropped & ~which] = 0
    return images, sequences


def test_late_fusion_checker():
    from mnist_course import multimodal

    assert ch07c.check.late_fusion(own_late).passed
    swapped = ch07c.check.late_fusion(lambda a, b, w: own_late(b, a, w))
    assert "first argument" in swapped.problems[0]
    unchecked = ch07c.check.late_fusion(lambda a, b, w: w * a + (1 - w) * b)
    assert any("ValueError" in p for p in unchecked.problems)
    assert "course's own" in ch07c.check.late_fusion(multimodal.late_fusion).problems[0]
    with pytest.raises(AssertionError):
        ch07c.strict_check.late_fusion(lambda a, b, w: a * b)


def test_modality_dropout_checker():
    assert ch07c.check.modality_dropout(own_dropout).passed

    def in_place(images, sequences, rate, rng):
        dropped = rng.random(len(images)) < rate
        images[dropped] = 0
        return images, sequences

    problems = " ".join(ch07c.check.modality_dropout(in_place).problems)
    assert "copies" in problems and "half" in problems

    def both(images, sequences, rate, rng):
        images, sequences = images.copy(), sequences.copy()
        dropped = rng.random(len(images)) < rate
        images[dropped], sequences[dropped] = 0, 0
        return images, sequences

    assert any("both" in p for p in ch07c.check.modality_dropout(both).problems)
    fixed = ch07c.check.modality_dropout(
        lambda i, s, rate, rng: own_dropout(i, s, rate, np.random.default_rng(0)))
    assert any("two seeds" in p for p in fixed.problems)
    with pytest.raises(AssertionError):
        ch07c.strict_check.modality_dropout(lambda i, s, rate, rng: (i, s))


def test_first_level_without_gain_checker():
    from scipy import stats

    def own(levels, fused, alone):
        d = np.asarray(fused) - np.asarray(alone)
        for level, col in zip(levels, d.T):
            if not stats.t.interval(0.95, len(col) - 1, col.mean(), stats.sem(col))[0] > 0:
                return level
        return None

    def by_mean(levels, fused, alone):
        d = (np.asarray(fused) - np.asarray(alone)).mean(axis=0)
        return next((lv for lv, m in zip(levels, d) if m <= 0), None)

    assert ch07c.check.first_level_without_gain(own).passed
    assert "t-interval" in ch07c.check.first_level_without_gain(by_mean).problems[0]
    with pytest.raises(AssertionError):
        ch07c.strict_check.first_level_without_gain(lambda *a: None)


# -- chapter 06 -----------------------------------------------------------------------------

def test_layer_sparsities_checker():
    def own(sizes, overall, protect_below):
        n = np.asarray(sizes, float)
        pruned = n >= protect_below
        reachable = n[pruned].sum() / n.sum()
        if overall > reachable:
            raise ValueError(f"at most {100 * reachable:.0f}% can be zeroed")
        return [overall / reachable if p else 0.0 for p in pruned]

    assert ch06.check.layer_sparsities(own).passed

    def uncompensated(sizes, overall, protect_below):  # the target on the big layers only
        return [overall if n >= protect_below else 0.0 for n in sizes]

    assert "prune more" in ch06.check.layer_sparsities(uncompensated).problems[0]

    def never_refuses(sizes, overall, protect_below):
        try:
            return own(sizes, overall, protect_below)
        except ValueError:
            return [1.0 for _ in sizes]

    assert any("raise ValueError" in p
               for p in ch06.check.layer_sparsities(never_refuses).problems)
    with pytest.raises(AssertionError, match="layer_sparsities"):
        ch06.strict_check.layer_sparsities(lambda sizes, overall, protect: [overall] * len(sizes))


def _right_repair(images, labels, model):
    import keras

    images = np.asarray(images, np.float32)
    if images.max() > 1.5:
        images = images / 255
    if np.ndim(labels) == 2:
        labels = np.asarray(labels).argmax(1)
    if model.layers[-1].activation.__name__ != "softmax":
        model.compile(optimizer=keras.optimizers.Adam(1e-3),
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return images, labels, model


def test_repair_checker_needs_a_diagnosis():
    assert ch06.check.repair(_right_repair).passed

    def blind(images, labels, model):  # scales whatever it gets
        _, labels, model = _right_repair(images, labels, model)
        return np.asarray(images, np.float32) / 255, labels, model

    problems = ch06.check.repair(blind).problems
    assert any(p.startswith("set-up 3 (nothing broken)") and "scaled again" in p
               for p in problems)

    def unfixed(images, labels, model):
        return np.asarray(images, np.float32), labels, model

    problems = ch06.check.repair(unfixed).problems
    assert any("scale them" in p for p in problems)
    assert any("from_logits=True" in p for p in problems)

    def by_the_package(images, labels, model):
        from mnist_course import diagnostics

        if not diagnostics.input_range(images).ok:
            images = images / 255
        return images, labels, model

    assert "switched off `mnist_course.diagnostics.input_range`" in \
        ch06.check.repair(by_the_package).problems[0]
    with pytest.raises(AssertionError, match="repair"):
        ch06.strict_check.repair(lambda images, labels, model: (images, labels, model))


def test_capped_class_weights_checker():
    from sklearn.utils.class_weight import compute_class_weight

    def own(labels, cap):
        classes, counts = np.unique(labels, return_counts=True)
        w = np.minimum(1 / counts, cap / counts.max())
        w *= len(labels) / (counts * w).sum()
        return {int(c): float(v) for c, v in zip(classes, w)}

    assert ch06.check.class_weights(own).passed

    def balanced(labels, cap):  # the library's rule, uncapped
        classes = np.unique(labels)
        return dict(zip(classes.tolist(), compute_class_weight("balanced", classes=classes,
                                                               y=labels)))

    assert "the cap is 8" in ch06.check.class_weights(balanced).problems[0]

    def clipped_only(labels, cap):  # capped, but no longer averaging 1 over the images
        w = balanced(labels, cap)
        return {c: min(v, cap * min(w.values())) for c, v in w.items()}

    assert "average" in ch06.check.class_weights(clipped_only).problems[0]

    def reference(labels, cap):
        return ch06.capped_weights(labels, cap)

    assert "course's own" in ch06.check.class_weights(reference).problems[0]
    with pytest.raises(AssertionError):
        ch06.strict_check.class_weights(lambda y, cap: [1.0])


def test_ch08_checkers_accept_right_answers_and_explain_wrong_ones():
    import math

    from scipy import stats

    from mnist_course.course.checks import ch08

    def schedule(step, peak, warmup, total):
        if step < warmup:
            return peak * step / warmup
        return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / (total - warmup))))

    def no_warmup(step, peak, warmup, total):
        return peak * 0.5 * (1 + math.cos(math.pi * min(1.0, step / total)))

    def keras_own(step, peak, warmup, total):
        import keras

        return float(keras.optimizers.schedules.CosineDecay(
            0.0, total - warmup, warmup_target=peak, warmup_steps=warmup)(step))

    assert ch08.check.warmup_cosine(schedule).passed
    assert "warm-up" in ch08.check.warmup_cosine(no_warmup).problems[0]
    assert "switched off" in ch08.check.warmup_cosine(keras_own).problems[0]
    with pytest.raises(AssertionError):
        ch08.strict_check.warmup_cosine(no_warmup)

    def smoothed(labels, classes, s):
        return (1 - s) * np.eye(classes)[labels] + s / classes

    def others_only(labels, classes, s):
        one = np.eye(classes)[labels]
        return one * (1 - s) + (1 - one) * s / (classes - 1)

    assert ch08.check.smoothed_targets(smoothed).passed
    assert "every class" in ch08.check.smoothed_targets(others_only).problems[0]
    assert "sum to 1" in ch08.check.smoothed_targets(
        lambda labels, classes, s: np.eye(classes)[labels] * (1 - s)).problems[0]

    def mcnemar(a, b):
        only_a, disagree = int(np.sum(a & ~b)), int(np.sum(a != b))
        return 1.0 if disagree == 0 else float(stats.binomtest(only_a, disagree).pvalue)

    def every_digit(a, b):  # counts agreements too: wrong
        return float(stats.binomtest(int(a.sum()), len(a)).pvalue)

    assert ch08.check.mcnemar_p(mcnemar).passed
    assert "one-sided" in ch08.check.mcnemar_p(lambda a, b: mcnemar(a, b) / 2).problems[0]
    assert "disagree" in ch08.check.mcnemar_p(every_digit).problems[0]
