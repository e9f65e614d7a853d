"""Settings, built once from the environment (``COMMENTMOD_`` prefix) and passed down.

This is the only module that reads ``os.environ``; everything else receives a ``Settings``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PREFIX = "COMMENTMOD_"

DEFAULT_THRESHOLDS: dict[str, float] = {"toxicity": 0.44, "spam": 0.9}


class SettingsError(ValueError):
    """A setting in the environment has a value that cannot be used."""


def parse_keys(raw: str, what: str) -> dict[str, str]:
    """Parse ``"name:key,name2:key2"`` into ``{key: name}`` (several keys may share one name)."""
    out: dict[str, str] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, sep, key = item.partition(":")
        if not sep or not name.strip() or len(key.strip()) < 8:
            raise SettingsError(f"{what}: expected name:key with a key of at least 8 characters")
        out[key.strip()] = name.strip()
    return out


def _parse_thresholds(env: Mapping[str, str]) -> dict[str, float]:
    thresholds = dict(DEFAULT_THRESHOLDS)
    for name, value in env.items():
        if not name.startswith(PREFIX + "THRESHOLD_"):
            continue
        score = name[len(PREFIX + "THRESHOLD_") :].lower()
        try:
            number = float(value)
        except ValueError as exc:
            raise SettingsError(f"{name}: not a number") from exc
        if not 0.0 < number <= 1.0:
            raise SettingsError(f"{name}: must be in (0, 1]")
        thresholds[score] = number
    return thresholds


def _parse_pairs(raw: str, what: str) -> dict[str, str]:
    """``site=value,site2=value2`` (values may contain ':' but not ',')."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        site, sep, value = item.partition("=")
        if not sep or not site.strip() or not value.strip():
            raise SettingsError(f"{what}: expected site=value,...")
        out[site.strip()] = value.strip()
    return out


def _parse_site_limits(raw: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        site, _, limit = item.partition(":")
        if not site or not limit.strip().isdigit():
            raise SettingsError(PREFIX + "SITE_RATE_LIMITS: expected site:limit,...")
        out[site.strip()] = int(limit)
    return out


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service. Defaults suit ``commentmod up`` on a laptop."""

    redis_url: str | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: dict[str, str] = field(default_factory=dict)  # key -> site
    moderator_keys: dict[str, str] = field(default_factory=dict)  # key -> moderator name
    # Redis persistence for the embedded server: "always" or "everysec".
    redis_fsync: str = "always"
    # Queue and workers.
    stream_prefix: str = "cm"
    batch_size: int = 256  # a backlog is read 256 at a time: length-sorted batches pad less (make bench)
    block_ms: int = 1000
    claim_idle_ms: int = 30_000
    max_deliveries: int = 3
    heartbeat_ttl_s: float = 15.0
    drain_timeout_s: float = 20.0
    drain_grace_s: float = 1.0  # API: announce the shutdown (readyz 503, Connection: close) this long first
    worker_name: str | None = None
    # Scoring.
    thresholds: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    toxicity_model: str = "commentmod-minilm"  # built-in name, official detoxify name, or a folder
    models_dir: Path = Path("var/models")
    torch_threads: int = 0  # 0: leave torch's default
    toxicity_int8: bool = True  # dynamic int8 quantisation of the model's Linear layers (~3x faster)
    max_tokens: int = 128
    spam_rate_window_s: int = 60
    spam_rate_limit: int = 5
    duplicate_window_s: int = 3600
    # HTTP.
    wait_max_s: float = 10.0
    enqueue_timeout_s: float = 5.0
    request_timeout_s: float = 30.0
    max_body_bytes: int = 64 * 1024
    # Rate limits per fixed window: per site key, per commenter IP (the `ip` field); 0 turns one off.
    rate_window_s: int = 60
    site_rate_limit: int = 6000
    client_rate_limit: int = 20
    site_rate_limits: dict[str, int] = field(default_factory=dict)  # per-site overrides
    # Reputation: trusted after this many published comments (0: never automatically); a trusted
    # author's comment is still held at or over the always-hold score; banned authors: hold or reject.
    trusted_after: int = 3
    trusted_hold_threshold: float = 0.95
    banned_author_action: str = "hold"
    # Decision callbacks: site -> URL and site -> signing secret (a site can also set its URL by API).
    webhooks: dict[str, str] = field(default_factory=dict)
    webhook_secrets: dict[str, str] = field(default_factory=dict)
    # Secret for the pseudonyms of emails and IPs kept in Redis (service/core/privacy.py); empty: unkeyed.
    hash_key: str = field(default="", repr=False)
    webhook_timeout_s: float = 5.0
    webhook_backoff_s: float = 1.0  # first retry delay, doubled each time, capped at 5 minutes
    webhook_max_age_s: float = 3600.0  # stop retrying an event this long after its first attempt
    # Published and rejected records expire this many days after their decision (0: keep forever).
    retention_days: float = 90.0
    # Metrics: workers serve Prometheus text on this port (0: off); the API serves /metrics itself.
    metrics_port: int = 9101
    # Logs.
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``env`` (default ``os.environ``); keyword overrides win."""
        source: Mapping[str, str] = os.environ if env is None else env
        values = _values_from_env(source)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "models_dir" not in values and "data_dir" in values:
            values["models_dir"] = Path(values["data_dir"]) / "models"
        settings = cls(**values)
        settings.validate()
        return settings

    @property
    def retention_s(self) -> int:
        return int(self.retention_days * 86400)

    @property
    def hash_secret(self) -> bytes:
        """``hash_key`` as bytes, for the pseudonyms in ``service.core.privacy``."""
        return self.hash_key.encode()

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def validate(self) -> None:
        if self.redis_fsync not in {"always", "everysec"}:
            raise SettingsError("COMMENTMOD_REDIS_FSYNC: always or everysec")
        if self.log_format not in {"auto", "json", "console"}:
            raise SettingsError("COMMENTMOD_LOG_FORMAT: auto, json or console")
        if self.banned_author_action not in {"hold", "reject"}:
            raise SettingsError("COMMENTMOD_BANNED_AUTHOR_ACTION: hold or reject")
        if self.batch_size < 1 or self.max_deliveries < 1:
            raise SettingsError("batch size and max deliveries must be at least 1")


_INT = {
    "PORT": "port",
    "BATCH_SIZE": "batch_size",
    "BLOCK_MS": "block_ms",
    "CLAIM_IDLE_MS": "claim_idle_ms",
    "MAX_DELIVERIES": "max_deliveries",
    "TORCH_THREADS": "torch_threads",
    "MAX_TOKENS": "max_tokens",
    "SPAM_RATE_WINDOW_S": "spam_rate_window_s",
    "SPAM_RATE_LIMIT": "spam_rate_limit",
    "DUPLICATE_WINDOW_S": "duplicate_window_s",
    "MAX_BODY_BYTES": "max_body_bytes",
    "METRICS_PORT": "metrics_port",
    "RATE_WINDOW_S": "rate_window_s",
    "TRUSTED_AFTER": "trusted_after",
    "SITE_RATE_LIMIT": "site_rate_limit",
    "CLIENT_RATE_LIMIT": "client_rate_limit",
}
_FLOAT = {
    "RETENTION_DAYS": "retention_days",
    "WEBHOOK_TIMEOUT_S": "webhook_timeout_s",
    "WEBHOOK_BACKOFF_S": "webhook_backoff_s",
    "WEBHOOK_MAX_AGE_S": "webhook_max_age_s",
    "TRUSTED_HOLD_THRESHOLD": "trusted_hold_threshold",
    "HEARTBEAT_TTL_S": "heartbeat_ttl_s",
    "DRAIN_TIMEOUT_S": "drain_timeout_s",
    "DRAIN_GRACE_S": "drain_grace_s",
    "WAIT_MAX_S": "wait_max_s",
    "ENQUEUE_TIMEOUT_S": "enqueue_timeout_s",
    "REQUEST_TIMEOUT_S": "request_timeout_s",
}
_STR = {
    "REDIS_URL": "redis_url",
    "HOST": "host",
    "REDIS_FSYNC": "redis_fsync",
    "STREAM_PREFIX": "stream_prefix",
    "WORKER_NAME": "worker_name",
    "TOXICITY_MODEL": "toxicity_model",
    "LOG_FORMAT": "log_format",
    "LOG_LEVEL": "log_level",
    "BANNED_AUTHOR_ACTION": "banned_author_action",
    "HASH_KEY": "hash_key",
}
_PATH = {"DATA_DIR": "data_dir", "MODELS_DIR": "models_dir"}


def _values_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if env.get(PREFIX + "TOXICITY_INT8"):
        flag = env[PREFIX + "TOXICITY_INT8"].strip().lower()
        if flag not in {"1", "0", "true", "false", "yes", "no"}:
            raise SettingsError(PREFIX + "TOXICITY_INT8: true or false")
        values["toxicity_int8"] = flag in {"1", "true", "yes"}
    for suffix, attr in _STR.items():
        if env.get(PREFIX + suffix):
            values[attr] = env[PREFIX + suffix]
    for suffix, attr in _PATH.items():
        if env.get(PREFIX + suffix):
            values[attr] = Path(env[PREFIX + suffix])
    for table, kind in ((_INT, int), (_FLOAT, float)):
        for suffix, attr in table.items():
            raw = env.get(PREFIX + suffix)
            if raw:
                try:
                    values[attr] = kind(raw)
                except ValueError as exc:
                    raise SettingsError(f"{PREFIX}{suffix}: not a number") from exc
    if env.get(PREFIX + "API_KEYS"):
        values["api_keys"] = parse_keys(env[PREFIX + "API_KEYS"], PREFIX + "API_KEYS")
    if env.get(PREFIX + "MODERATOR_KEYS"):
        values["moderator_keys"] = parse_keys(env[PREFIX + "MODERATOR_KEYS"], PREFIX + "MODERATOR_KEYS")
    for name, attr in (("WEBHOOKS", "webhooks"), ("WEBHOOK_SECRETS", "webhook_secrets")):
        if env.get(PREFIX + name):
            values[attr] = _parse_pairs(env[PREFIX + name], PREFIX + name)
    if env.get(PREFIX + "SITE_RATE_LIMITS"):
        values["site_rate_limits"] = _parse_site_limits(env[PREFIX + "SITE_RATE_LIMITS"])
    values["thresholds"] = _parse_thresholds(env)
    return values


def child_env(**settings: str) -> dict[str, str]:
    """The environment for a child process: ours, with ``COMMENTMOD_<NAME>`` values replaced."""
    env = dict(os.environ)
    env.update({PREFIX + name.upper(): value for name, value in settings.items()})
    return env
