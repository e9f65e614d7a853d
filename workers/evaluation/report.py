"""Metrics for one scorer on one set, and the plain-text tables the harness prints."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Row:
    """One scorer's figures on one data set."""

    scorer: str
    threshold: float
    roc_auc: float = math.nan
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
    row.pr_auc = float(average_precision_score(labels, scores))
    row.precision = tp / sum(held) if any(held) else math.nan
    if prevalence is not None:
        fp = sum(held) - tp
        tpr, fpr = tp / pos, fp / (len(labels) - pos)
        hit = tpr * prevalence + fpr * (1 - prevalence)
        row.precision_at_prevalence = tpr * prevalence / hit if hit else math.nan
    return row


def _fmt(value: float, digits: int = 3) -> str:
    return "-" if math.isnan(value) else f"{value:.{digits}f}"


def format_table(t: Table) -> str:
    prev = f"  precision@prev = precision if positives were {t.prevalence:.1%}" if t.prevalence else ""
    head = f"== {t.name}: {t.description}\n   rows={t.rows_n}  positive rate={t.positive_rate:.1%}{prev}"
    cols = f"   {'scorer':34s} {'ROC-AUC':>7s} {'PR-AUC':>7s} {'thr':>5s} {'prec':>6s} {'recall':>6s}"
    cols += f" {'prec@prev':>9s} {'texts/s':>8s}  note"
    lines = [head, cols]
    if not t.rows:
        lines.append("   (no scorer may fairly be measured here)")
    for r in t.rows:
        lines.append(
            f"   {r.scorer[:34]:34s} {_fmt(r.roc_auc, 4):>7s} {_fmt(r.pr_auc, 4):>7s} {r.threshold:5.2f} "
            f"{_fmt(r.precision):>6s} {_fmt(r.recall):>6s} {_fmt(r.precision_at_prevalence):>9s} "
            f"{_fmt(r.texts_per_s, 0):>8s}  {r.note}"
        )
    return "\n".join(lines)
