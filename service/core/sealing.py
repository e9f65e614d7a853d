"""Personal data at rest: a comment's email, IP, user agent and referrer are stored encrypted in Redis.

With ``COMMENTMOD_HASH_KEY`` set, each of those fields of the stored comment JSON is sealed with
AES-256-GCM (the ``cryptography`` package) under a key derived from the setting with HKDF-SHA256, a
random 96-bit nonce per value and the field's name as associated data (a value cannot be moved to
another field). A sealed value reads ``sealed1:<base64url(nonce + ciphertext + tag)>``. The email must
stay readable: workers derive the author pseudonym, the spam history and the disposable-domain signal
from it, and a moderator may ask for it (``?include=email``); the IP feeds the per-IP history and
network reputation. Without the setting values are stored as sent (the format of earlier installs),
and sealed values from before are still read once the key is set again.

The key is per process: ``use_key`` is called where a process builds its settings (the CLI's ``main``,
``create_app``, the worker's ``serve_worker``); ``seal_fields`` and ``unseal_fields`` are called by
``CommentFields.stored_json`` and ``CommentFields.from_json``, the only way comment JSON is written to
or read from Redis. A value sealed under another key (the setting was changed) reads as empty, with a
``sealed_value_unreadable`` warning: changing the key is documented to start afresh.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.core.logs import get_logger

log = get_logger("commentmod.sealing")

SEALED_FIELDS = ("email", "ip", "user_agent", "referrer")
PREFIX = "sealed1:"
_INFO = b"commentmod personal data at rest v1"


class Sealer:
    """AES-256-GCM under a key derived from ``secret``; with an empty secret, values pass unchanged."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        key = HKDF(algorithm=SHA256(), length=32, salt=None, info=_INFO).derive(secret) if secret else b""
        self._aead = AESGCM(key) if key else None

    def seal(self, field: str, value: str) -> str:
        if self._aead is None or not value:
            return value
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, value.encode("utf-8"), field.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def unseal(self, field: str, value: str) -> str:
        if not value.startswith(PREFIX):
            return value  # stored before the key was set
        if self._aead is None:
            log.warning("sealed_value_unreadable", field=field)
            return ""
        try:
            raw = base64.urlsafe_b64decode(value[len(PREFIX) :])
            return self._aead.decrypt(raw[:12], raw[12:], field.encode()).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            log.warning("sealed_value_unreadable", field=field)
            return ""


_current = Sealer(b"")


def use_key(secret: bytes) -> None:
    """Seal and unseal under ``secret`` (``Settings.hash_secret``) from now on in this process."""
    global _current
    if secret != _current.secret:
        _current = Sealer(secret)


def seal_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with each personal value sealed (a new dict; others unchanged)."""
    sealer = _current
    if sealer._aead is None:
        return fields
    return {
        name: sealer.seal(name, value) if name in SEALED_FIELDS and isinstance(value, str) else value
        for name, value in fields.items()
    }


def unseal_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` with each sealed value opened (in place; values stored plain are left as they are)."""
    sealer = _current
    for name in SEALED_FIELDS:
        value = fields.get(name)
        if isinstance(value, str) and value.startswith(PREFIX):
            fields[name] = sealer.unseal(name, value)
    return fields
