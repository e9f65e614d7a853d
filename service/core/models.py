"""Typed records that cross process boundaries, with their JSON forms (never pickle)."""

from __future__ import annotations

import json
import os
import time
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from service.core.privacy import author_hash
from service.core.sealing import seal_fields, unseal_fields

STATUSES = ("pending", "published", "held", "rejected")
ID_LENGTH = 28  # 12 hex digits of milliseconds + 16 random hex digits


def new_comment_id(now: float | None = None, random_hex: str | None = None) -> str:
    """A sortable, unguessable id: creation time in ms (hex) followed by 64 random bits."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"{ms:012x}{random_hex or os.urandom(8).hex()}"  # the source of the secrets module


class RandomHex:
    """64-bit random hex strings from ``os.urandom`` (the source of the secrets module), read 4 KiB at a
    time: one system call per 512 ids instead of one per id. A forked child starts a fresh pool."""

    _POOL_BYTES = 4096

    def __init__(self) -> None:
        self._pool = ""
        self._next = 0
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _drop_pool(ref))

    def _drop(self) -> None:
        self._pool, self._next = "", 0

    def take16(self) -> str:
        """16 hex digits no other call of this process (or of a forked child) gets."""
        start = self._next
        if start + 16 > len(self._pool):
            self._pool, start = os.urandom(self._POOL_BYTES).hex(), 0
        self._next = start + 16
        return self._pool[start : start + 16]


def is_comment_id(value: str) -> bool:
    return len(value) == ID_LENGTH and all(ch in "0123456789abcdef" for ch in value)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(slots=True, unsafe_hash=True)
class CommentFields:
    """A validated comment as the website sent it (body kept exactly as sent).

    Not ``frozen``: a frozen dataclass sets each of the thirteen fields through ``object.__setattr__``
    (4x the construction time on the intake path); nothing mutates one, and it stays hashable."""

    name: str
    email: str
    body: str
    thread: str | None = None
    parent_id: str | None = None
    author_url: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    referrer: str | None = None
    client_ref: str | None = None
    honeypot: str | None = None
    form_elapsed_ms: int | None = None
    language: str | None = None  # ISO 639-1, declared by the site: skips detection (README "Languages")

    def set_fields(self) -> dict[str, Any]:
        """The fields that are set, in declaration order."""
        return {name: value for name in _COMMENT_FIELDS if (value := getattr(self, name)) is not None}

    def to_json(self) -> str:
        """JSON of the fields that are set: the idempotency payload hash is taken over it, so its form
        (``json.dumps``, ``ensure_ascii=False``) must not change."""
        return json.dumps(self.set_fields(), ensure_ascii=False)

    def stored_json(self) -> bytes:
        """The compact JSON stored in Redis: the fields that are set, email, IP, user agent and referrer
        sealed when there is a key (``service.core.sealing``; orjson; ``from_json`` reads it)."""
        return orjson.dumps(seal_fields(self.set_fields()))

    @classmethod
    def from_json(cls, raw: str | bytes) -> CommentFields:
        return cls(**unseal_fields(json.loads(raw)))


def _drop_pool(ref: weakref.ref[RandomHex]) -> None:
    ids = ref()
    if ids is not None:
        ids._drop()


_COMMENT_FIELDS = tuple(CommentFields.__dataclass_fields__)


@dataclass(frozen=True, slots=True)
class StreamJob:
    """One stream entry: which comment to score, and the request that brought it."""

    comment_id: str
    request_id: str
    message_id: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """The verdict a worker (or the dead-letter path) stores for a comment."""

    verdict: str  # publish | hold | reject (reject only from a site rule or a banned author)
    scores: dict[str, float]
    reasons: list[dict[str, Any]]
    signals: list[dict[str, Any]] = field(default_factory=list)
    models: dict[str, str] = field(default_factory=dict)
    attempt: int = 1
    language: dict[str, Any] | None = None  # {"code", "confidence", "source"} (workers/scoring/language.py)

    @property
    def status(self) -> str:
        return {"publish": "published", "reject": "rejected"}.get(self.verdict, "held")

    def to_json(self) -> str:
        # Not ``asdict``: its deep copy of the nested lists took over a quarter of the worker's store step.
        return orjson.dumps({name: getattr(self, name) for name in self.__dataclass_fields__}).decode()

    @classmethod
    def from_json(cls, raw: str) -> Decision:
        return cls(**json.loads(raw))


@dataclass(frozen=True, slots=True)
class CommentRecord:
    """A comment as stored: fields, site, status and (once decided) its decision."""

    id: str
    site: str
    status: str
    created_at: float
    fields: CommentFields
    request_id: str = ""
    decision: Decision | None = None
    decided_by: str | None = None
    decided_at: float | None = None

    @classmethod
    def from_hash(cls, comment_id: str, data: dict[str, str]) -> CommentRecord:
        raw_decision = data.get("decision")
        decided_at = data.get("decided_at")
        return cls(
            id=comment_id,
            site=data["site"],
            status=data["status"],
            created_at=float(data["created_at"]),
            fields=CommentFields.from_json(data["comment"]),
            request_id=data.get("request_id", ""),
            decision=Decision.from_json(raw_decision) if raw_decision else None,
            decided_by=data.get("decided_by") or None,
            decided_at=float(decided_at) if decided_at else None,
        )

    def public(self) -> dict[str, Any]:
        """The site-facing view: status, verdict, scores and reasons, no personal data."""
        d = self.decision
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "verdict": d.verdict if d else None,
            "scores": d.scores if d else {},
            "reasons": d.reasons if d else [],
            "signals": d.signals if d else [],
            "models": d.models if d else {},
            "language": d.language if d else None,
            "decided_by": self.decided_by,
            "created_at": iso(self.created_at),
            "decided_at": iso(self.decided_at),
            "thread": self.fields.thread,
            "client_ref": self.fields.client_ref,
        }
        return out

    def for_moderator(self, hash_key: bytes) -> dict[str, Any]:
        """The moderator view adds the author's name and the comment body (email only on demand);
        ``author`` is the pseudonym under ``hash_key`` that the authors endpoint takes."""
        out = self.public()
        out.update(
            site=self.site,
            author=author_hash(self.fields.email, hash_key),
            name=self.fields.name,
            body=self.fields.body,
            parent_id=self.fields.parent_id,
            author_url=self.fields.author_url,
        )
        return out
