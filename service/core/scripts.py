"""The Lua scripts, beside the key names they use (``service.core.keys``).

Each script is one file in ``service/core/lua/`` (package data) that opens with a comment naming its
KEYS and ARGV and the key layout. They are read once, when this module is imported (a missing file
fails every process at start, not at its first write), and registered on a client with
:meth:`Lua.on`: redis-py's ``register_script``, which calls EVALSHA and loads the script after a
NOSCRIPT (in a pipeline it checks ``SCRIPT EXISTS`` first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from redis.commands.core import AsyncScript

_FOLDER = resources.files("service.core") / "lua"


@dataclass(frozen=True, slots=True)
class Lua:
    """One script: its name (``lua/<name>.lua``) and source."""

    name: str
    source: str = field(repr=False)

    @classmethod
    def load(cls, name: str) -> Lua:
        return cls(name, (_FOLDER / f"{name}.lua").read_text(encoding="utf-8"))

    def on(self, redis: Any) -> AsyncScript:
        """The script registered on ``redis`` (an asyncio client): call it with ``keys=``, ``args=``
        and, to queue it in a pipeline, ``client=pipe``."""
        script: AsyncScript = redis.register_script(self.source)
        return script


# Intake: write a batch of accepted comments (record + stream entry), with idempotency and rate limits.
ENQUEUE_BATCH = Lua.load("enqueue_batch")
# The decision store: a worker's decision (fenced on pending) and a moderator's status change.
DECIDE = Lua.load("decide")
MODERATE = Lua.load("moderate")
# Spam history: one comment's rate and near-duplicate writes and reads.
RECORD_HISTORY = Lua.load("record_history")
# Protocol feedback: a caller's label becomes the comment's status, as a moderator decision.
RELABEL = Lua.load("relabel")
# Webhooks: lease a site's due events from its outbox.
LEASE_OUTBOX = Lua.load("lease_outbox")
