"""Spam figures: out-of-fold scores (the shipped model has seen every spam set, so scoring them with it
would measure memory, not skill) plus the shipped scorer's speed and its false holds on news comments.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from workers.evaluation.datasets import UCC_VAL, read_rows
from workers.evaluation.report import Table, score_row

SPAM_PREVALENCE = 0.10  # assumed share of spam in a news site's incoming comments
DESCRIPTIONS = {
    "youtube": "YouTube comments, leave-one-video-out CV (5 videos)",
    "sms": "SMS, 5-fold CV grouped by text",
    "spamassassin": "SpamAssassin e-mail, 5-fold CV grouped by text",
}


def shipped_speed(scorer: Any, texts: list[str]) -> float:
    """Texts per second of the full static path: text model + static signals + combine."""
    from workers.scoring.types import CommentText

    started = time.perf_counter()
    scores = scorer.text_scores(texts)
    for i, (text, s) in enumerate(zip(texts, scores, strict=True)):
        scorer.combine(s, scorer.static_signals(CommentText(id=str(i), body=text)))
    return len(texts) / max(time.perf_counter() - started, 1e-9)


def spam_tables(data: Path, threshold: float, limit: int | None, seed: int = 0) -> list[Table]:
    """One table per spam set: combined (text + body signals) and text-only out-of-fold scores."""
    import numpy as np

    from workers.scoring.spam import SpamScorer
    from workers.training import spam as train

    scorer = SpamScorer()
    chosen = float(scorer.manifest["recommended_threshold"])
    d = train.load_all(data, limit)
    cv = train.cross_validate(d, float(scorer.manifest["C"]), seed, int(scorer.manifest["dim_bits"]))
    text_only = train.combined(cv["z"], 0.0, cv["a"], cv["b"])
    sets, y = np.asarray(d.sets), np.asarray(d.labels)
    tables = []
    for name in train.SETS:
        m = sets == name
        if not m.any():
            continue
        labels = y[m].tolist()
        t = Table(name, DESCRIPTIONS[name], int(m.sum()), float(np.mean(y[m])), SPAM_PREVALENCE)
        speed = shipped_speed(scorer, [d.texts[i] for i in np.flatnonzero(m)])
        for thr in dict.fromkeys((threshold, chosen)):
            row = score_row(f"spam OOF thr={thr:g}", labels, cv["score"][m].tolist(), thr, SPAM_PREVALENCE)
            row.texts_per_s, row.note = speed, "text model + body signals"
            t.rows.append(row)
        row = score_row("spam OOF text only", labels, text_only[m].tolist(), threshold, SPAM_PREVALENCE)
        t.rows.append(row)
        tables.append(t)
    tables.append(news_false_holds(data, scorer, (threshold, chosen), limit))
    return tables


def news_false_holds(data: Path, scorer: Any, thresholds: tuple[float, ...], limit: int | None) -> Table:
    """Share of UCC news comments (taken as all non-spam) the shipped spam scorer would hold."""
    from workers.scoring.types import CommentText

    texts = [r["comment"] for r in read_rows(data / UCC_VAL)][: limit or None]
    started = time.perf_counter()
    text = scorer.text_scores(texts)
    scores = [
        scorer.combine(s, scorer.static_signals(CommentText(id="u", body=b)))
        for s, b in zip(text, texts, strict=True)
    ]
    speed = len(texts) / max(time.perf_counter() - started, 1e-9)
    t = Table("spam_on_news", "UCC val news comments, all taken as non-spam (false holds)", len(texts), 0.0)
    for thr in dict.fromkeys(thresholds):
        row = score_row(f"shipped spam thr={thr:g}", [0] * len(texts), scores, thr)
        held = sum(s >= thr for s in scores)
        row.texts_per_s, row.note = speed, f"false holds {held} ({held / max(len(texts), 1):.2%})"
        t.rows.append(row)
    return t
