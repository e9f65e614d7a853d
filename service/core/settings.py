"""Settings, declared once, built from the environment (``COMMENTMOD_`` prefix) and passed down.

This is the only module that reads ``os.environ``; everything else receives a ``Settings``.

Each field of ``Settings`` is one setting, declared once: its type and default are the field's, its
environment variable is ``COMMENTMOD_`` + the field name in upper case (``port`` -> ``COMMENTMOD_PORT``),
and its type picks how that variable is read and written back (``_BY_TYPE``). A field of another type
names its ``Codec`` with ``setting(default, codec=...)``; ``setting(..., prefix="THRESHOLD_")`` reads a
dict from one variable per key (``COMMENTMOD_THRESHOLD_SPAM``); ``choices`` lists the values allowed.
An empty variable counts as unset. ``Settings.to_env()`` is the way back, for child processes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, NamedTuple

from service.core.languages import language_code

PREFIX = "COMMENTMOD_"

DEFAULT_THRESHOLDS: dict[str, float] = {"toxicity": 0.44, "spam": 0.9}


class SettingsError(ValueError):
    """A setting in the environment has a value that cannot be used."""


class Codec(NamedTuple):
    """How a setting's variable is read (``parse(raw, variable name)``) and written back (``format``);
    ``example``, a value of the variable, is what tests/unit/test_settings.py round-trips."""

    parse: Callable[[str, str], Any]
    format: Callable[[Any], str]
    example: str = ""


def setting(
    default: Any = MISSING,
    *,
    factory: Callable[[], Any] | None = None,
    codec: Codec | None = None,
    prefix: str = "",
    choices: tuple[str, ...] = (),
    repr: bool = True,
) -> Any:
    """A ``Settings`` field that needs more than a type and a default (see the module docstring)."""
    metadata = {"codec": codec, "prefix": prefix, "choices": choices}
    if factory is not None:
        return field(default_factory=factory, repr=repr, metadata=metadata)
    return field(default=default, repr=repr, metadata=metadata)


def split_pairs(raw: str, what: str, example: str) -> Iterator[tuple[str, str]]:
    """The one form of every list setting: ``name=value,name2=value2`` (values may hold ``:`` and ``=``,
    not ``,``). ``name:value``, which earlier examples wrote, is refused with an error naming it."""
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = item.partition("=")
        if not sep or ":" in name or not name.strip():
            raise SettingsError(f"{what}: expected {example},... (name=value pairs, not name:value)")
        yield name.strip(), value.strip()


def parse_keys(raw: str, what: str) -> dict[str, str]:
    """Parse ``"name=key,name2=key2"`` into ``{key: name}`` (several keys may share one name)."""
    out: dict[str, str] = {}
    for name, key in split_pairs(raw, what, "name=key"):
        if len(key) < 8:
            raise SettingsError(f"{what}: expected name=key with a key of at least 8 characters")
        out[key] = name
    return out


def _parse_pairs(raw: str, what: str) -> dict[str, str]:
    """``site=value,site2=value2``."""
    out: dict[str, str] = {}
    for site, value in split_pairs(raw, what, "site=value"):
        if not value:
            raise SettingsError(f"{what}: expected site=value,...")
        out[site] = value
    return out


def _parse_site_limits(raw: str, what: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for site, limit in split_pairs(raw, what, "site=limit"):
        if not limit.isdigit():
            raise SettingsError(f"{what}: expected site=limit,... with a whole number")
        out[site] = int(limit)
    return out


def _number(kind: Callable[[str], Any]) -> Callable[[str, str], Any]:
    def parse(raw: str, name: str) -> Any:
        try:
            return kind(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}: not a number") from exc

    return parse


def _flag(raw: str, name: str) -> bool:
    flag = raw.strip().lower()
    if flag not in {"1", "0", "true", "false", "yes", "no"}:
        raise SettingsError(f"{name}: true or false")
    return flag in {"1", "true", "yes"}


def _threshold(raw: str, name: str) -> float:
    number = float(_number(float)(raw, name))
    if not 0.0 < number <= 1.0:
        raise SettingsError(f"{name}: must be in (0, 1]")
    return number


def _text(raw: str, name: str) -> str:
    return raw


# How a setting is read and written, by the type of its field.
_BY_TYPE: dict[str, Codec] = {
    "int": Codec(_number(int), str),
    "float": Codec(_number(float), repr),
    "str": Codec(_text, str),
    "str | None": Codec(_text, str),
    "Path": Codec(lambda raw, name: Path(raw), str),
    "bool": Codec(_flag, lambda value: "true" if value else "false"),
}
KEYS = Codec(
    parse_keys,
    lambda keys: ",".join(f"{name}={key}" for key, name in keys.items()),
    "site-a=first-key-a,site-a=second-key-a,site-b=key-of-b",
)
PAIRS = Codec(
    _parse_pairs,
    lambda pairs: ",".join(f"{site}={value}" for site, value in pairs.items()),
    "site-a=https://x.example:8443/p?q=1,site-b=s3cret==",
)
SITE_LIMITS = Codec(
    _parse_site_limits, lambda limits: ",".join(f"{s}={n}" for s, n in limits.items()), "site-a=7,site-b=0"
)
THRESHOLD = Codec(_threshold, repr, "0.5")


def _parse_secrets(raw: str, what: str) -> dict[str, tuple[str, ...]]:
    """``site=secret,site=secret2,...``: a site listed twice has both secrets (rotation)."""
    out: dict[str, tuple[str, ...]] = {}
    for site, secret in split_pairs(raw, what, "site=secret"):
        if len(secret.strip()) < 8:
            raise SettingsError(f"{what}: expected site=secret,... with secrets of at least 8 characters")
        out[site.strip()] = (*out.get(site.strip(), ()), secret.strip())
    return out


def choice_pairs(choices: tuple[str, str], example: str) -> Codec:
    """``site=CHOICE,...`` where each value is one of two ``choices``."""

    def parse(raw: str, what: str) -> dict[str, str]:
        out = _parse_pairs(raw, what)
        if any(value not in choices for value in out.values()):
            raise SettingsError(f"{what}: expected site={choices[0]} or site={choices[1]},...")
        return out

    return Codec(parse, PAIRS.format, example)


SECRETS = Codec(
    _parse_secrets,
    lambda s: ",".join(f"{site}={x}" for site, xs in s.items() for x in xs),
    "site-a=first-secret,site-a=second-secret,site-b=secret-of-b",
)
FALLBACKS = choice_pairs(("hold", "pass"), "site-a=pass,site-b=hold")


def _parse_site_languages(raw: str, what: str) -> dict[str, tuple[str, ...]]:
    """``site=en|de,site2=pt``: each site's languages (ISO 639-1), its default first."""
    out: dict[str, tuple[str, ...]] = {}
    for site, value in split_pairs(raw, what, "site=en|de"):
        codes = [language_code(code) for code in value.split("|")]
        if not value or None in codes:
            raise SettingsError(f"{what}: expected site=en|de,... with ISO 639-1 codes")
        out[site] = tuple(dict.fromkeys(code for code in codes if code))
    return out


SITE_LANGUAGES = Codec(
    _parse_site_languages,
    lambda sites: ",".join(f"{site}={'|'.join(codes)}" for site, codes in sites.items()),
    "site-a=en|de,site-b=ko",
)
UNSUPPORTED = choice_pairs(("hold", "publish"), "site-a=publish,site-b=hold")


@dataclass(frozen=True, slots=True)
class Settings:
    """Every knob of the service. Defaults suit ``commentmod up`` on a laptop."""

    redis_url: str | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    api_keys: dict[str, str] = setting(factory=dict, codec=KEYS)  # key -> site
    moderator_keys: dict[str, str] = setting(factory=dict, codec=KEYS)  # key -> moderator name
    # Redis persistence for the embedded server.
    redis_fsync: str = setting("always", choices=("always", "everysec"))
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
    # Scoring: one COMMENTMOD_THRESHOLD_<SCORE> per score, over the defaults.
    thresholds: dict[str, float] = setting(
        factory=lambda: dict(DEFAULT_THRESHOLDS), codec=THRESHOLD, prefix="THRESHOLD_"
    )
    toxicity_model: str = "commentmod-minilm"  # built-in name, official detoxify name, or a folder
    # The model for the languages the primary one does not serve (built-in commentmod-e5: de, pt, ko),
    # a model folder, or "none"; and per-language toxicity thresholds over the ones it ships.
    multilingual_model: str = "commentmod-e5"
    language_thresholds: dict[str, float] = setting(
        factory=dict, codec=THRESHOLD, prefix="LANGUAGE_THRESHOLD_"
    )
    models_dir: Path = Path("var/models")  # unset: <data_dir>/models
    torch_threads: int = 0  # 0: leave torch's default
    toxicity_int8: bool = True  # dynamic int8 quantisation of the model's Linear layers (~3x faster)
    max_tokens: int = 128
    # Languages (README "Languages"): a site's own languages, its default first (one: detection skipped);
    # what a comment in a language no loaded model serves gets: hold (a human decides) or publish.
    site_languages: dict[str, tuple[str, ...]] = setting(factory=dict, codec=SITE_LANGUAGES)
    unsupported_language: str = setting("hold", choices=("hold", "publish"))
    site_unsupported_language: dict[str, str] = setting(factory=dict, codec=UNSUPPORTED)  # per-site overrides
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
    site_rate_limits: dict[str, int] = setting(factory=dict, codec=SITE_LIMITS)  # per-site overrides
    # Reputation: trusted after this many moderator approvals on a site (0: never automatically); a
    # trusted author's comment is still held at or over the always-hold score; banned: hold or reject.
    trusted_after: int = 3
    trusted_hold_threshold: float = 0.95
    # How far over each score threshold a trusted author's comment may score and still publish (a site's
    # rules may set their own ``trust_margin``); trust is earned from moderator approvals only.
    trust_margin: float = 0.1
    banned_author_action: str = setting("hold", choices=("hold", "reject"))
    # Decision callbacks: site -> URL and site -> signing secret (a site can also set its URL by API).
    webhooks: dict[str, str] = setting(factory=dict, codec=PAIRS)
    webhook_secrets: dict[str, str] = setting(factory=dict, codec=PAIRS)
    # Secret for the pseudonyms of emails and IPs kept in Redis (service/core/privacy.py); empty: unkeyed.
    hash_key: str = setting("", repr=False)
    webhook_timeout_s: float = 5.0
    webhook_backoff_s: float = 1.0  # first retry delay, doubled each time, capped at 5 minutes
    webhook_max_age_s: float = 3600.0  # stop retrying an event this long after its first attempt
    # Callbacks to loopback, link-local or private addresses (service/core/webhook_urls.py): tests only.
    webhook_allow_private: bool = False
    # Protocols (service/http/protocols): how long comments:analyze, comment-check, Coral's phase and
    # /v1/score wait for a worker's decision; Coral's phase signing secrets per site (several while one
    # is rotated); what Coral's phase answers when no worker decides in time: hold (PREMOD) or pass (204).
    protocol_wait_s: float = 0.8
    coral_secrets: dict[str, tuple[str, ...]] = setting(factory=dict, codec=SECRETS, repr=False)
    coral_fallback: dict[str, str] = setting(factory=dict, codec=FALLBACKS)
    # Published and rejected records expire this many days after their decision (0: keep forever).
    retention_days: float = 90.0
    # Metrics: workers serve Prometheus text on this port (0: off); the API serves /metrics itself.
    metrics_port: int = 9101
    # Logs.
    log_format: str = setting("auto", choices=("auto", "json", "console"))  # console on a TTY
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

    def to_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of a child process that is to run with these settings: ``base`` (default
        ``os.environ``) less its settings variables, plus a variable for each setting whose value is not
        the one the child would get without it. ``Settings.from_env(s.to_env()) == s``."""
        source: Mapping[str, str] = os.environ if base is None else base
        env = {name: value for name, value in source.items() if not is_setting_variable(name)}
        for spec in _SPECS:
            env.update(spec.variables(getattr(self, spec.name), self))
        return env

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
        for spec in _SPECS:
            if spec.choices and getattr(self, spec.name) not in spec.choices:
                *first, last = spec.choices
                raise SettingsError(f"{spec.variable}: {', '.join(first)} or {last}")
        if self.batch_size < 1 or self.max_deliveries < 1:
            raise SettingsError("batch size and max deliveries must be at least 1")
        if not 0.0 <= self.trust_margin <= 1.0:
            raise SettingsError(PREFIX + "TRUST_MARGIN: must be in [0, 1]")


@dataclass(frozen=True, slots=True)
class _Spec:
    """One field of ``Settings`` as a setting: its variable (or variable prefix) and codec."""

    name: str
    variable: str  # the variable, or with ``per_key`` the prefix of one variable per key
    codec: Codec
    per_key: bool
    choices: tuple[str, ...]
    default: Any

    @classmethod
    def of(cls, f: Field[Any]) -> _Spec:
        codec = f.metadata.get("codec") or _BY_TYPE.get(str(f.type))
        if codec is None:
            raise TypeError(f"Settings.{f.name}: no codec for {f.type}; declare one with setting(codec=...)")
        prefix = f.metadata.get("prefix", "")
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        variable = PREFIX + (prefix or f.name.upper())
        return cls(f.name, variable, codec, bool(prefix), f.metadata.get("choices", ()), default)

    def read(self, env: Mapping[str, str]) -> Iterator[Any]:
        """The value set by ``env``, if it sets one (a per-key setting: over the default's keys)."""
        if self.per_key:
            found = {
                name[len(self.variable) :].lower(): self.codec.parse(raw, name)
                for name, raw in env.items()
                if name.startswith(self.variable)
            }
            yield {**self.default, **found}
        elif env.get(self.variable):
            yield self.codec.parse(env[self.variable], self.variable)

    def variables(self, value: Any, settings: Settings) -> Iterator[tuple[str, str]]:
        """The variables that give ``value`` in a child process (none where the default does)."""
        if self.per_key:
            for key, item in value.items():
                if self.default.get(key) != item:
                    yield self.variable + key.upper(), self.codec.format(item)
            return
        default = settings.data_dir / "models" if self.name == "models_dir" else self.default
        if value is not None and value != default:
            yield self.variable, self.codec.format(value)


_SPECS: tuple[_Spec, ...] = tuple(_Spec.of(f) for f in fields(Settings))


def is_setting_variable(name: str) -> bool:
    """Whether ``name`` is the environment variable of a setting."""
    return any(name.startswith(s.variable) if s.per_key else name == s.variable for s in _SPECS)


def _values_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    return {spec.name: value for spec in _SPECS for value in spec.read(env)}
