"""The protocol settings, read from ``Settings`` (``COMMENTMOD_PROTOCOL_WAIT_S``, ``COMMENTMOD_CORAL_*``)."""

from __future__ import annotations

from service.core.settings import Settings

DEFAULT_PROTOCOL_WAIT_S = 3.0
DEFAULT_CORAL_WAIT_S = 0.8


def protocol_wait_s(settings: Settings) -> float:
    """How long comments:analyze, comment-check and /v1/score wait for the worker's decision."""
    return float(getattr(settings, "protocol_wait_s", DEFAULT_PROTOCOL_WAIT_S))


def coral_wait_s(settings: Settings) -> float:
    """How long Coral's phase waits: well inside Coral's own timeout (often 1-2 s)."""
    return float(getattr(settings, "coral_wait_s", DEFAULT_CORAL_WAIT_S))


def coral_secrets(settings: Settings, site: str) -> list[str]:
    """The site's signing secrets (several while one is rotated)."""
    secrets: dict[str, list[str]] = getattr(settings, "coral_secrets", {})
    return list(secrets.get(site, []))


def coral_fallback(settings: Settings, site: str) -> str:
    """``hold`` (PREMOD, the default: nothing is published unscored) or ``pass`` (204)."""
    fallback: dict[str, str] = getattr(settings, "coral_fallback", {})
    return fallback.get(site, "hold")
