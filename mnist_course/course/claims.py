"""The course's one verdict policy, and the tables that show it.

Every chapter's *Claims check* turns measurements into verdicts with the rules below and
nothing else. A rule takes the article's number and an :class:`Interval` (never a bare
point estimate) and returns a :class:`Verdict`: one of :data:`VERDICTS`, the rule's name and
the reason in words.

The policy, in four sentences (``book/claims.md`` prints it in full):

1. Intervals come from ``scipy.stats``: a t-interval over seeds (:func:`t_interval`,
   :func:`paired_difference`), a Wilson interval for an accuracy or a share
   (:func:`binomial_interval`), a bootstrap where nothing else fits
   (:func:`bootstrap_interval`); exact counts are intervals of width zero (:func:`exact`).
   A difference between two treatments needs at least :data:`MIN_PAIRED_SEEDS` paired
   seeds: with fewer, :func:`paired_difference` still gives its interval, but every rule
   answers ``not reproducible here`` and says why.
2. A verdict is decided only by where the *whole* interval lies: above the claim
   (``confirmed``), clearly short of it but with the claimed sign (``partly confirmed``), on
   the wrong side of no effect or of the limit (``refuted``). An interval that straddles a
   boundary decides nothing: ``not reproducible here``. So a wider (noisier) interval can
   only move a verdict towards ``not reproducible here``, never towards ``confirmed``.
3. A claim of several parts is confirmed when every part is, refuted when every part is,
   and undecided when any part is (:func:`combine`).
4. A claim about a setting the course does not run (a T4 GPU, a cluster) keeps its rule's
   verdict only in that setting; elsewhere it is ``not reproducible here`` and says what was
   measured instead (:func:`in_setting`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numpy as np

CONFIRMED, PARTLY, REFUTED, UNDECIDED = VERDICTS = (
    "confirmed", "partly confirmed", "refuted", "not reproducible here")
#: MIME type under which a claims table stores its rows as JSON in the notebook's outputs.
CLAIMS_MIME = "application/vnd.mnist-course.claims+json"
CONFIDENCE = 0.95
#: Paired seeds a difference between two treatments needs before a rule may decide on it.
MIN_PAIRED_SEEDS = 5

#: The article's numbered claims (../shared/ARTICLE.md) and the chapters that check them.
ARTICLE_CLAIMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "C1": ("LeNet-5: over 99% test accuracy with about 60k parameters", ("01",)),
    "C2": ("depthwise-separable blocks cut parameters to 1/8", ("01",)),
    "C3": ("... keeping 99.2% accuracy and 3x faster inference", ("01",)),
    "C4": ("an SE block: +0.7 points under background clutter", ("01",)),
    "C5": ("TPE reaches in 20 evaluations what grid search reaches in 50", ("02",)),
    "C6": ("digit 1 has 1.2x the samples of digit 9", ("00", "03")),
    "C7": ("geometric augmentation: +4 points on tilted digits", ("03",)),
    "C8": ("FGSM adversarial training: +12 points under noise", ("03",)),
    "C9": ("quantisation: 4.2 MB to 1.1 MB and 60% less latency", ("04a",)),
    "C10": ("gRPC + TF Serving: 2000+ requests/s at p99 under 15 ms (a cluster)", ("04b",)),
    "C11": ("ProtoNet: 95%+ with 10 samples per class", ("07a",)),
    "C12": ("the combined recipe: 99.6% test accuracy", ("05",)),
    "C13": ("end-to-end inference under 8 ms (an NVIDIA T4 GPU)", ("04a",)),
    "C14": ("edge latency < 50 ms and mobile memory < 10 MB", ("04a", "05")),
}


# -- intervals ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Interval:
    """A measured quantity: the estimate and a two-sided interval, with how it was made.
    ``too_few`` says why no rule may decide on it (too few runs), or is empty."""

    estimate: float
    low: float
    high: float
    method: str
    too_few: str = ""

    def __post_init__(self) -> None:
        if not self.low <= self.estimate <= self.high:  # NaN fails too
            raise ValueError(f"interval {self.low} to {self.high} does not contain "
                             f"its estimate {self.estimate} ({self.method})")

    def scaled(self, factor: float) -> Interval:
        """The same interval in other units (a share as %: ``scaled(100)``); factor > 0."""
        return replace(self, estimate=self.estimate * factor, low=self.low * factor,
                       high=self.high * factor)

    def __str__(self) -> str:
        if self.low == self.high:
            return f"{self.estimate:.4g} ({self.method})"
        return f"{self.estimate:.4g} ({self.low:.4g} to {self.high:.4g}, {self.method})"


def exact(value: float, method: str = "exact") -> Interval:
    """A quantity without sampling noise (a parameter count, a file size, a class count)."""
    return Interval(float(value), float(value), float(value), method)


def t_interval(values, confidence: float = CONFIDENCE, what: str = "seeds") -> Interval:
    """Student-t interval for the mean of a few independent runs (``scipy.stats.t``).

    With one value there is no estimate of the spread: the interval is infinite, so every
    rule answers ``not reproducible here``.
    """
    from scipy import stats

    values = np.asarray(values, dtype=float)
    if values.ndim != 1 or len(values) == 0 or not np.all(np.isfinite(values)):
        raise ValueError(f"t_interval needs a 1-D array of finite values, got {values!r}")
    n, mean = len(values), float(values.mean())
    method = f"t, {n} {what}, {confidence:.0%}"
    if n == 1:
        return Interval(mean, -math.inf, math.inf, method)
    sem = float(stats.sem(values))
    if sem == 0:
        return Interval(mean, mean, mean, method)
    low, high = stats.t.interval(confidence, n - 1, loc=mean, scale=sem)
    return Interval(mean, float(low), float(high), method)


def paired_difference(treated, control, confidence: float = CONFIDENCE) -> Interval:
    """t-interval of the mean of ``treated - control``, one pair per seed.

    Call a comparison paired only when each pair shares its data order and its initial
    weights; otherwise the pairing is decoration and the interval is too narrow. With fewer
    than :data:`MIN_PAIRED_SEEDS` pairs no rule decides on the interval.
    """
    treated, control = np.asarray(treated, float), np.asarray(control, float)
    if treated.shape != control.shape:
        raise ValueError(f"paired runs need equal lengths, got {treated.shape} and "
                         f"{control.shape}")
    interval = t_interval(treated - control, confidence, what="paired seeds")
    if len(treated) < MIN_PAIRED_SEEDS:
        interval = replace(interval, too_few=f"{len(treated)} paired seed(s), fewer than the "
                                             f"{MIN_PAIRED_SEEDS} a difference between two "
                                             "treatments needs")
    return interval


def binomial_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson score interval for a share, e.g. correct answers on ``n`` test images
    (``scipy.stats.binomtest(...).proportion_ci(method='wilson')``)."""
    from scipy import stats

    if not 0 <= successes <= n or n <= 0:
        raise ValueError(f"need 0 <= successes <= n and n > 0, got {successes} of {n}")
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(confidence, method="wilson")
    return Interval(successes / n, float(ci.low), float(ci.high),
                    f"Wilson, n = {n:,}, {confidence:.0%}")


def bootstrap_interval(*samples, statistic=np.median, confidence: float = CONFIDENCE,
                       seed: int = 0, what: str = "runs") -> Interval:
    """Percentile bootstrap interval of ``statistic`` over one or more independent samples
    (``scipy.stats.bootstrap``), for statistics with no textbook interval: a median of
    runs, a ratio of two medians of timings (``statistic=lambda a, b: ...``)."""
    from scipy import stats

    samples = [np.asarray(s, dtype=float) for s in samples]
    if not samples or any(s.ndim != 1 or len(s) < 2 for s in samples):
        raise ValueError("bootstrap_interval needs 1-D samples of at least 2 values each")
    estimate = float(statistic(*samples))
    method = (f"bootstrap of the {getattr(statistic, '__name__', 'statistic')}, "
              f"{' and '.join(str(len(s)) for s in samples)} {what}, {confidence:.0%}")
    if all(np.all(s == s[0]) for s in samples):
        return Interval(estimate, estimate, estimate, method)
    vectorized = len(samples) == 1 and statistic in (np.median, np.mean)
    result = stats.bootstrap(tuple(samples), statistic, confidence_level=confidence,
                             method="percentile", random_state=seed, vectorized=vectorized,
                             n_resamples=2000 if not vectorized else 9999)
    ci = result.confidence_interval
    low, high = min(float(ci.low), estimate), max(float(ci.high), estimate)
    return Interval(estimate, low, high, method)


# -- verdicts -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Verdict:
    """One of :data:`VERDICTS`, the rule that gave it, and why, in words."""

    verdict: str
    rule: str
    why: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


def at_least(claimed: float, measured: Interval, tolerance: float = 0.0) -> Verdict:
    """A claimed level ("over 99%"): the quantity is at least ``claimed``.

    confirmed: the whole interval is at or above ``claimed``; partly confirmed: the whole
    interval lies below it by no more than ``tolerance``; refuted: the whole interval lies
    more than ``tolerance`` below; otherwise not reproducible here.
    """
    rule = f"at least {_num(claimed)}" + (f" (tolerance {_num(tolerance)})" if tolerance else "")
    rule += f"; {measured.method}"
    m = measured
    if m.too_few:
        return _too_few(rule, m)
    if m.low >= claimed:
        return Verdict(CONFIRMED, rule, _whole(m) + f" is at or above "
                                        f"{_num(claimed)}.")
    if m.high < claimed - tolerance:
        return Verdict(REFUTED, rule, _whole(m) + f" is below "
                                      f"{_num(claimed - tolerance)}.")
    if m.high < claimed and m.low >= claimed - tolerance:
        return Verdict(PARTLY, rule, f"the interval ({_span(m)}) is below {_num(claimed)}, but "
                                     f"within {_num(tolerance)} of it.")
    return Verdict(UNDECIDED, rule, f"the interval ({_span(m)}) straddles "
                                    f"{_num(claimed)}" + (f" or {_num(claimed - tolerance)}"
                                                      if tolerance else "")
                   + ": this run cannot decide.")


def about(claimed: float, measured: Interval, tolerance: float) -> Verdict:
    """A claimed value ("about 60k parameters"): the quantity is within ``tolerance`` of
    ``claimed``. confirmed: the whole interval is inside; refuted: the whole interval is
    outside (on one side); otherwise not reproducible here."""
    rule = f"within {_num(tolerance)} of {_num(claimed)}; {measured.method}"
    m, low, high = measured, claimed - tolerance, claimed + tolerance
    if m.too_few:
        return _too_few(rule, m)
    if low <= m.low and m.high <= high:
        return Verdict(CONFIRMED, rule, _whole(m) + f" lies within "
                                        f"{_num(low)} to {_num(high)}.")
    if m.high < low or m.low > high:
        return Verdict(REFUTED, rule, _whole(m) + f" lies outside "
                                      f"{_num(low)} to {_num(high)}.")
    return Verdict(UNDECIDED, rule, f"the interval ({_span(m)}) straddles an end of "
                                    f"{_num(low)} to {_num(high)}: this run cannot decide.")


def at_most(limit: float, measured: Interval) -> Verdict:
    """A claimed limit ("latency < 50 ms"): the quantity stays below ``limit``.

    confirmed: the whole interval is below; refuted: the whole interval is at or above;
    otherwise not reproducible here. The reason states the margin, so a reader sees when a
    limit is so loose that the check could not have failed.
    """
    rule = f"below {_num(limit)}; {measured.method}"
    m = measured
    if m.too_few:
        return _too_few(rule, m)
    if m.high < limit:
        margin = f"{limit / m.high:.3g}x" if m.high > 0 else "unbounded"
        return Verdict(CONFIRMED, rule, _whole(m) + f" is below {_num(limit)} "
                                        f"(margin {margin}).")
    if m.low >= limit:
        return Verdict(REFUTED, rule, _whole(m) + f" is at or above "
                                      f"{_num(limit)}.")
    return Verdict(UNDECIDED, rule, f"the interval ({_span(m)}) straddles {_num(limit)}: this "
                                    "run cannot decide.")


def effect(claimed: float, measured: Interval, null: float = 0.0,
           tolerance: float = 0.0) -> Verdict:
    """A claimed effect ("+0.7 points", "3x faster"): a change of ``claimed`` away from
    ``null``, the value that means no effect (0 for a difference, 1 for a ratio).

    confirmed: the whole interval reaches ``claimed`` (less ``tolerance``); partly confirmed:
    the whole interval shows an effect in the claimed direction, but a smaller one; refuted:
    the whole interval shows no effect or the opposite one; otherwise not reproducible here.
    """
    if claimed == null:
        raise ValueError("a claimed effect must differ from the null value")
    sign = 1.0 if claimed > null else -1.0
    # orient so that larger is always "more of the claimed effect"
    low, high = sorted((sign * measured.low, sign * measured.high))
    target, zero = sign * claimed - tolerance, sign * null
    rule = (f"effect of {claimed:+g} from {_num(null)}"
            + (f" (tolerance {_num(tolerance)})" if tolerance else "") + f"; {measured.method}")
    span = _span(measured)
    if measured.too_few:
        return _too_few(rule, measured)
    if low >= target:
        return Verdict(CONFIRMED, rule, _whole(measured) + f" reaches the claimed "
                                        f"{_num(claimed)}" + (f" within {_num(tolerance)}"
                                                          if tolerance else "") + ".")
    if high <= zero:
        return Verdict(REFUTED, rule, _whole(measured) + f" shows no effect in the "
                                      f"claimed direction (null {_num(null)}).")
    if low > zero and high < target:
        return Verdict(PARTLY, rule, _whole(measured) + f" shows an effect in the "
                                     f"claimed direction, but smaller than {_num(claimed)}.")
    return Verdict(UNDECIDED, rule, f"the interval ({span}) straddles "
                                    + (f"{_num(null)} (no effect)" if low <= zero
                                       else f"the claimed {_num(claimed)}")
                   + ": this run cannot decide.")


def ratio(claimed: float, measured: Interval, tolerance: float = 0.1) -> Verdict:
    """A claimed factor ("8x smaller" as 8, "3x faster" as 3): :func:`effect` on the log
    scale with null 1, a ``tolerance`` of 10% meaning a factor within 1.1x of the claim."""
    if claimed <= 0 or measured.low <= 0:
        raise ValueError("ratios must be positive")
    rule = f"factor of {_num(claimed)} (tolerance {tolerance:.0%}); {measured.method}"
    if measured.too_few:
        return _too_few(rule, measured, "x")
    logged = Interval(math.log(measured.estimate), math.log(measured.low),
                      math.log(measured.high), measured.method)
    v = effect(math.log(claimed), logged, null=0.0, tolerance=math.log1p(tolerance))
    words = {CONFIRMED: f"reaches {_num(claimed)}x within {tolerance:.0%}",
             PARTLY: f"is above 1x but short of {_num(claimed)}x",
             REFUTED: "is at or below 1x: no gain at all",
             UNDECIDED: f"straddles 1x or {_num(claimed)}x: this run cannot decide"}
    return Verdict(v.verdict, rule,
                   (_whole(measured, "x") if v.verdict != UNDECIDED
                    else f"the interval ({_span(measured)}x)") + f" {words[v.verdict]}.")


def combine(*parts: Verdict) -> Verdict:
    """A claim of several parts: confirmed if all are, refuted if all are, not reproducible
    here if any part is, partly confirmed otherwise."""
    if not parts:
        raise ValueError("combine needs at least one verdict")
    kinds = [p.verdict for p in parts]
    if UNDECIDED in kinds:
        verdict = UNDECIDED
    elif all(k == CONFIRMED for k in kinds):
        verdict = CONFIRMED
    elif all(k == REFUTED for k in kinds):
        verdict = REFUTED
    else:
        verdict = PARTLY
    return Verdict(verdict, " AND ".join(f"({p.rule})" for p in parts),
                   " ".join(f"Part {i}: {p.verdict}, {p.why}" for i, p in enumerate(parts, 1)))


def in_setting(verdict: Verdict, claimed_setting: str, here: str, same: bool) -> Verdict:
    """A claim made for a setting the course may not have (``claimed_setting``, e.g. "an
    NVIDIA T4 GPU"). When ``same`` the rule's verdict stands; otherwise it becomes
    ``not reproducible here`` and the reason says what was measured instead."""
    if same:
        return verdict
    return Verdict(UNDECIDED, verdict.rule,
                   f"Different setting: the article measured on {claimed_setting}; this run "
                   f"measured on {here}, where the same rule says '{verdict.verdict}': "
                   f"{verdict.why}")


def _num(x: float) -> str:
    """A number for a sentence: 61,706 rather than 6.171e+04, 0.1234 rather than 0.123400."""
    return f"{x:,.0f}" if math.isfinite(x) and abs(x) >= 1e4 else f"{x:.4g}"


def _whole(m: Interval, unit: str = "") -> str:
    """How a decided verdict names the measurement: the value itself when it is exact."""
    if m.low == m.high:
        return f"the measured value ({_num(m.estimate)}{unit})"
    return f"the whole interval ({_num(m.low)}{unit} to {_num(m.high)}{unit})"


def _span(m: Interval) -> str:
    return _num(m.estimate) if m.low == m.high else f"{_num(m.low)} to {_num(m.high)}"


def _too_few(rule: str, m: Interval, unit: str = "") -> Verdict:
    return Verdict(UNDECIDED, rule, f"{m.too_few}, so this run cannot decide (the interval, "
                                    f"{_span(m)}{unit}, is shown but not judged).")


# -- tables ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """One row of a chapter's *Claims check*: the claim's id (C1..C14, ARTICLE.md), what this
    run measured, the verdict, and context a reader needs (the set-up, a caveat)."""

    id: str
    measured: str
    verdict: Verdict
    note: str = ""

    def __post_init__(self) -> None:
        if self.id not in ARTICLE_CLAIMS:
            raise ValueError(f"unknown claim {self.id!r}; the article's are "
                             f"{', '.join(ARTICLE_CLAIMS)}")

    @property
    def article(self) -> str:
        return ARTICLE_CLAIMS[self.id][0]

    def record(self) -> dict:
        """The row as plain data: what the ledger (``python -m mnist_course claims``) reads."""
        return {"id": self.id, "article": self.article, "measured": self.measured,
                **asdict(self.verdict), "note": self.note}


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
              " ".join(part for part in (r.note, f"Rule: {r.verdict.rule}; {r.verdict.why}")
                       if part)] for r in self.rows])

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        return {"text/markdown": self.markdown(),
                CLAIMS_MIME: [r.record() for r in self.rows]}


def claims_table(rows: list[Claim]) -> ClaimsTable:
    """The chapter's *Claims check*: display it as the cell's last expression."""
    for row in rows:
        if not isinstance(row, Claim):
            raise TypeError(f"claims_table takes Claim rows, got {type(row).__name__}")
    return ClaimsTable(rows)
