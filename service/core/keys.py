"""Every Redis key name the service uses, in one place.

All names start with a prefix (setting ``COMMENTMOD_STREAM_PREFIX``, default ``cm``) so several
installations can share one Redis. Nothing else in the code base spells a key.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "cm"

    # --- queue -------------------------------------------------------------------------------
    @property
    def stream(self) -> str:
        """The intake stream: one entry per accepted comment (``id``, ``request_id``)."""
        return f"{self.prefix}:stream:comments"

    @property
    def group(self) -> str:
        """Consumer group name of the scoring workers on :attr:`stream`."""
        return "scorers"

    @property
    def dead_letters(self) -> str:
        """Stream of messages that exhausted their deliveries, with the last error."""
        return f"{self.prefix}:stream:dead"

    @property
    def attempts(self) -> str:
        """Hash comment id -> processing attempts so far (deleted when the decision is stored)."""
        return f"{self.prefix}:attempts"

    @property
    def decided_channel(self) -> str:
        """Pub/sub channel: a comment id is published when it gets a decision."""
        return f"{self.prefix}:decided"

    @property
    def workers(self) -> str:
        """Hash worker name -> last heartbeat (unix seconds)."""
        return f"{self.prefix}:workers"

    # --- decision store ----------------------------------------------------------------------
    def comment(self, comment_id: str) -> str:
        """Hash with the comment, its status and its decision."""
        return f"{self.prefix}:comment:{comment_id}"

    def audit(self, comment_id: str) -> str:
        """List of JSON audit entries for one comment, oldest first."""
        return f"{self.prefix}:audit:{comment_id}"

    @property
    def held(self) -> str:
        """Sorted set of held comment ids, scored by creation time (microseconds)."""
        return f"{self.prefix}:held"

    @property
    def moderation_audit(self) -> str:
        """Stream of every moderator action (``id``: comment id or ``""``, ``entry``: the audit JSON, which
        names the actor), capped near 100,000 entries; read by ``GET /v1/moderation/audit``."""
        return f"{self.prefix}:stream:audit"

    def by_status(self, status: str) -> str:
        """Sorted set of comment ids with a final status (published, rejected), scored by decision time."""
        return f"{self.prefix}:status:{status}"

    def idempotency(self, site: str, key_hash: str) -> str:
        """String: the comment id and payload hash recorded for a site's Idempotency-Key."""
        return f"{self.prefix}:idem:{site}:{key_hash}"

    def rate_site(self, site: str, window: int) -> str:
        """Counter of comments accepted from one site in one fixed rate-limit window."""
        return f"{self.prefix}:rl:site:{site}:{window}"

    def rate_client(self, site: str, client_hash: str, window: int) -> str:
        """Counter of comments from one commenter IP (hashed) of one site in one window."""
        return f"{self.prefix}:rl:client:{site}:{client_hash}:{window}"

    # --- spam history (signals that need memory), per site: no signal shows another site's activity --
    def rate_email(self, site: str, email_hash: str) -> str:
        """Sorted set of one site's comment ids by time for one author email hash (sliding window)."""
        return f"{self.prefix}:rate:email:{site}:{email_hash}"

    def rate_ip(self, site: str, ip_hash: str) -> str:
        """Sorted set of one site's comment ids by time for one client IP hash (sliding window)."""
        return f"{self.prefix}:rate:ip:{site}:{ip_hash}"

    def near_duplicate(self, site: str, bucket: str) -> str:
        """Hash author-or-thread -> time, for one site's comments whose body falls in one LSH bucket."""
        return f"{self.prefix}:dup:{site}:{bucket}"

    def spam_domains(self, site: str) -> str:
        """Sorted set of link domains seen in one site's comments held as spam, scored by last time seen."""
        return f"{self.prefix}:spam:domains:{site}"

    @property
    def spam_domain_network(self) -> str:
        """Sorted set of spam link domains shared by the sites that opted in (rule ``share_spam_domains``)."""
        return f"{self.prefix}:spam:network"

    # --- moderator page sessions (service/http/web) ----------------------------------------------
    def session(self, session_hash: str) -> str:
        """Hash ``moderator``, ``csrf``, ``key`` (sign-in key digest), ``created`` of one session; has a TTL.

        The name holds a hash of the cookie's session id, never the id itself, so a Redis dump or
        ``KEYS`` listing yields no usable session.
        """
        return f"{self.prefix}:session:{session_hash}"

    def login_attempts(self, scope: str, window: int) -> str:
        """Counter of sign-in attempts at ``/moderate/login`` in one fixed window, for one client
        (``scope``: a keyed hash of its IP) or for all (``scope`` ``all``); expires after two windows."""
        return f"{self.prefix}:login:{scope}:{window}"

    # --- rules, reputation, webhooks ----------------------------------------------------------
    def rules(self, site: str) -> str:
        """String: the site's rules document (JSON), read by workers for every batch."""
        return f"{self.prefix}:rules:{site}"

    def rules_audit(self, site: str) -> str:
        """List of JSON audit entries of rule changes for one site, oldest first."""
        return f"{self.prefix}:rules:audit:{site}"

    def author(self, site: str, author_hash: str) -> str:
        """Hash ``approved`` (count) and ``standing`` (trusted|banned|normal) of one author of a site."""
        return f"{self.prefix}:author:{site}:{author_hash}"

    def webhook(self, site: str) -> str:
        """Hash ``url`` and ``secret`` of a site's decision callback."""
        return f"{self.prefix}:webhook:{site}"

    @property
    def webhook_stream(self) -> str:
        """Stream of decision events to deliver (written by the same script that stores a decision)."""
        return f"{self.prefix}:stream:webhooks"

    @property
    def webhook_group(self) -> str:
        return "webhook-senders"

    def webhook_attempts(self, event_id: str) -> str:
        """List of JSON records, one per delivery attempt of one event."""
        return f"{self.prefix}:webhook:attempts:{event_id}"

    def webhook_order(self, comment_id: str) -> str:
        """Sorted set of one comment's unfinished events (stream entry id, scored by the comment's event
        sequence number), added by the decision scripts: only the first may be delivered."""
        return f"{self.prefix}:outbox:order:{comment_id}"

    @property
    def webhook_sites(self) -> str:
        """Set of sites with events waiting in their outbox."""
        return f"{self.prefix}:outbox:sites"

    def webhook_due(self, site: str) -> str:
        """A site's outbox: sorted set of event ids scored by when to attempt them next (unix ms)."""
        return f"{self.prefix}:outbox:due:{site}"

    def webhook_event(self, event_id: str) -> str:
        """String: one event waiting in an outbox (JSON: site, comment id, sequence number, the body)."""
        return f"{self.prefix}:outbox:event:{event_id}"

    # --- protocols (service/http/protocols) ----------------------------------------------------
    def akismet_usage(self, site: str, month: str) -> str:
        """Counter of one site's Akismet ``comment-check`` calls in one calendar month (``YYYYMM``, UTC),
        for ``/1.2/usage-limit``; it expires 40 days after the month's first call."""
        return f"{self.prefix}:akismet:usage:{site}:{month}"
