"""Bearer-key authentication. Keys are compared in constant time; every key is checked."""

from __future__ import annotations

import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    kind: str  # "site" or "moderator"
    name: str


class KeyRing:
    """Site keys and moderator keys; several keys may map to one name (rotation: old and new valid)."""

    def __init__(self, site_keys: dict[str, str], moderator_keys: dict[str, str]) -> None:
        self._entries = [(k.encode(), Principal("site", n)) for k, n in site_keys.items()] + [
            (k.encode(), Principal("moderator", n)) for k, n in moderator_keys.items()
        ]

    def lookup(self, authorization: str | None) -> Principal | None:
        """Return who holds the key in an ``Authorization: Bearer KEY`` header, or ``None``."""
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        candidate = token.strip().encode("utf-8", "replace")
        found: Principal | None = None
        for key, principal in self._entries:  # no early exit: time does not depend on which key matched
            if hmac.compare_digest(candidate, key):
                found = principal
        return found
