"""Per-site outboxes of decision events: what the webhook senders deliver from, one site at a time.

The decision scripts (service/core/store.py) append each event to the webhook stream with a snapshot
of the decision (status, decision, decided_by, decided_at) and the comment's event sequence number,
and add it to the comment's order set. ``Outbox.route`` is the stream handler: it builds each event's
body from that snapshot (so a body never contradicts its envelope, however late it is delivered) and
moves the event, in one transaction with its XACK, into its site's outbox: a sorted set of event ids
scored by when to attempt them next. Retries are rescheduled there, never waited for in a slot; only
the first unfinished event of a comment may be attempted (decision order, across restarts too).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from service.core.keys import Keys
from service.core.models import CommentFields, CommentRecord, Decision
from service.core.scripts import LEASE_OUTBOX
from service.core.settings import Settings
from workers.stream import Entry, Outcome

Target = tuple[str, str]  # url, secret
_RECORD_FIELDS = ("comment", "created_at", "decision", "decided_by", "decided_at")


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    site: str
    comment_id: str
    seq: int
    body: bytes


class Outbox:
    """The Redis side of webhook delivery: routing, leasing, rescheduling and finishing events."""

    def __init__(self, redis: Redis, keys: Keys, settings: Settings, clock: Callable[[], float]) -> None:
        self.redis = redis
        self.keys = keys
        self.settings = settings
        self.clock = clock
        self._lease = LEASE_OUTBOX.on(redis)

    def _ms(self, offset_s: float = 0.0) -> int:
        return int((self.clock() + offset_s) * 1000)

    # --- targets: read for every attempt, so a changed or deleted URL applies at once ---------------
    async def targets(self, sites: set[str]) -> dict[str, Target | None]:
        ordered = sorted(sites)
        pipe = self.redis.pipeline(transaction=False)
        for site in ordered:
            pipe.hmget(self.keys.webhook(site), "url", "secret")
        rows = await pipe.execute() if ordered else []
        return {site: self._target_of(site, row) for site, row in zip(ordered, rows, strict=True)}

    async def target(self, site: str) -> Target | None:
        return (await self.targets({site}))[site]

    def _target_of(self, site: str, row: list[str | None]) -> Target | None:
        if row[0]:
            return row[0], row[1] or ""
        url = self.settings.webhooks.get(site)
        return (url, self.settings.webhook_secrets.get(site, "")) if url else None

    # --- routing: the webhook stream's handler ------------------------------------------------------
    async def route(self, entries: list[Entry]) -> Outcome:
        """Move a batch of stream entries into their sites' outboxes, acknowledging them in the same
        transaction; events with nothing to send (the comment is gone, its site has no webhook) are
        finished there. Routing twice is harmless: the event and its place are written once."""
        stored = await self._stored(entries)
        now_ms = self._ms()
        finished: list[str] = []
        tx = self.redis.pipeline(transaction=True)
        for (mid, fields), row in zip(entries, stored, strict=True):
            comment_id, site = fields.get("id", ""), row.get("site")
            if row.get("comment") is None or not site:
                tx.zrem(self.keys.webhook_order(comment_id), mid)
                finished.append(comment_id)
                continue
            body = envelope(mid, fields, row)
            event = {"site": site, "comment_id": comment_id, "seq": int(fields.get("seq") or 0), "body": body}
            tx.set(self.keys.webhook_event(mid), json.dumps(event, ensure_ascii=False))
            tx.zadd(self.keys.webhook_due(site), {mid: now_ms}, nx=True)
            tx.sadd(self.keys.webhook_sites, site)
        ids = [mid for mid, _ in entries]
        tx.xack(self.keys.webhook_stream, self.keys.webhook_group, *ids)
        tx.xdel(self.keys.webhook_stream, *ids)
        await tx.execute()
        await self._promote_all(finished)
        return Outcome()

    async def _stored(self, entries: list[Entry]) -> list[dict[str, str | None]]:
        """Each event's comment as stored, read only for sites with a webhook (an install without any
        reads one field per event); ``comment`` is None when there is nothing to send."""
        pipe = self.redis.pipeline(transaction=False)
        for _, fields in entries:
            pipe.hget(self.keys.comment(fields.get("id", "")), "site")
        sites: list[str | None] = await pipe.execute()
        targets = await self.targets({site for site in sites if site})
        wanted = [i for i, site in enumerate(sites) if site and targets.get(site) is not None]
        rows: list[dict[str, str | None]] = [{"site": site, "comment": None} for site in sites]
        if wanted:
            pipe = self.redis.pipeline(transaction=False)
            for i in wanted:
                pipe.hmget(self.keys.comment(entries[i][1].get("id", "")), *_RECORD_FIELDS)
            for i, values in zip(wanted, await pipe.execute(), strict=True):
                rows[i] = {**dict(zip(_RECORD_FIELDS, values, strict=True)), "site": sites[i]}
        return rows

    # --- delivery side -----------------------------------------------------------------------------
    async def sites(self) -> list[str]:
        return sorted(await self.redis.smembers(self.keys.webhook_sites))

    async def lease(self, wanted: dict[str, int], lease_s: float) -> dict[str, list[str]]:
        """Up to ``wanted[site]`` due events of each site, leased for ``lease_s`` (one round trip)."""
        sites = [site for site, count in wanted.items() if count > 0]
        if not sites:
            return {}
        now, until = self._ms(), self._ms(lease_s)
        pipe = self.redis.pipeline(transaction=False)
        for site in sites:
            keys = [self.keys.webhook_due(site), self.keys.webhook_sites]
            await self._lease(keys=keys, args=[now, until, wanted[site], site], client=pipe)
        results = await pipe.execute()
        return {site: list(ids) for site, ids in zip(sites, results, strict=True) if ids}

    async def load(self, event_id: str) -> Event | None:
        raw = await self.redis.get(self.keys.webhook_event(event_id))
        if raw is None:
            return None
        data = json.loads(raw)
        return Event(event_id, data["site"], data["comment_id"], int(data["seq"]), data["body"].encode())

    async def is_turn(self, event: Event) -> bool:
        """Whether every earlier event of the comment is finished (order across senders and restarts)."""
        first = await self.redis.zrange(self.keys.webhook_order(event.comment_id), 0, 0)
        return not first or first[0] == event.event_id

    async def reschedule(self, event: Event, delay_s: float, only_sooner: bool = False) -> None:
        """Next attempt in ``delay_s``; ``only_sooner``: unless it is due earlier already (an event
        waiting for its turn that the comment's previous event made due meanwhile)."""
        due = {event.event_id: self._ms(delay_s)}
        await self.redis.zadd(self.keys.webhook_due(event.site), due, xx=True, lt=only_sooner)

    async def forget(self, site: str, event_id: str) -> None:
        """A leased id whose event is gone (another sender finished it)."""
        await self.redis.zrem(self.keys.webhook_due(site), event_id)

    async def finish(self, event: Event) -> None:
        """Delivered, given up or dropped: remove the event, and make the comment's next event due now."""
        tx = self.redis.pipeline(transaction=True)
        tx.delete(self.keys.webhook_event(event.event_id))
        tx.zrem(self.keys.webhook_due(event.site), event.event_id)
        tx.zrem(self.keys.webhook_order(event.comment_id), event.event_id)
        await tx.execute()
        await self._promote_next(event.comment_id, event.site)

    async def _promote_next(self, comment_id: str, site: str) -> None:
        following = await self.redis.zrange(self.keys.webhook_order(comment_id), 0, 0)
        if following:  # XX: only an event already routed (a later one is due at once when routed)
            await self.redis.zadd(self.keys.webhook_due(site), {following[0]: self._ms()}, xx=True)

    async def _promote_all(self, comment_ids: list[str]) -> None:
        """``_promote_next`` for a batch of comments whose event was finished at routing (one round
        trip when none has another event waiting, the usual case)."""
        if not comment_ids:
            return
        pipe = self.redis.pipeline(transaction=False)
        for comment_id in comment_ids:
            pipe.zrange(self.keys.webhook_order(comment_id), 0, 0)
        waiting = [cid for cid, first in zip(comment_ids, await pipe.execute(), strict=True) if first]
        for comment_id in waiting:
            site = await self.redis.hget(self.keys.comment(comment_id), "site")
            if site:
                await self._promote_next(comment_id, site)

    async def first_attempt_at(self, event_id: str) -> tuple[int, float | None]:
        """How many attempts were recorded for the event, and when the first was made."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.llen(self.keys.webhook_attempts(event_id))
        pipe.lindex(self.keys.webhook_attempts(event_id), 0)
        count, first = await pipe.execute()
        return int(count), (float(json.loads(first)["at"]) if first else None)

    async def record_attempt(self, event_id: str, outcome: dict[str, Any], kept: int) -> None:
        key = self.keys.webhook_attempts(event_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.rpush(key, json.dumps(outcome))
        pipe.ltrim(key, -kept, -1)
        pipe.expire(key, int(self.settings.webhook_max_age_s) + 7 * 86400)
        await pipe.execute()


def envelope(event_id: str, fields: dict[str, str], stored: dict[str, str | None]) -> str:
    """The event's body as of its decision: built from the snapshot the decision script wrote with the
    event (``stored``, the comment's hash now, gives only what never changes: site, fields, creation
    time). An event written before snapshots existed has none: the stored decision stands in."""
    snapshot: dict[str, str | None] = (
        dict(fields) if "seq" in fields else {**stored, "status": fields.get("status")}
    )
    decision, decided_at = snapshot.get("decision"), snapshot.get("decided_at")
    record = CommentRecord(
        id=fields.get("id", ""),
        site=stored["site"] or "",
        status=snapshot.get("status") or "",
        created_at=float(stored["created_at"] or time.time()),
        fields=CommentFields.from_json(stored["comment"] or "{}"),
        decision=Decision.from_json(decision) if decision else None,
        decided_by=snapshot.get("decided_by") or None,
        decided_at=float(decided_at) if decided_at else None,
    )
    body: dict[str, Any] = {"event": "comment.decided", "event_id": event_id}
    if fields.get("seq"):
        body["seq"] = int(fields["seq"])
    body.update(status=fields.get("status"), comment=record.public())
    return json.dumps(body, ensure_ascii=False)
