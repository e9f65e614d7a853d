"""Per-language rows of ``commentmod eval``: the German, Portuguese, Korean (and more English) sets.

The ``eval only`` sets (GermEval 2019, HateBR, Fortuna 2019, APEACH) and the held-back splits of the
``training ok`` sets (GermEval 2018 test, ToLD-Br test, K-MHaS val, the Korean curse test split, ConvAbuse
test), each scored by the configured toxicity model as it is, whatever language it serves: the rows say
how far its scores can be trusted in that language (the worker itself does not score a language the model
does not serve; README "Languages"). alt-profanity-check (English word lists) is not measured on them.
Sets missing from the data folder are skipped. ``summary`` prints one line per set, with its language.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

from workers.evaluation.datasets import EvalSet, _normalized, limit_rows
from workers.evaluation.report import Table

# (language, folder, set name, split or None for every row, description)
LANGUAGE_SETS: tuple[tuple[str, str, str, str | None, str], ...] = (
    ("de", "germeval2019_offense_de", "de_germeval2019", None, "GermEval 2019 tweets, all rows (eval only)"),
    ("de", "germeval2018_offense_de", "de_germeval2018_test", "test", "GermEval 2018 tweets, test split"),
    ("pt", "hatebr_pt", "pt_hatebr", None, "HateBR Instagram comments, offensive (eval only)"),
    ("pt", "fortuna2019_hate_pt", "pt_fortuna2019", None, "Fortuna 2019 tweets, hate (eval only)"),
    ("pt", "told_br_pt", "pt_told_br_test", "test", "ToLD-Br tweets, test split"),
    ("ko", "apeach_ko", "ko_apeach", None, "APEACH crowd-written sentences, hate (eval only)"),
    ("ko", "kmhas_ko", "ko_kmhas_val", "val", "K-MHaS news comments, val split"),
    ("ko", "korean_curse_ko", "ko_curse_test", "test", "Korean community comments, curse, test split"),
    ("en", "convabuse_en", "en_convabuse_test", "test", "ConvAbuse utterances to chatbots, test split"),
)
# English rows of the main tables repeated in the summary, for comparison.
ENGLISH_REFERENCE = ("ucc_unhealthy", "ucc_hostile", "olid_test")


def language_sets(
    root: Path, limit: int | None = None, languages: Sequence[str] | None = None
) -> list[tuple[str, EvalSet]]:
    """``(language, set)`` for every per-language set present under ``root``."""
    out: list[tuple[str, EvalSet]] = []
    for language, folder, name, split, description in LANGUAGE_SETS:
        if (languages and language not in languages) or not (root / folder / "normalized.csv").is_file():
            continue
        for s in _normalized(folder, name, description, split, profanity_fair=False)(root):
            texts, labels = limit_rows(s.texts, s.labels, limit)
            out.append((language, EvalSet(s.name, s.description, texts, labels, profanity_fair=False)))
    return out


def language_tables(
    root: Path,
    limit: int | None,
    languages: Sequence[str] | None,
    table: Callable[[str, EvalSet], Table],
    emit: Callable[[Table], None],
) -> list[tuple[str, Table]]:
    """Score and emit every per-language set; returns them with their languages."""
    out: list[tuple[str, Table]] = []
    for language, s in language_sets(root, limit, languages):
        t = table(language, s)
        emit(t)
        out.append((language, t))
    return out


def _cell(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.3f}"


def summary(rows: Sequence[tuple[str, Table]]) -> str:
    """One Markdown line per set and scorer: language, set, rows, positives, ROC-AUC and its interval."""
    lines = [
        "| language | set | rows | positives | scorer | ROC-AUC | 95 % CI |",
        "|---|---|---|---|---|---|---|",
    ]
    for language, t in rows:
        for r in t.rows:
            interval = "–" if math.isnan(r.roc_auc_low) else f"{r.roc_auc_low:.3f}–{r.roc_auc_high:.3f}"
            lines.append(
                f"| {language} | {t.name} | {t.rows_n} | {t.positive_rate:.1%} | {r.scorer} "
                f"| {_cell(r.roc_auc)} | {interval} |"
            )
    return "\n".join(lines)
