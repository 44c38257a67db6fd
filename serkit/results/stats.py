"""Statistics that fit the evaluation design: which test compares two runs, and confidence intervals.

The design decides the test (Dietterich 1998; Nadeau & Bengio 2003; Demšar 2006):

- **one test set** (a single random split, cross-corpus, fixed speaker lists): for UAR, a paired
  permutation test of the pooled UAR with a paired speaker-bootstrap interval; for accuracy, McNemar's
  test on the paired predictions of the same utterances; for CCC, a test over speakers or a permutation;
- **one fold per speaker** (leave one speaker out): the Wilcoxon signed-rank test over speakers,
  with the paired t-test beside it and its caveat (the folds share most of their training data);
- **folds whose training sets overlap** (k-fold, speaker k-fold, repeated random splits): the
  Nadeau–Bengio corrected resampled t-test, whose variance term grows with test/fit size to
  account for that overlap. The plain paired t-test over such folds overstates significance.

Each test is declared once (:class:`StatisticalTest` in :data:`TESTS`): what its p and its interval are
of, and why; every :class:`Comparison` names one, and the reports read the declaration.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from serkit.core.scores import accuracy, mean_ccc, uar

#: Fewer test speakers than this: bootstrap by utterance, and say so.
MIN_SPEAKERS_FOR_SPEAKER_BOOTSTRAP = 5


@dataclass(frozen=True)
class StatisticalTest:
    """A test serkit compares two runs with, declared once (:data:`TESTS`): the design it fits, the metrics it
    tests, what its p and its difference and interval are of, why it fits, and what to keep in mind."""

    name: str
    design: str
    metrics: tuple[str, ...]
    p_of: str
    interval_of: str
    why: str
    caveat: str = ""

    def explanation(self) -> str:
        """The test in the words of a report's notes."""
        return (
            f"{self.name} ({self.design}): p from {self.p_of}; Δ and its 95 % CI are of {self.interval_of}. {self.why}"
        )


#: Every test a comparison may name, by name: ``runs compare``, ``ablate``, their terminal tables and pages
#: read these (a :class:`Comparison` naming another is refused).
TESTS: dict[str, StatisticalTest] = {}


def _declare(test: StatisticalTest) -> str:
    TESTS[test.name] = test
    return test.name


#: Rounds of the bootstrap and of the permutation tests.
ROUNDS = 1000

_SPEAKER_BOOTSTRAP = (
    "a paired bootstrap of the pooled difference, resampling test speakers with their utterances (utterances "
    "where there are fewer than five speakers)"
)

MCNEMAR = _declare(
    StatisticalTest(
        "McNemar",
        "one test set",
        ("accuracy",),
        "McNemar's test on the utterances exactly one run got right (exact binomial below 25 of them, else "
        "chi-square with continuity correction)",
        "accuracy, with a Wald interval on those discordant pairs",
        "Accuracy counts utterances, so the utterances the runs disagree on carry all the evidence.",
    )
)
PERMUTATION_UAR = _declare(
    StatisticalTest(
        "paired permutation test of UAR",
        "one test set",
        ("uar",),
        f"a paired permutation test of the pooled UAR (each utterance's two predictions swapped at random, "
        f"{ROUNDS} rounds)",
        f"the difference in pooled UAR (B - A), the interval {_SPEAKER_BOOTSTRAP}",
        "UAR weighs each class equally, not each utterance, so McNemar's count of discordant utterances does not "
        f"test it; the permutation test's p is valid under the null that the two runs' predictions are "
        f"interchangeable (a Monte Carlo estimate over {ROUNDS} rounds, never below 1/{ROUNDS + 1}), and the "
        "speaker bootstrap's interval adds the variation a new set of test speakers would bring.",
        "the permutation swaps single utterances, so its p ignores between-speaker variation; the interval does "
        "not. The two answer different questions (p: could the runs' predictions be swapped? the interval: how far "
        "would the difference move on other speakers?), so near 0.05 one may exclude zero and the other not",
    )
)
WILCOXON_SPEAKERS = _declare(
    StatisticalTest(
        "Wilcoxon signed-rank over speakers",
        "one fold per test speaker",
        ("uar", "accuracy", "ccc"),
        "the Wilcoxon signed-rank test over the speakers' differences",
        "the mean difference over speakers, with a paired t interval",
        "The speakers' test sets are disjoint, and the signed-rank test assumes nothing of the differences' spread.",
        "leave-one-speaker-out folds share most of their training data, so the speakers' differences are not "
        "independent: read the Wilcoxon p, and more so the paired t beside it and the interval, as optimistic",
    )
)
NADEAU_BENGIO = _declare(
    StatisticalTest(
        "Nadeau-Bengio corrected resampled t",
        "folds whose training sets overlap",
        ("uar", "accuracy", "ccc"),
        "Nadeau and Bengio's corrected resampled t-test over the folds' differences",
        "the mean difference over folds, with the same test's interval (variance times 1/J + n_test/n_fit, n_fit "
        "the utterances each model was fitted on: the fit part, with train.refit fit and validation, never "
        "augmented copies)",
        "Folds that share training data give correlated differences; the correction widens the variance for it.",
        "the uncorrected paired t-test overstates significance here: its p is shown for comparison only",
    )
)
WILCOXON_SPEAKERS_CCC = _declare(
    StatisticalTest(
        "Wilcoxon signed-rank over speakers' CCC",
        "one test set with six or more speakers whose true values vary",
        ("ccc",),
        "the Wilcoxon signed-rank test over the test speakers' own CCC differences",
        f"the difference in pooled mean CCC (B - A), the interval {_SPEAKER_BOOTSTRAP}",
        "CCC is not a sum over utterances; each speaker's own CCC is one paired observation.",
    )
)
PERMUTATION_CCC = _declare(
    StatisticalTest(
        "paired permutation test of CCC",
        "one test set with fewer than six speakers whose true values vary",
        ("ccc",),
        f"a paired permutation test of the pooled mean CCC (each utterance's two predictions swapped at random, "
        f"{ROUNDS} rounds)",
        f"the difference in pooled mean CCC (B - A), the interval {_SPEAKER_BOOTSTRAP}",
        "Too few speakers to test over them: the permutation test needs none.",
        "utterances of one speaker are not independent, so p ignores between-speaker variation",
    )
)


@dataclass(frozen=True)
class Comparison:
    """A test of the difference between two runs (B - A) by one metric: the difference, its 95 % CI and the p
    are all of ``metric``, as the test's declaration (:data:`TESTS`) says."""

    test: str  # a name in TESTS
    metric: str  # uar, accuracy or ccc
    design: str  # this comparison's design in words, with its sizes
    difference: float
    ci_low: float | None
    ci_high: float | None
    p: float | None  # None: not testable (``untestable`` says why)
    note: str = ""  # this comparison's own remark beyond its test's caveat (counts, the resampling unit)
    extra: tuple[tuple[str, float | None], ...] = ()  # a second test shown beside (e.g. the paired t)
    untestable: str = ""

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"test '{self.test}' has no declaration in serkit.results.stats.TESTS")
        if self.metric not in TESTS[self.test].metrics:
            raise ValueError(
                f"test '{self.test}' is declared for {', '.join(TESTS[self.test].metrics)}, not {self.metric}"
            )

    @property
    def declaration(self) -> StatisticalTest:
        return TESTS[self.test]

    @property
    def caveat(self) -> str:
        """The test's caveat and this comparison's note, in one line ("" where neither)."""
        return "; ".join(part for part in (self.declaration.caveat, self.note) if part)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self) | {"extra": dict(self.extra), "caveat": self.caveat}
        return data | {"p_of": self.declaration.p_of, "interval_of": self.declaration.interval_of}


def format_p(value: float | None) -> str:
    """A p-value as the reports print it: three decimals, "< 0.001", or "n/a" when no test applied."""
    return "n/a" if value is None else "< 0.001" if value < 0.001 else f"{value:.3f}"


#: Differences closer than this (relative to their mean, at least 1) are equal: (k + 1)/70 - k/70 differs
#: from 1/70 in its last bits, and a t-test of such "variance" would print p < 0.001.
TOLERANCE = 1e-9


def _constant(d: np.ndarray) -> bool:
    return len(d) > 1 and float(np.ptp(d)) <= TOLERANCE * max(1.0, abs(float(d.mean())))


def untestable(differences: Sequence[float] | np.ndarray) -> str:
    """Why a t-test over these differences gives no evidence either way ("" where it can test them)."""
    d = np.asarray(differences, dtype=float)
    if len(d) < 2:
        return "one fold gives no spread to test a difference against"
    if _constant(d) and abs(float(d.mean())) > TOLERANCE:
        return (
            f"every fold's difference is the same ({d[0]:+.4f}): with zero variance a t-test has no error to "
            "weigh the mean against (no evidence is not p = 0)"
        )
    return ""


def nadeau_bengio(
    differences: Sequence[float], test_train_ratio: float
) -> tuple[float, float | None, float | None, float | None]:
    """Corrected resampled t-test: mean, 95 % CI and two-sided p of J differences over resamples
    whose training sets overlap; the variance is (1/J + n_test/n_train) times the sample variance, n_train
    the utterances each model was fitted on. No CI and no p (None) where :func:`untestable` says why; p = 1
    where every difference is zero."""
    d = np.asarray(differences, dtype=float)
    j = len(d)
    mean = float(d.mean())
    if untestable(d):
        return mean, None, None, None
    if _constant(d):  # every difference zero
        return mean, mean, mean, 1.0
    se = math.sqrt((1 / j + test_train_ratio) * float(d.var(ddof=1)))
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), j - 1))
    half = float(stats.t.ppf(0.975, j - 1)) * se
    return mean, mean - half, mean + half, p


def paired_t(differences: Sequence[float]) -> tuple[float, float | None, float | None, float | None]:
    """The ordinary paired t-test: mean, 95 % CI, two-sided p (None where :func:`untestable`)."""
    return nadeau_bengio(differences, 0.0)


def wilcoxon(differences: Sequence[float]) -> float:
    """Two-sided p of the Wilcoxon signed-rank test (1 when every difference is zero)."""
    d = np.asarray(differences, dtype=float)
    if np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d).pvalue)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> tuple[int, int, float]:
    """McNemar's test on paired predictions: (b, c, p) with b = only A right, c = only B right.
    Exact binomial below 25 discordant pairs, else chi-square with continuity correction."""
    a, b_ = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    b = int(np.sum(a & ~b_))
    c = int(np.sum(~a & b_))
    n = b + c
    if n == 0:
        return b, c, 1.0
    if n < 25:
        return b, c, float(stats.binomtest(min(b, c), n, 0.5).pvalue)
    chi2 = (abs(b - c) - 1) ** 2 / n
    return b, c, float(stats.chi2.sf(chi2, 1))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    unit: str  # "speaker" or "utterance"
    note: str = ""


def _resamples(speakers: np.ndarray, rounds: int, seed: int) -> tuple[Iterator[np.ndarray], str, str]:
    """Bootstrap index sets, drawn one at a time (a thousand of 100,000 indices would be 800 MB): speakers drawn
    with their utterances, or utterances where there are fewer than five speakers; with the unit and, for
    utterances, a note saying what that ignores."""
    rng = np.random.default_rng(seed)
    unique, codes = np.unique(speakers, return_inverse=True)
    if len(unique) >= MIN_SPEAKERS_FOR_SPEAKER_BOOTSTRAP:
        # each speaker's utterances in order (a stable sort keeps them ascending), in O(n log n)
        members = np.split(np.argsort(codes.reshape(-1), kind="stable"), np.cumsum(np.bincount(codes.reshape(-1)))[:-1])
        draws = (np.concatenate([members[k] for k in rng.integers(0, len(unique), len(unique))]) for _ in range(rounds))
        return draws, "speaker", ""
    note = (
        f"resampled by utterance: the test set has {len(unique)} speaker(s), fewer than "
        f"{MIN_SPEAKERS_FOR_SPEAKER_BOOTSTRAP}, so the interval ignores between-speaker variation"
    )
    return (rng.integers(0, len(speakers), len(speakers)) for _ in range(rounds)), "utterance", note


def bootstrap_interval(
    score: Callable[[np.ndarray], float], speakers: Sequence[str], rounds: int = ROUNDS, seed: int = 0
) -> Interval:
    """95 % percentile bootstrap CI of ``score`` (of the indices of the utterances drawn), resampling
    speakers with their utterances, or utterances where there are fewer than five speakers."""
    return bootstrap_intervals({"score": score}, speakers, rounds, seed)["score"]


def bootstrap_intervals(
    scores: dict[str, Callable[[np.ndarray], float]], speakers: Sequence[str], rounds: int = ROUNDS, seed: int = 0
) -> dict[str, Interval]:
    """:func:`bootstrap_interval` of several scores from the same draws, made once."""
    draws, unit, note = _resamples(np.asarray(speakers), rounds, seed)
    found = np.array([[score(chosen) for score in scores.values()] for chosen in draws]).reshape(-1, len(scores))
    low, high = np.percentile(found, [2.5, 97.5], axis=0)
    return {name: Interval(float(low[k]), float(high[k]), unit, note) for k, name in enumerate(scores)}


def bootstrap_ci(
    truth: Sequence[str],
    predicted: Sequence[str],
    speakers: Sequence[str],
    metric: str = "uar",
    rounds: int = ROUNDS,
    seed: int = 0,
) -> Interval:
    """95 % percentile bootstrap CI of accuracy or UAR over pooled test predictions, resampling
    speakers (their utterances together), or utterances where there are too few speakers."""
    t, p = _codes(truth, predicted)
    score = uar if metric == "uar" else accuracy
    return bootstrap_interval(lambda chosen: score(t[chosen], p[chosen]), speakers, rounds, seed)


def _codes(truth: Sequence[str], *predicted: Sequence[str]) -> list[np.ndarray]:
    """Labels as integer codes (one code per label across all the arrays): scoring a thousand resamples
    of integers is faster than of strings, and gives the same scores."""
    arrays = [np.asarray(x) for x in (truth, *predicted)]
    _, codes = np.unique(np.concatenate(arrays), return_inverse=True)
    return np.split(codes.reshape(-1), np.cumsum([len(x) for x in arrays])[:-1])


def headline_intervals(
    truth: Sequence[str], predicted: Sequence[str], speakers: Sequence[str], seed: int = 0
) -> dict[str, Any]:
    """A run's pooled accuracy and UAR with their 95 % bootstrap intervals, as metrics.json keeps them
    (``intervals``): resampled by speaker, or by utterance below five speakers (``note`` says so)."""
    t, p = _codes(truth, predicted)
    scores = {"uar": lambda c: uar(t[c], p[c]), "accuracy": lambda c: accuracy(t[c], p[c])}
    return _intervals(bootstrap_intervals(scores, speakers, seed=seed), speakers)


def ccc_interval(truth: np.ndarray, predicted: np.ndarray, speakers: Sequence[str], seed: int = 0) -> dict[str, Any]:
    """A regression's pooled mean CCC with its 95 % bootstrap interval, as metrics.json keeps it (``intervals``)."""
    found = bootstrap_interval(lambda c: mean_ccc(truth[c], predicted[c]), speakers, seed=seed)
    return _intervals({"ccc": found}, speakers)


def _intervals(found: dict[str, Interval], speakers: Sequence[str]) -> dict[str, Any]:
    first = next(iter(found.values()))
    return {
        **{metric: [interval.low, interval.high] for metric, interval in found.items()},
        "resampled_by": first.unit,
        "speakers": len(set(speakers)),
        "rounds": ROUNDS,
        "note": first.note,
    }


def paired_bootstrap_ci(
    truth: Sequence[str],
    predicted_a: Sequence[str],
    predicted_b: Sequence[str],
    speakers: Sequence[str],
    rounds: int = ROUNDS,
    seed: int = 0,
) -> Interval:
    """95 % percentile bootstrap CI of UAR(b) − UAR(a) on the same test utterances, both runs'
    predictions resampled together (by speaker, or by utterance below five speakers)."""
    t, a, b = _codes(truth, predicted_a, predicted_b)
    return bootstrap_interval(lambda c: uar(t[c], b[c]) - uar(t[c], a[c]), speakers, rounds, seed)


def paired_permutation(
    score: Callable[[np.ndarray, np.ndarray], float],
    truth: np.ndarray,
    predicted_a: np.ndarray,
    predicted_b: np.ndarray,
    rounds: int = ROUNDS,
    seed: int = 0,
) -> float:
    """Two-sided p of a paired permutation test of score(B) − score(A) on the same utterances: each
    utterance's two predictions (rows) swapped at random in each round; (beyond + 1) / (rounds + 1)."""
    a, b = np.asarray(predicted_a), np.asarray(predicted_b)
    observed = abs(score(truth, b) - score(truth, a))
    rng = np.random.default_rng(seed)
    beyond = 0
    for _ in range(rounds):
        swap = (rng.random(len(a)) < 0.5).reshape(-1, *([1] * (a.ndim - 1)))
        beyond += abs(score(truth, np.where(swap, a, b)) - score(truth, np.where(swap, b, a))) >= observed - 1e-12
    return (beyond + 1) / (rounds + 1)


def paired_uar_comparison(
    truth: Sequence[str],
    predicted_a: Sequence[str],
    predicted_b: Sequence[str],
    speakers: Sequence[str],
    rounds: int = ROUNDS,
    seed: int = 0,
) -> Comparison:
    """Two classifications of one test set by UAR: the pooled difference (B - A), its paired speaker-bootstrap
    95 % CI and the p of a paired permutation test (:data:`PERMUTATION_UAR` says why each)."""
    t, a, b = _codes(truth, predicted_a, predicted_b)
    interval = bootstrap_interval(lambda c: uar(t[c], b[c]) - uar(t[c], a[c]), speakers, rounds, seed)
    return Comparison(
        test=PERMUTATION_UAR,
        metric="uar",
        design=f"one test set ({len(t)} utterances, {len(set(speakers))} speakers)",
        difference=uar(t, b) - uar(t, a),
        ci_low=interval.low,
        ci_high=interval.high,
        p=paired_permutation(uar, t, a, b, rounds, seed),
        note=interval.note,
    )


# --- regressions: the concordance correlation coefficient ------------------------------------

#: Fewer test speakers than this (each with two or more different true values): a regression's one test
#: set is tested by permuting utterances, not over speakers (the two-sided Wilcoxon test over five
#: speakers cannot reach p < 0.05).
MIN_SPEAKERS_FOR_SPEAKER_TEST = 6


def paired_ccc_comparison(
    truth: np.ndarray,
    predicted_a: np.ndarray,
    predicted_b: np.ndarray,
    speakers: Sequence[str],
    rounds: int = ROUNDS,
    seed: int = 0,
) -> Comparison:
    """Two regressions on one test set: the difference of pooled mean CCC (B - A) with a paired bootstrap
    95 % CI (by speaker, or by utterance below five speakers), and the p of a paired test on per-speaker
    CCC (Wilcoxon over the speakers whose true values vary) where there are six such speakers or more, else
    of a paired permutation test (each utterance's two predictions swapped at random)."""
    y, a, b = (np.asarray(x, dtype=np.float64) for x in (truth, predicted_a, predicted_b))
    difference = mean_ccc(y, b) - mean_ccc(y, a)
    interval = bootstrap_interval(lambda c: mean_ccc(y[c], b[c]) - mean_ccc(y[c], a[c]), speakers, rounds, seed)
    speaker = np.asarray(speakers)
    varied = [speaker == s for s in np.unique(speaker) if np.all(np.ptp(y[speaker == s], axis=0) > 0)]
    where = f"one test set ({len(y)} utterances, {len(np.unique(speaker))} speakers)"
    if len(varied) >= MIN_SPEAKERS_FOR_SPEAKER_TEST:
        per_speaker = [mean_ccc(y[m], b[m]) - mean_ccc(y[m], a[m]) for m in varied]
        _, _, _, p_t = paired_t(per_speaker)
        return Comparison(
            test=WILCOXON_SPEAKERS_CCC,
            design=f"{where}: each speaker's CCC under both runs ({len(varied)} speakers whose true values vary)",
            p=wilcoxon(per_speaker),
            note=interval.note,
            extra=(("paired t p (per-speaker CCC)", p_t),),
            metric="ccc",
            difference=difference,
            ci_low=interval.low,
            ci_high=interval.high,
        )
    return Comparison(
        test=PERMUTATION_CCC,
        design=f"{where}: fewer than {MIN_SPEAKERS_FOR_SPEAKER_TEST} speakers whose true values vary, too few to "
        "test over speakers",
        p=paired_permutation(mean_ccc, y, a, b, rounds, seed),
        note=interval.note,
        metric="ccc",
        difference=difference,
        ci_low=interval.low,
        ci_high=interval.high,
    )
