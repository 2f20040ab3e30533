"""The course's one verdict policy, and the tables that show it.

Every claim the course checks is read once, in :data:`READINGS`: the article's words, the
reading (``at least``, ``at most`` or ``about``), the claimed value, the margin and why,
and, for a directional claim, the value that means no effect. A chapter measures an
:class:`Interval` and calls :func:`judge` with the claim's id; it never types a margin.

The policy, in six sentences (``book/claims.md`` prints it in full):

1. Each claim is read as a **region** of values that count as the claim holding: ``at
   least`` c is c - margin upwards, ``at most`` c is up to c + margin, ``about`` c is c
   plus or minus the margin (ratios on the log scale: a margin m is a factor 1 + m).
2. One rule, on the whole interval: ``confirmed`` when it lies inside the region (touching
   the edge counts as inside); ``refuted`` when it lies strictly outside; ``inconclusive``
   when it overlaps the region's edge. A directional claim (an effect, with a null value
   that means none) splits "outside" once more: an interval strictly between the null and
   the region is ``partly confirmed`` (a real effect, smaller than claimed), one on the far
   side of the null is ``refuted``, and one that straddles the null is ``inconclusive``
   (it cannot tell a smaller effect from none). So more noise (a wider interval) can only
   make a verdict less decided: it moves ``confirmed``, ``partly confirmed`` and
   ``refuted`` towards ``inconclusive`` and never the other way, also for composites.
3. Two labels for what the course cannot test, each naming why: ``not testable here
   (budget)`` when a model the claim depends on had not converged (the criterion of
   :func:`converged`) or a difference between two treatments rests on fewer than
   :data:`MIN_PAIRED_SEEDS` paired seeds; ``not testable here (setting)`` when the claim
   was made for hardware or a cluster the course does not run, unless the course's
   setting is the weaker one and the claim holds here anyway (``confirmed`` a fortiori).
4. A claim of several parts is ``refuted`` if any part is; else ``confirmed`` if all are;
   else ``not testable here`` if any part is; else ``inconclusive`` if any part is; else
   ``partly confirmed``.
5. Intervals come from ``scipy.stats``: Student t over seeds or runs, on the logit scale
   for accuracies so that they stay inside [0, 1] (:func:`accuracy_over_seeds`); Wilson for
   an accuracy on n test images (:func:`binomial_interval`); a bootstrap where nothing else
   fits (:func:`bootstrap_interval`). Zero observed spread gets the measurement's
   resolution (one image in n, one unit of a count), never an interval of width zero.
6. Every stored verdict carries the numbers it came from, and ``python -m mnist_course
   claims --check`` recomputes it from them (:func:`recompute`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

CONFIRMED, PARTLY, REFUTED = "confirmed", "partly confirmed", "refuted"
INCONCLUSIVE = "inconclusive"
UNTESTABLE_SETTING = "not testable here (setting)"
UNTESTABLE_BUDGET = "not testable here (budget)"
VERDICTS = (CONFIRMED, PARTLY, REFUTED, INCONCLUSIVE, UNTESTABLE_SETTING, UNTESTABLE_BUDGET)
#: What each label means, for the ledger's legend.
LEGEND = {
    CONFIRMED: "the whole interval lies inside the claimed region",
    PARTLY: "a real effect in the claimed direction, but wholly short of the claimed size",
    REFUTED: "the whole interval lies outside the claimed region",
    INCONCLUSIVE: "the interval overlaps the region's edge: more data would decide",
    UNTESTABLE_SETTING: "claimed for hardware or a cluster the course does not run",
    UNTESTABLE_BUDGET: "a model had not converged, or fewer than 5 paired seeds",
}
#: MIME type under which a claims table stores its rows as JSON in the notebook's outputs.
CLAIMS_MIME = "application/vnd.mnist-course.claims+json"
CONFIDENCE = 0.95
#: Paired seeds a difference between two treatments needs before a rule may decide on it.
MIN_PAIRED_SEEDS = 5


# -- readings -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Reading:
    """How one claim (or one part of a composite claim) is read.

    ``margin`` is in the claim's units, or a fraction (a factor ``1 + margin``) when
    ``log`` is set; ``null`` is the value that means no effect (directional claims only);
    ``setting`` names hardware or a cluster the article measured on and the course does
    not run; ``weaker_here`` says the course's own setting is the weaker one, so that a
    claim met here holds there a fortiori; ``trained`` says the value depends on how well
    a model learned (an accuracy, an effect of training), so that it is judged only on
    converged models (a parameter count, a file size or a speed is not)."""

    reading: str
    claimed: float
    margin: float
    why_margin: str
    null: float | None = None
    log: bool = False
    setting: str = ""
    weaker_here: bool = False
    trained: bool = True

    def __post_init__(self) -> None:
        if self.reading not in ("at least", "at most", "about"):
            raise ValueError(f"reading {self.reading!r} is not 'at least', 'at most' or "
                             "'about'")
        for name in ("claimed", "margin") + (("null",) if self.null is not None else ()):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"the {name} of a reading must be finite, got {value!r}")
        if self.margin < 0:
            raise ValueError(f"a negative margin ({self.margin}) would refute an exact match")
        if self.log and (self.claimed <= 0 or (self.null is not None and self.null <= 0)):
            raise ValueError(f"a claim read on the log scale needs positive values, got "
                             f"claimed {self.claimed} and null {self.null}")
        if self.null is not None:
            effect = abs(self._t(self.claimed) - self._t(self.null))
            width = math.log1p(self.margin) if self.log else self.margin
            if effect == 0 or width >= effect:
                raise ValueError(f"a margin of {self.margin} is at or above the claimed "
                                 f"effect ({self.claimed} from {self.null}): the region "
                                 "would reach no effect at all")

    def _t(self, x: float) -> float:
        """A value on the scale the rule works on (log for ratios)."""
        if not self.log:
            return x
        return math.log(x) if x > 0 else -math.inf

    @property
    def region(self) -> tuple[float | None, float | None]:
        """The values that count as the claim holding; None for an open side."""
        c, m = self.claimed, self.margin
        low, high = (c / (1 + m), c * (1 + m)) if self.log else (c - m, c + m)
        return {"at least": (low, None), "at most": (None, high),
                "about": (low, high)}[self.reading]


@dataclass(frozen=True)
class ClaimSpec:
    """A claim of the article (or a comparison of the course's own): its words, the
    chapters that check it, and its parts' readings (one part, named "", if simple)."""

    words: str
    chapters: tuple[str, ...]
    parts: dict[str, Reading]


_LEVEL = "a stated level: the interval carries the measurement's noise"
_ROUNDED = "half the last digit the article gives (its number is rounded)"
_QUARTER = "a quarter of the claimed effect: the smallest effect that still counts as it"
_LIMIT = "a stated limit: the interval carries the measurement's noise"
_WORTH = "the course's own smallest effect worth having"

#: Every claim the course judges, read once. C1-C14 are the article's (ARTICLE.md);
#: T06.*, T07b.* and T07c.* are the course's own treatment comparisons (chapters 06, 07b and
#: 07c), each against the smallest effect worth having.
READINGS: dict[str, ClaimSpec] = {
    "C1": ClaimSpec("LeNet-5: over 99% test accuracy with about 60k parameters", ("01",), {
        "accuracy": Reading("at least", 99, 0, _LEVEL),
        "parameters": Reading("about", 60_000, 6_000, "the article's 'about': 10%",
                              trained=False)}),
    "C2": ClaimSpec("depthwise-separable blocks cut parameters to 1/8", ("01",), {
        "": Reading("about", 8, 0.25, "'1/8' read as a factor between 6.4 and 10", null=1,
                    log=True, trained=False)}),
    "C3": ClaimSpec("... keeping 99.2% accuracy and 3x faster inference", ("01",), {
        "accuracy": Reading("at least", 99.2, 0.05, _ROUNDED),
        "speed": Reading("at least", 3, 0.25, "a factor of 2.4 still counts as '3x'",
                         null=1, log=True, trained=False)}),
    "C4": ClaimSpec("an SE block: +0.7 points under background clutter", ("01",), {
        "": Reading("at least", 0.7, 0.175, _QUARTER, null=0)}),
    "C5": ClaimSpec("TPE reaches in 20 evaluations what grid search reaches in 50", ("02",), {
        "": Reading("at least", 0.5, 0, "'reaches' read as: in at least half of the "
                    "searches", trained=False)}),
    "C6": ClaimSpec("digit 1 has 1.2x the samples of digit 9", ("00", "03"), {
        "": Reading("about", 1.2, 0.05, _ROUNDED.replace("half the last digit",
                                                          "a factor within 5%"),
                    null=1, log=True, trained=False)}),
    "C7": ClaimSpec("geometric augmentation: +4 points on tilted digits", ("03",), {
        "": Reading("at least", 4, 1, _QUARTER, null=0)}),
    "C8": ClaimSpec("FGSM adversarial training: +12 points under noise", ("03",), {
        "": Reading("at least", 12, 3, _QUARTER, null=0)}),
    "C9": ClaimSpec("quantisation: 4.2 MB to 1.1 MB and 60% less latency", ("04a",), {
        "size": Reading("about", 4.2 / 1.1, 0.25, "'4.2 to 1.1 MB' read as a factor "
                        "within 25% of 3.8", null=1, log=True, trained=False),
        "speed": Reading("at least", 1 / 0.4, 0.2, "'60% less' read as at least 2.5x "
                         "faster, within a factor 1.2", null=1, log=True,
                         trained=False)}),
    "C10": ClaimSpec("gRPC + TF Serving: 2000+ requests/s at p99 under 15 ms", ("04b",), {
        "throughput": Reading("at least", 2000, 0, _LEVEL, setting="a TF Serving cluster",
                              weaker_here=True, trained=False),
        "p99": Reading("at most", 15, 0, _LIMIT, setting="a TF Serving cluster",
                       weaker_here=True, trained=False)}),
    "C11": ClaimSpec("ProtoNet: 95%+ with 10 samples per class", ("07a",), {
        "": Reading("at least", 95, 0, _LEVEL)}),
    "C12": ClaimSpec("the combined recipe: 99.6% test accuracy", ("05", "08"), {
        "": Reading("at least", 99.6, 0.05, _ROUNDED)}),
    "C13": ClaimSpec("end-to-end inference under 8 ms (an NVIDIA T4 GPU)", ("04a", "08"), {
        "": Reading("at most", 8, 0, _LIMIT, setting="an NVIDIA T4 GPU", trained=False)}),
    "C14": ClaimSpec("edge latency < 50 ms and mobile memory < 10 MB", ("04a", "05", "08"),
                    {
        "latency": Reading("at most", 50, 0, _LIMIT, trained=False),
        "memory": Reading("at most", 10, 0, _LIMIT, trained=False)}),
    "T06.l2": ClaimSpec("L2 (lambda 0.001) narrows the train-validation gap", ("06",), {
        "": Reading("at most", -1, 0.5, _WORTH + ": 1 point of gap", null=0)}),
    "T06.dropout": ClaimSpec("Dropout 0.3 narrows the train-validation gap", ("06",), {
        "": Reading("at most", -1, 0.5, _WORTH + ": 1 point of gap", null=0)}),
    "T06.early_stopping": ClaimSpec("early stopping (patience 5) narrows the gap", ("06",), {
        "": Reading("at most", -1, 0.5, _WORTH + ": 1 point of gap", null=0)}),
    "T06.class_weights_tail": ClaimSpec(
        "class weights help the rare classes of a long-tailed set", ("06",), {
            "": Reading("at least", 1, 0.5, _WORTH + ": 1 point", null=0)}),
    "T06.class_weights_mnist": ClaimSpec(
        "class weights help on MNIST's mild imbalance", ("06",), {
            "": Reading("at least", 1, 0.5, _WORTH + ": 1 point", null=0)}),
    "T06.pruning_speed": ClaimSpec("pruning speeds up inference (LiteRT, one thread)",
                                   ("06",), {
        "": Reading("at least", 1.1, 0.05, _WORTH + ": 10% faster", null=1, log=True,
                    trained=False)}),
    "T06.openvino_speed": ClaimSpec("OpenVINO speeds up inference on an Intel CPU", ("06",), {
        "": Reading("at least", 1.1, 0.05, _WORTH + ": 10% faster", null=1, log=True,
                    setting="an Intel CPU", trained=False)}),
    "T06.tensorrt_speed": ClaimSpec("TensorRT speeds up inference on an NVIDIA GPU", ("06",), {
        "": Reading("at least", 1.1, 0.05, _WORTH + ": 10% faster", null=1, log=True,
                    setting="an NVIDIA GPU", trained=False)}),
    "T07b.ewc_task": ClaimSpec("EWC keeps more than plain fine-tuning, task-incremental",
                               ("07b",), {
        "": Reading("at least", 1, 0.5, _WORTH + ": 1 point of average accuracy", null=0)}),
    "T07b.ewc_class": ClaimSpec("EWC keeps more than plain fine-tuning, class-incremental",
                                ("07b",), {
        "": Reading("at least", 1, 0.5, _WORTH + ": 1 point of average accuracy", null=0)}),
    "T07b.replay_task": ClaimSpec("replay keeps more than plain fine-tuning, task-incremental",
                                  ("07b",), {
        "": Reading("at least", 1, 0.5, _WORTH + ": 1 point of average accuracy", null=0)}),
    "T07b.replay_class": ClaimSpec(
        "replay keeps more than plain fine-tuning, class-incremental", ("07b",), {
            "": Reading("at least", 1, 0.5, _WORTH + ": 1 point of average accuracy",
                        null=0)}),
    "T07c.fusion_clean": ClaimSpec("fusion beats the better single stream on clean digits",
                                   ("07c",), {
        "": Reading("at least", 0.5, 0.25, _WORTH + ": half a point", null=0)}),
    "T07c.fusion_corrupted": ClaimSpec(
        "fusion beats the image alone on corrupted images (simulated pen)", ("07c",), {
            "": Reading("at least", 1, 0.5, _WORTH + ": 1 point", null=0)}),
    "T07c.dropout_image_absent": ClaimSpec(
        "modality dropout keeps gated fusion working with the image absent", ("07c",), {
            "": Reading("at least", 1, 0.5, _WORTH + ": 1 point", null=0)}),
}
#: The article's numbered claims and the chapters that check them (the ledger's rows).
ARTICLE_CLAIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    k: (v.words, v.chapters) for k, v in READINGS.items() if k.startswith("C")}


# -- intervals ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A measured quantity: the estimate, a two-sided interval, how it was made and from
    how many runs, images or timings (``n``). ``paired`` marks a difference between two
    treatments, which needs :data:`MIN_PAIRED_SEEDS` pairs before a rule decides on it."""

    estimate: float
    low: float
    high: float
    method: str
    n: int | None = None
    paired: bool = False

    def __post_init__(self) -> None:
        if not math.isfinite(self.estimate):
            raise ValueError(f"the estimate must be finite, got {self.estimate!r} "
                             f"({self.method})")
        if not self.low <= self.estimate <= self.high:  # NaN fails too
            raise ValueError(f"interval {self.low} to {self.high} does not contain "
                             f"its estimate {self.estimate} ({self.method})")

    @property
    def too_few(self) -> str:
        """Why no rule may decide on this interval (too few pairs), or ''."""
        if self.paired and (self.n or 0) < MIN_PAIRED_SEEDS:
            return (f"{self.n} paired seed(s), fewer than the {MIN_PAIRED_SEEDS} a "
                    "difference between two treatments needs")
        return ""

    def scaled(self, factor: float) -> Interval:
        """The same interval in other units (a share as %: ``scaled(100)``); factor > 0."""
        if not factor > 0:
            raise ValueError(f"scaled needs a positive factor, got {factor!r}")
        return replace(self, estimate=self.estimate * factor, low=self.low * factor,
                       high=self.high * factor)

    def __str__(self) -> str:
        return f"{self.estimate:.4g} ({self.low:.4g} to {self.high:.4g}, {self.method})"


def exact(value: float, resolution: float, method: str = "exact") -> Interval:
    """A quantity without sampling noise (a parameter count, a file size, a ratio of
    counts), known to within its ``resolution`` (1 for a count): value +- resolution / 2."""
    if not resolution > 0:
        raise ValueError(f"exact needs a positive resolution (1 for a count), got "
                         f"{resolution!r}")
    value = float(value)
    return Interval(value, value - resolution / 2, value + resolution / 2,
                    f"{method}, to {resolution:.3g}")


def _spread_floor(sem: float, resolution: float | None, n: int, what: str) -> float:
    if sem > 0:
        return sem
    if resolution is None or not resolution > 0:
        raise ValueError(f"the {n} {what} are all equal: give the measurement's resolution "
                         "(for example one image in n) so the interval is not of width zero")
    return resolution / math.sqrt(n)


def t_interval(values, confidence: float = CONFIDENCE, what: str = "seeds",
               resolution: float | None = None) -> Interval:
    """Student-t interval for the mean of independent runs (``scipy.stats.t``).

    One value gives an infinite interval (no spread known), so no rule decides on it. When
    all values are equal, the spread is below ``resolution`` (the smallest step the
    measurement shows): the standard error is taken as ``resolution / sqrt(n)``."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"t_interval needs a 1-D array of finite values, got {values!r}")
    n, mean = len(values), float(values.mean())
    method = f"t, {n} {what}, {confidence:.0%}"
    if n == 1:
        return Interval(mean, -math.inf, math.inf, method, n=1)
    sem = _spread_floor(float(stats.sem(values)), resolution, n, what)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high), method, n=n)


def accuracy_over_seeds(accuracies, n_images: int, confidence: float = CONFIDENCE,
                        what: str = "seeds") -> Interval:
    """Interval for the mean accuracy (a share in [0, 1]) of a few runs, each on
    ``n_images``: Student t on the logit scale, back-transformed, so it stays inside
    [0, 1]. Equal accuracies get the resolution of one image in ``n_images``."""
    from scipy import special

    acc = np.asarray(accuracies, dtype=float)
    if acc.ndim != 1 or len(acc) == 0 or np.any((acc < 0) | (acc > 1)) or n_images < 1:
        raise ValueError(f"accuracy_over_seeds needs shares in [0, 1] and n_images >= 1, got "
                         f"{acc!r} on {n_images}")
    clipped = acc.clip(0.5 / n_images, 1 - 0.5 / n_images)  # half an image from 0 and 1
    p = float(clipped.mean())
    step = (1 / n_images) / (p * (1 - p))  # one image, on the logit scale
    t = t_interval(special.logit(clipped), confidence, what, resolution=step)
    return Interval(float(acc.mean()), min(float(special.expit(t.low)), float(acc.mean())),
                    max(float(special.expit(t.high)), float(acc.mean())),
                    f"t on the logit scale, {len(acc)} {what} of {n_images:,} images, "
                    f"{confidence:.0%}", n=len(acc))


def paired_difference(treated, control, confidence: float = CONFIDENCE,
                      resolution: float | None = None) -> Interval:
    """t-interval of the mean of ``treated - control``, one pair per seed.

    Call a comparison paired only when each pair shares its data order and its initial
    weights; otherwise the pairing is decoration and the interval is too narrow. With fewer
    than :data:`MIN_PAIRED_SEEDS` pairs no rule decides on it (``not testable here
    (budget)``). ``resolution`` as in :func:`t_interval` (for accuracy differences in
    points: 100 / n images)."""
    treated, control = np.asarray(treated, float), np.asarray(control, float)
    if treated.shape != control.shape:
        raise ValueError(f"paired runs need equal lengths, got {treated.shape} and "
                         f"{control.shape}")
    interval = t_interval(treated - control, confidence, "paired seeds", resolution)
    return replace(interval, paired=True)


def binomial_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval for a share, e.g. correct answers on ``n`` test images
    (``scipy.stats.binomtest(...).proportion_ci(method='wilson')``)."""
    from scipy import stats

    if not 0 <= successes <= n or n <= 0:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high),
                    f"Wilson, n = {n:,}, {confidence:.0%}", n=n)


def bootstrap_interval(*samples, statistic=np.median, confidence: float = CONFIDENCE,
                       seed: int = 0, what: str = "runs",
                       resolution: float | None = None) -> Interval:
    """Percentile bootstrap interval of ``statistic`` over one or more independent samples
    (``scipy.stats.bootstrap``), for statistics with no textbook interval: a median of
    runs, a ratio of two medians of timings (``statistic=lambda a, b: ...``). Samples
    without any spread need ``resolution``: the interval is the estimate +- resolution/2."""
    from scipy import stats

    samples = [np.asarray(s, dtype=float) for s in samples]
    if not samples or any(s.ndim != 1 or len(s) < 2 for s in samples):
        raise ValueError("bootstrap_interval needs 1-D samples of at least 2 values each")
    estimate = float(statistic(*samples))
    n = sum(len(s) for s in samples)
    method = (f"bootstrap of the {getattr(statistic, '__name__', 'statistic')}, "
              f"{' and '.join(str(len(s)) for s in samples)} {what}, {confidence:.0%}")
    if all(np.all(s == s[0]) for s in samples):
        half = _spread_floor(0.0, resolution, n, what) * math.sqrt(n) / 2
        return Interval(estimate, estimate - half, estimate + half, method, n=n)
    vectorized = len(samples) == 1 and statistic in (np.median, np.mean)
    result = stats.bootstrap(tuple(samples), statistic, confidence_level=confidence,
                             method="percentile", random_state=seed, vectorized=vectorized,
                             n_resamples=2000 if not vectorized else 9999)
    ci = result.confidence_interval
    low, high = min(float(ci.low), estimate), max(float(ci.high), estimate)
    return Interval(estimate, low, high, method, n=n)


# -- convergence ----------------------------------------------------------------------------

def converged(val_accuracy, n_val: int) -> bool:
    """The course's convergence criterion: over the last quarter of its epochs (at least
    one), validation accuracy rose by less than one standard error of the validation
    split (sqrt(p (1 - p) / n_val) at the final accuracy p). Fewer than 4 epochs cannot
    show a flat last quarter: False."""
    acc = np.asarray(val_accuracy, dtype=float)
    if acc.ndim != 1 or n_val < 1 or not np.all(np.isfinite(acc)):
        raise ValueError(f"converged needs one finite accuracy per epoch and n_val >= 1, got "
                         f"{acc!r} and {n_val}")
    if len(acc) < 4:
        return False
    quarter = max(1, len(acc) // 4)
    p = float(acc[-1])
    se = math.sqrt(max(p * (1 - p), 1 / n_val) / n_val)
    return float(acc[-1] - acc[-1 - quarter]) < se


# -- the rule -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """One of :data:`VERDICTS`, why in words, and the numbers it came from (``record``:
    what the ledger stores and :func:`recompute` checks)."""

    verdict: str
    why: str
    record: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")

    @property
    def rule(self) -> str:
        """The reading applied, in words (the ledger's 'rule' column)."""
        parts = self.record.get("parts") or [self.record]
        return " AND ".join(_rule_words(p) for p in parts)


def _rule_words(p: dict) -> str:
    low, high = p["region"]
    region = ("from " + _num(low) + " up" if high is None else "up to " + _num(high)
              if low is None else f"{_num(low)} to {_num(high)}")
    return (f"{p.get('part') or 'value'}: {p['reading']} {_num(p['claimed'])} "
            f"(region {region}; {p['interval']})")


def decide(record: dict) -> tuple[str, str]:
    """The label and its reason for one part, from its stored numbers alone."""
    low, high, est = record["low"], record["high"], record["estimate"]
    lo_edge, hi_edge = record["region"]
    null, log = record["null_value"], record["log"]
    if record["paired"] and (record["n"] or 0) < MIN_PAIRED_SEEDS:
        return UNTESTABLE_BUDGET, (f"{record['n']} paired seed(s), fewer than the "
                                   f"{MIN_PAIRED_SEEDS} a difference between two treatments "
                                   "needs; the interval is shown, not judged")
    unconverged = [name for name, ok in (record.get("converged") or {}).items() if not ok]
    if unconverged:
        return UNTESTABLE_BUDGET, ("not converged when the budget ran out (validation "
                                   "accuracy still rising over the last quarter of the "
                                   f"epochs): {', '.join(unconverged)}")
    span = f"{_num(low)} to {_num(high)}"
    if log and low <= 0:
        label, why = INCONCLUSIVE, f"the interval ({span}) reaches zero: no factor is known"
    else:
        inside = ((lo_edge is None or low >= lo_edge) and (hi_edge is None or high <= hi_edge))
        below = lo_edge is not None and high < lo_edge
        above = hi_edge is not None and low > hi_edge
        region = _rule_words(record).split("(region ", 1)[1].split(";")[0]
        if inside:
            label, why = CONFIRMED, f"the whole interval ({span}) lies inside the region {region}"
        elif below or above:
            side = "below" if below else "above"
            # a directional claim: which side of no effect is the whole interval on?
            towards_null = null is not None and (null < lo_edge if below else null > hi_edge)
            beyond = towards_null and (low > null if below else high < null)
            far = towards_null and (high <= null if below else low >= null)
            straddles = towards_null and not beyond and not far
            if beyond:
                label, why = PARTLY, (f"the whole interval ({span}) shows an effect in the "
                                      f"claimed direction (beyond {_num(null)}), but lies "
                                      f"{side} the region {region}")
            elif straddles:
                label, why = INCONCLUSIVE, (f"the interval ({span}) lies {side} the region "
                                            f"{region} but reaches no effect "
                                            f"({_num(null)}): it cannot tell a smaller "
                                            "effect from none, and more data would")
            else:
                label, why = REFUTED, (f"the whole interval ({span}) lies {side} the region "
                                       f"{region}" + (f", on the far side of no effect "
                                                      f"({_num(null)})" if far else ""))
        else:
            where = ("inside" if (lo_edge is None or est >= lo_edge)
                     and (hi_edge is None or est <= hi_edge) else "outside")
            label, why = INCONCLUSIVE, (f"the interval ({span}) overlaps the edge of the region "
                                        f"{region}; the estimate ({_num(est)}) lies {where} it, "
                                        "and a narrower interval (more seeds, images or runs) "
                                        "would decide")
    if not record["setting_ok"]:
        if label == CONFIRMED and record["weaker_here"]:
            return CONFIRMED, (f"{why}, measured on {record['here']}, a weaker setting than "
                               f"{record['setting']}: it holds there a fortiori")
        return UNTESTABLE_SETTING, (f"the article measured on {record['setting']}; this run "
                                    f"measured on {record['here']}, where the rule says "
                                    f"'{label}': {why}")
    return label, why


def combine_labels(labels: list[str]) -> str:
    """A composite claim's label from its parts' (sentence 4 of the policy)."""
    if not labels:
        raise ValueError("a composite claim needs at least one part")
    if REFUTED in labels:
        return REFUTED
    if all(label == CONFIRMED for label in labels):
        return CONFIRMED
    for untestable in (UNTESTABLE_SETTING, UNTESTABLE_BUDGET):
        if untestable in labels:
            return untestable
    return INCONCLUSIVE if INCONCLUSIVE in labels else PARTLY


def judge(claim_id: str, measured: Interval | dict[str, Interval], *,
          converged: dict[str, bool] | None = None, here: str = "",
          setting_ok: bool | None = None) -> Verdict:
    """The verdict on claim ``claim_id`` of :data:`READINGS` from what this run measured:
    one :class:`Interval`, or one per part (``{"accuracy": ..., "parameters": ...}``).

    ``converged`` names each trained model the claim depends on and whether it converged
    (:func:`converged`); ``here`` describes the machine the run measured on, and
    ``setting_ok`` says it is the claimed setting (default: True only for claims that name
    none)."""
    if claim_id not in READINGS:
        raise ValueError(f"unknown claim {claim_id!r}; the course reads {', '.join(READINGS)}")
    spec = READINGS[claim_id]
    given = measured if isinstance(measured, dict) else {"": measured}
    if set(given) != set(spec.parts):
        raise ValueError(f"{claim_id} has the parts {sorted(spec.parts)}, got {sorted(given)}")
    records = []
    for name, reading in spec.parts.items():
        m = given[name]
        if not isinstance(m, Interval):
            raise TypeError(f"{claim_id} {name}: measure an Interval, got {type(m).__name__}")
        ok = (not reading.setting) if setting_ok is None else setting_ok
        record = {"part": name, "reading": reading.reading, "claimed": reading.claimed,
                  "margin": reading.margin, "why_margin": reading.why_margin,
                  "region": list(reading.region), "null_value": reading.null,
                  "log": reading.log, "estimate": m.estimate, "low": m.low, "high": m.high,
                  "n": m.n, "paired": m.paired, "interval": m.method,
                  "converged": dict(converged or {}) if reading.trained else {},
                  "setting": reading.setting,
                  "setting_ok": ok, "weaker_here": reading.weaker_here,
                  "here": here or "this machine"}
        record["verdict"], record["why"] = decide(record)
        record["why"] = record["why"][0].upper() + record["why"][1:]
        records.append(record)
    if len(records) == 1 and records[0]["part"] == "":
        return Verdict(records[0]["verdict"], records[0]["why"] + ".", records[0])
    label = combine_labels([r["verdict"] for r in records])
    why = " ".join(f"{r['part'].capitalize()}: {r['verdict']}. {r['why']}." for r in records)
    return Verdict(label, why, {"verdict": label, "parts": records})


def recompute(row: dict) -> list[str]:
    """Disagreements between a stored claims row and what its numbers give (empty: none)."""
    parts = row.get("parts") or [row]
    problems = []
    for p in parts:
        label, _ = decide(p)
        if label != p["verdict"]:
            problems.append(f"{row['id']} {p.get('part') or ''}: stored '{p['verdict']}', "
                            f"its numbers give '{label}'")
    if row.get("parts"):
        label = combine_labels([p["verdict"] for p in parts])
        if label != row["verdict"]:
            problems.append(f"{row['id']}: stored '{row['verdict']}', its parts give '{label}'")
    return problems


def _num(x: float | None) -> str:
    """A number for a sentence: 61,706 rather than 6.171e+04, 0.1234 rather than 0.123400."""
    if x is None:
        return "open"
    return f"{x:,.0f}" if math.isfinite(x) and abs(x) >= 1e4 else f"{x:.4g}"


# -- tables ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """One row of a chapter's *Claims check*: the claim's id (:data:`READINGS`), what this
    run measured, the verdict, and context a reader needs (the set-up, a caveat)."""

    id: str
    measured: str
    verdict: Verdict
    note: str = ""

    def __post_init__(self) -> None:
        if self.id not in READINGS:
            raise ValueError(f"unknown claim {self.id!r}; the course reads "
                             f"{', '.join(READINGS)}")
        if not self.verdict.record:
            raise ValueError(f"{self.id}: the verdict carries no numbers; make it with "
                             "claims.judge")

    @property
    def article(self) -> str:
        return READINGS[self.id].words

    def record(self) -> dict:
        """The row as plain data: what the ledger (``python -m mnist_course claims``) reads
        and ``claims --check`` recomputes."""
        return {**self.verdict.record, "id": self.id, "article": self.article,
                "measured": self.measured, "rule": self.verdict.rule,
                "why": self.verdict.why, "note": self.note, "verdict": self.verdict.verdict}


def markdown_table(header: list[str], rows: list[list]):
    """Render rows (any values, shown with str) as a Markdown table (an IPython display object)."""
    from IPython.display import Markdown

    return Markdown(markdown_text(header, rows))


def markdown_text(header: list[str], rows: list[list]) -> str:
    """A Markdown table as text; pipes inside cells are escaped."""
    def cell(value) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in rows]
    return "\n".join(lines)


class ClaimsTable:
    """A chapter's claims: shown as a Markdown table, stored as JSON beside it."""

    def __init__(self, rows: list[Claim]) -> None:
        self.rows = list(rows)

    def markdown(self) -> str:
        return markdown_text(
            ["claim", "the article", "measured here", "verdict", "why"],
            [[r.id, r.article, r.measured, f"**{r.verdict.verdict}**",
              " ".join(part for part in (r.note, r.verdict.why) if part)] for r in self.rows])

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/markdown": self.markdown(),
                CLAIMS_MIME: [r.record() for r in self.rows]}


def claims_table(rows: list[Claim]) -> ClaimsTable:
    """The chapter's *Claims check*: display it as the cell's last expression."""
    for row in rows:
        if not isinstance(row, Claim):
            raise TypeError(f"claims_table takes Claim rows, got {type(row).__name__}")
    return ClaimsTable(rows)
