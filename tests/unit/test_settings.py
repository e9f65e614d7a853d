"""Settings: each declared once in ``Settings``; read from ``COMMENTMOD_*`` and written back by ``to_env``."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings, SettingsError, setting


def _changed(f: dataclasses.Field[Any], default: Any) -> Any:
    """A value other than ``default`` for a field of ``Settings``, of the field's type: a field with its
    own codec takes the codec's example (per key: for a known key and a new one)."""
    codec, choices = f.metadata.get("codec"), f.metadata.get("choices", ())
    if choices:
        return next(c for c in choices if c != default)
    if codec is not None:
        assert codec.example, f"Settings.{f.name}: give its Codec an example value"
        value = codec.parse(codec.example, f.name)
        return {**dict.fromkeys(default, value), "custom": value} if f.metadata.get("prefix") else value
    by_type = {
        "int": lambda: default + 7,
        "float": lambda: default + 0.125,
        "str": lambda: default + "-x",
        "str | None": lambda: f"{f.name}-value",
        "Path": lambda: Path("/srv") / f.name,
        "bool": lambda: not default,
    }
    return by_type[str(f.type)]()


def test_every_setting_round_trips_through_to_env() -> None:
    """Each setting changed from its default comes back unchanged in a child's ``from_env``: a new
    field of a known type needs nothing but its declaration."""
    defaults = Settings()
    changes = {f.name: _changed(f, getattr(defaults, f.name)) for f in dataclasses.fields(Settings)}
    settings = defaults.with_(**changes)
    for name in changes:
        assert getattr(settings, name) != getattr(defaults, name), name
    env = settings.to_env({})
    assert Settings.from_env(env) == settings
    assert all(name.startswith("COMMENTMOD_") for name in env)


def test_to_env_keeps_other_variables_and_replaces_inherited_settings() -> None:
    base = {"PATH": "/bin", "COMMENTMOD_PORT": "9000", "COMMENTMOD_THRESHOLD_SPAM": "0.3"}
    assert Settings().to_env(base) == {"PATH": "/bin"}
    env = Settings().with_(port=8081, worker_name="w-1").to_env(base)
    assert env == {"PATH": "/bin", "COMMENTMOD_PORT": "8081", "COMMENTMOD_WORKER_NAME": "w-1"}


def test_models_dir_follows_data_dir_unless_set() -> None:
    settings = Settings.from_env({"COMMENTMOD_DATA_DIR": "/srv/cm"})
    assert settings.models_dir == Path("/srv/cm/models")
    assert settings.to_env({}) == {"COMMENTMOD_DATA_DIR": "/srv/cm"}
    # A child given another data dir on its command line keeps models under it.
    assert Settings.from_env(settings.to_env({}), data_dir=Path("/x")).models_dir == Path("/x/models")
    pinned = settings.with_(models_dir=Path("/models"))
    assert Settings.from_env(pinned.to_env({}), data_dir=Path("/x")).models_dir == Path("/models")


def test_thresholds_are_one_variable_per_score_over_the_defaults() -> None:
    settings = Settings.from_env({"COMMENTMOD_THRESHOLD_SPAM": "0.5", "COMMENTMOD_THRESHOLD_LINKS": "1"})
    assert settings.thresholds == {"toxicity": 0.44, "spam": 0.5, "links": 1.0}
    assert settings.to_env({}) == {"COMMENTMOD_THRESHOLD_SPAM": "0.5", "COMMENTMOD_THRESHOLD_LINKS": "1.0"}


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COMMENTMOD_PORT", "eighty", "COMMENTMOD_PORT: not a number"),
        ("COMMENTMOD_HEARTBEAT_TTL_S", "soon", "COMMENTMOD_HEARTBEAT_TTL_S: not a number"),
        ("COMMENTMOD_TOXICITY_INT8", "maybe", "COMMENTMOD_TOXICITY_INT8: true or false"),
        ("COMMENTMOD_THRESHOLD_SPAM", "1.5", "COMMENTMOD_THRESHOLD_SPAM: must be in (0, 1]"),
        ("COMMENTMOD_THRESHOLD_SPAM", "", "COMMENTMOD_THRESHOLD_SPAM: not a number"),
        ("COMMENTMOD_API_KEYS", "site=short", "COMMENTMOD_API_KEYS: expected name=key"),
        ("COMMENTMOD_API_KEYS", "site:long-enough-key", "COMMENTMOD_API_KEYS: expected name=key"),
        ("COMMENTMOD_WEBHOOKS", "site", "COMMENTMOD_WEBHOOKS: expected site=value"),
        ("COMMENTMOD_SITE_RATE_LIMITS", "site=many", "COMMENTMOD_SITE_RATE_LIMITS: expected site=limit"),
        ("COMMENTMOD_LOG_FORMAT", "xml", "COMMENTMOD_LOG_FORMAT: auto, json or console"),
        ("COMMENTMOD_REDIS_FSYNC", "never", "COMMENTMOD_REDIS_FSYNC: always or everysec"),
        ("COMMENTMOD_BANNED_AUTHOR_ACTION", "ban", "COMMENTMOD_BANNED_AUTHOR_ACTION: hold or reject"),
    ],
)
def test_a_bad_value_is_an_error_naming_its_variable(variable: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({variable: value})
    assert str(caught.value).startswith(message)


def test_empty_variables_count_as_unset_and_overrides_win() -> None:
    settings = Settings.from_env({"COMMENTMOD_PORT": "", "COMMENTMOD_HOST": "0.0.0.0"}, host="::1", port=None)
    assert (settings.host, settings.port) == ("::1", 8080)


def test_a_setting_of_a_type_without_a_codec_fails_naming_the_field() -> None:
    from service.core.settings import _Spec

    @dataclasses.dataclass
    class Extra:
        ports: list[int] = setting(factory=list)

    with pytest.raises(TypeError, match=r"Settings\.ports: no codec for list\[int\]"):
        _Spec.of(dataclasses.fields(Extra)[0])
