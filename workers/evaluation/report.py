"""Metrics for one scorer on one set, and the plain-text tables the harness prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Row:
    """One scorer's figures on one data set."""

    scorer: str
    threshold: float
    roc_auc: float = math.nan
    roc_auc_low: float = math.nan  # 95 % stratified bootstrap interval of roc_auc
    roc_auc_high: float = math.nan
    pr_auc: float = math.nan
    precision: float = math.nan
    recall: float = math.nan
    precision_at_prevalence: float = math.nan
    texts_per_s: float = math.nan
    note: str = ""


@dataclass
class Table:
    name: str
    description: str
    rows_n: int
    positive_rate: float
    prevalence: float | None = None  # realistic prevalence for the precision column
    rows: list[Row] = field(default_factory=list)


def score_row(
    scorer: str,
    labels: Sequence[int],
    scores: Sequence[float],
    threshold: float,
    prevalence: float | None = None,
    positives_only: bool = False,
) -> Row:
    """ROC-AUC, PR-AUC, precision/recall at ``threshold`` (recall only for positives-only sets)."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    held = [s >= threshold for s in scores]
    pos = sum(labels)
    tp = sum(1 for h, y in zip(held, labels, strict=True) if h and y)
    row = Row(scorer, threshold, recall=tp / pos if pos else math.nan)
    if positives_only or len(set(labels)) < 2:
        return row
    row.roc_auc = float(roc_auc_score(labels, scores))
    row.roc_auc_low, row.roc_auc_high = auc_interval(labels, scores)
    row.pr_auc = float(average_precision_score(labels, scores))
    row.precision = tp / sum(held) if any(held) else math.nan
    if prevalence is not None:
        fp = sum(held) - tp
        tpr, fpr = tp / pos, fp / (len(labels) - pos)
        hit = tpr * prevalence + fpr * (1 - prevalence)
        row.precision_at_prevalence = tpr * prevalence / hit if hit else math.nan
    return row


def auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> float:
    """ROC-AUC from how many positives and negatives hold each distinct score (ascending): the chance
    that a positive outscores a negative, ties counting half (what ``roc_auc_score`` computes)."""
    below = np.cumsum(neg) - neg
    return float((pos * (below + 0.5 * neg)).sum() / (pos.sum() * neg.sum()))


def auc_interval(
    labels: Sequence[int], scores: Sequence[float], resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile interval of ROC-AUC over a stratified bootstrap (positives and negatives resampled
    apart, so each resample keeps the set's counts). Seeded: the same figures every run."""
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=float)
    values = np.unique(s)
    pos, neg = np.searchsorted(values, s[y]), np.searchsorted(values, s[~y])
    if not len(pos) or not len(neg):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    aucs = [
        auc_from_counts(
            np.bincount(pos[rng.integers(0, len(pos), len(pos))], minlength=len(values)),
            np.bincount(neg[rng.integers(0, len(neg), len(neg))], minlength=len(values)),
        )
        for _ in range(resamples)
    ]
    low, high = np.quantile(aucs, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def _interval(r: Row) -> str:
    return "-" if math.isnan(r.roc_auc_low) else f"{r.roc_auc_low:.3f}-{r.roc_auc_high:.3f}"


def format_table(t: Table) -> str:
    prev = f"  precision@prev = precision if positives were {t.prevalence:.1%}" if t.prevalence else ""
    head = f"== {t.name}: {t.description}\n   rows={t.rows_n}  positive rate={t.positive_rate:.1%}{prev}"
    cols = f"   {'scorer':34s} {'ROC-AUC':>7s} {'95% CI':>11s} {'PR-AUC':>7s}"
    cols += f" {'thr':>5s} {'prec':>6s} {'recall':>6s} {'prec@prev':>9s} {'texts/s':>8s}  note"
    lines = [head, cols]
    if not t.rows:
        lines.append("   (no scorer may fairly be measured here)")
    for r in t.rows:
        lines.append(
            f"   {r.scorer[:34]:34s} {_fmt(r.roc_auc, 4):>7s} {_interval(r):>11s} {_fmt(r.pr_auc, 4):>7s} "
            f"{r.threshold:5.2f} "
            f"{_fmt(r.precision):>6s} {_fmt(r.recall):>6s} {_fmt(r.precision_at_prevalence):>9s} "
            f"{_fmt(r.texts_per_s, 0):>8s}  {r.note}"
        )
    return "\n".join(lines)
