"""What happens to a comment in a language no loaded toxicity model serves (README "Languages").

It is never scored as if it were English: the pipeline leaves its toxicity scores out
(``workers/scoring/pipeline.py``), and here it gets a ``language_unsupported`` reason (signals: the
language, the action) and its site's action: ``hold`` for a human (the default) or ``publish``
(``COMMENTMOD_UNSUPPORTED_LANGUAGE``, per site ``COMMENTMOD_SITE_UNSUPPORTED_LANGUAGE``). Every other
reason still applies: spam, site rules and banned authors hold or reject it as they would any comment.
"""

from __future__ import annotations

from collections.abc import Mapping

from service.core.settings import Settings
from workers.policy import Verdict
from workers.scoring.types import Language, Reason

LANGUAGE_UNSUPPORTED = "language_unsupported"


def unsupported_action(settings: Settings, site: str) -> str:
    """``hold`` or ``publish``: the site's own setting, else the service's."""
    return settings.site_unsupported_language.get(site, settings.unsupported_language)


def apply_language(verdict: Verdict, language: Language | None, action: str) -> Verdict:
    """``verdict`` with the language reason and the site's action added when no model serves it."""
    if language is None or language.supported:
        return verdict
    reasons = (*verdict.reasons, Reason(code=LANGUAGE_UNSUPPORTED, signals=(language.code, action)))
    if verdict.verdict == "reject":
        return Verdict("reject", reasons)
    held = verdict.verdict == "hold" or action == "hold"
    return Verdict("hold" if held else "publish", reasons)


def thresholds_for(
    settings: Settings,
    shipped: Mapping[str, float],
    language: Language | None,
    rules: Mapping[str, float],
) -> dict[str, float]:
    """The thresholds a comment is decided with: the service's, then its language's toxicity threshold
    (``COMMENTMOD_LANGUAGE_THRESHOLD_<LANG>``, else the one the multilingual model ships for it), then
    the site's rules, which always win."""
    thresholds = dict(settings.thresholds)
    if language is not None:
        chosen = settings.language_thresholds.get(language.code, shipped.get(language.code))
        if chosen is not None:
            thresholds["toxicity"] = chosen
    thresholds.update(rules)
    return thresholds


def is_unsupported(verdict: Verdict) -> bool:
    return any(reason.code == LANGUAGE_UNSUPPORTED for reason in verdict.reasons)
