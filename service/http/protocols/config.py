"""The protocol settings (``COMMENTMOD_PROTOCOL_WAIT_S``, ``COMMENTMOD_CORAL_SECRETS``,
``COMMENTMOD_CORAL_FALLBACK``), read from ``Settings``."""

from __future__ import annotations

from service.core.settings import Settings


def protocol_wait_s(settings: Settings) -> float:
    """How long comments:analyze, comment-check, Coral's phase and /v1/score wait for the decision:
    inside Coral's timeout (often 1-2 s) and the ``akismet`` client's (1 s by default)."""
    return settings.protocol_wait_s


def coral_secrets(settings: Settings, site: str) -> tuple[str, ...]:
    """The site's signing secrets (several while one is rotated)."""
    return settings.coral_secrets.get(site, ())


def coral_fallback(settings: Settings, site: str) -> str:
    """``hold`` (PREMOD, the default: nothing is published unscored) or ``pass`` (204)."""
    return settings.coral_fallback.get(site, "hold")
