"""Statistics that fit the evaluation design: which test compares two runs, and confidence intervals.

The design decides the test (Dietterich 1998; Nadeau & Bengio 2003; Demšar 2006):

- **one test set** (a single random split, cross-corpus, fixed speaker lists): McNemar's test on
  the paired predictions of the same utterances;
- **one fold per speaker** (leave one speaker out): the Wilcoxon signed-rank test over speakers,
  with the paired t-test beside it and its caveat (the folds share most of their training data);
- **folds whose training sets overlap** (k-fold, speaker k-fold, repeated random splits): the
  Nadeau–Bengio corrected resampled t-test, whose variance term grows with test/train size to
  account for that overlap. The plain paired t-test over such folds overstates significance.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from serkit.core.learner import mean_ccc

#: Fewer test speakers than this: bootstrap by utterance, and say so.
MIN_SPEAKERS_FOR_SPEAKER_BOOTSTRAP = 5


@dataclass(frozen=True)
class Comparison:
    """A test of the difference between two runs (B - A)."""

    test: str  # the test's name
    design: str  # why this test (the design in words)
    difference: float  # mean difference B - A of the compared metric (or of accuracy, for McNemar)
    ci_low: float
    ci_high: float
    p: float
    caveat: str = ""
    extra: tuple[tuple[str, float], ...] = ()  # a second test shown beside (e.g. the paired t)


def format_p(value: float | None) -> str:
    """A p-value as the reports print it: three decimals, "< 0.001", or "n/a" when no test applied."""
    return "n/a" if value is None else "< 0.001" if value < 0.001 else f"{value:.3f}"


def comparison_sentence(comparison: Comparison, metric: str) -> str:
    """A comparison's test, difference, interval and p in one sentence (UAR in points, CCC as it is)."""
    from serkit.results.render import metric_unit, score_text

    c = comparison
    low, high = score_text(c.ci_low, metric, True), score_text(c.ci_high, metric, True)
    return (
        f"{c.test} ({c.design}): difference {score_text(c.difference, metric, True)}{metric_unit(metric)}, "
        f"95 % CI [{low}, {high}], p = {format_p(c.p)}"
    )


def nadeau_bengio(differences: Sequence[float], test_train_ratio: float) -> tuple[float, float, float, float]:
    """Corrected resampled t-test: mean, 95 % CI and two-sided p of J differences over resamples
    whose training sets overlap; the variance is (1/J + n_test/n_train) times the sample variance."""
    d = np.asarray(differences, dtype=float)
    j = len(d)
    mean = float(d.mean())
    variance = float(d.var(ddof=1)) if j > 1 else math.nan
    if j < 2 or variance == 0:
        return mean, mean, mean, 1.0 if mean == 0 else 0.0
    se = math.sqrt((1 / j + test_train_ratio) * variance)
    t = mean / se
    p = float(2 * stats.t.sf(abs(t), j - 1))
    half = float(stats.t.ppf(0.975, j - 1)) * se
    return mean, mean - half, mean + half, p


def paired_t(differences: Sequence[float]) -> tuple[float, float, float, float]:
    """The ordinary paired t-test: mean, 95 % CI, two-sided p."""
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


def uar(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Unweighted average recall over the classes present in ``truth``: the definition of
    :func:`serkit.results.metrics.evaluate`, in plain NumPy for the bootstrap's thousand calls."""
    recalls = [float(np.mean(predicted[truth == label] == label)) for label in np.unique(truth)]
    return float(np.mean(recalls))


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    unit: str  # "speaker" or "utterance"
    note: str = ""


def _resamples(speakers: np.ndarray, rounds: int, seed: int) -> tuple[list[np.ndarray], str, str]:
    """Bootstrap index sets: speakers drawn with their utterances, or utterances where there are fewer
    than five speakers; with the unit and, for utterances, a note saying what that ignores."""
    rng = np.random.default_rng(seed)
    unique = np.unique(speakers)
    if len(unique) >= MIN_SPEAKERS_FOR_SPEAKER_BOOTSTRAP:
        members = [np.flatnonzero(speakers == speaker) for speaker in unique]
        draws = [np.concatenate([members[k] for k in rng.integers(0, len(unique), len(unique))]) for _ in range(rounds)]
        return draws, "speaker", ""
    note = (
        f"resampled by utterance: the test set has {len(unique)} speaker(s), fewer than "
        f"{MIN_SPEAKERS_FOR_SPEAKER_BOOTSTRAP}, so the interval ignores between-speaker variation"
    )
    return [rng.integers(0, len(speakers), len(speakers)) for _ in range(rounds)], "utterance", note


def bootstrap_interval(
    score: Callable[[np.ndarray], float], speakers: Sequence[str], rounds: int = 1000, seed: int = 0
) -> Interval:
    """95 % percentile bootstrap CI of ``score`` (of the indices of the utterances drawn), resampling
    speakers with their utterances, or utterances where there are fewer than five speakers."""
    draws, unit, note = _resamples(np.asarray(speakers), rounds, seed)
    low, high = np.percentile([score(chosen) for chosen in draws], [2.5, 97.5])
    return Interval(float(low), float(high), unit, note)


def bootstrap_ci(
    truth: Sequence[str],
    predicted: Sequence[str],
    speakers: Sequence[str],
    metric: str = "uar",
    rounds: int = 1000,
    seed: int = 0,
) -> Interval:
    """95 % percentile bootstrap CI of accuracy or UAR over pooled test predictions, resampling
    speakers (their utterances together), or utterances where there are too few speakers."""
    t, p = np.asarray(truth), np.asarray(predicted)
    score = uar if metric == "uar" else (lambda x, y: float(np.mean(x == y)))
    return bootstrap_interval(lambda chosen: score(t[chosen], p[chosen]), speakers, rounds, seed)


def paired_bootstrap_ci(
    truth: Sequence[str],
    predicted_a: Sequence[str],
    predicted_b: Sequence[str],
    speakers: Sequence[str],
    rounds: int = 1000,
    seed: int = 0,
) -> Interval:
    """95 % percentile bootstrap CI of UAR(b) − UAR(a) on the same test utterances, both runs'
    predictions resampled together (by speaker, or by utterance below five speakers)."""
    t, a, b = np.asarray(truth), np.asarray(predicted_a), np.asarray(predicted_b)
    return bootstrap_interval(lambda c: uar(t[c], b[c]) - uar(t[c], a[c]), speakers, rounds, seed)


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
    rounds: int = 1000,
    seed: int = 0,
) -> Comparison:
    """Two regressions on one test set: the difference of pooled mean CCC (B - A) with a paired bootstrap
    95 % CI (by speaker, or by utterance below five speakers), and the p of a paired test on per-speaker
    CCC (Wilcoxon over the speakers whose true values vary) where there are six such speakers or more, else
    of a paired permutation test (each utterance's two predictions swapped at random)."""
    y, a, b = (np.asarray(x, dtype=np.float64) for x in (truth, predicted_a, predicted_b))
    difference = mean_ccc(y, b) - mean_ccc(y, a)
    interval = bootstrap_interval(lambda c: mean_ccc(y[c], b[c]) - mean_ccc(y[c], a[c]), speakers, rounds, seed)
    low, high, unit, note = interval.low, interval.high, interval.unit, interval.note
    speaker = np.asarray(speakers)
    varied = [speaker == s for s in np.unique(speaker) if np.all(np.ptp(y[speaker == s], axis=0) > 0)]
    where = f"one test set ({len(y)} utterances, {len(np.unique(speaker))} speakers)"
    ci = f"the 95 % CI is a paired bootstrap of the pooled difference, resampling {unit}s" + (f" ({note})" * bool(note))
    if len(varied) >= MIN_SPEAKERS_FOR_SPEAKER_TEST:
        per_speaker = [mean_ccc(y[m], b[m]) - mean_ccc(y[m], a[m]) for m in varied]
        _, _, _, p_t = paired_t(per_speaker)
        return Comparison(
            "Wilcoxon signed-rank over speakers' CCC",
            f"{where}: each speaker's CCC under both runs ({len(varied)} speakers whose true values vary)",
            difference,
            float(low),
            float(high),
            wilcoxon(per_speaker),
            f"the difference is of the pooled mean CCC; {ci}",
            (("paired t p (per-speaker CCC)", p_t),),
        )
    rng = np.random.default_rng(seed)
    beyond = 0
    for _ in range(rounds):
        swap = (rng.random(len(y)) < 0.5)[:, None]
        beyond += abs(mean_ccc(y, np.where(swap, a, b)) - mean_ccc(y, np.where(swap, b, a))) >= abs(difference) - 1e-12
    return Comparison(
        "paired permutation test of CCC",
        f"{where}: fewer than {MIN_SPEAKERS_FOR_SPEAKER_TEST} speakers whose true values vary, too few to test "
        "over speakers",
        difference,
        float(low),
        float(high),
        (beyond + 1) / (rounds + 1),
        f"utterances of one speaker are not independent, so p ignores between-speaker variation; {ci}",
    )
