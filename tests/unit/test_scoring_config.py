"""Scorers take small typed configs, built from ``Settings`` in one place (workers/scoring/config.py)."""

from __future__ import annotations

from pathlib import Path

from service.core.settings import Settings
from workers.scoring.config import HistoryConfig, ModelSource, PipelineConfig, ToxicityConfig

SETTINGS = Settings(
    toxicity_model="some-folder",
    models_dir=Path("/srv/models"),
    torch_threads=3,
    toxicity_int8=False,
    max_tokens=64,
    spam_rate_window_s=30,
    spam_rate_limit=2,
    duplicate_window_s=99,
    hash_key="a-long-random-secret",
)


def test_each_config_carries_the_settings_its_scorer_reads() -> None:
    toxicity = ToxicityConfig(ModelSource("some-folder", Path("/srv/models")), 3, False, 64)
    assert ToxicityConfig.from_settings(SETTINGS) == toxicity
    multilingual = ToxicityConfig(ModelSource("commentmod-e5", Path("/srv/models")), 3, False, 64)
    assert PipelineConfig.from_settings(SETTINGS) == PipelineConfig(toxicity, multilingual=multilingual)
    assert PipelineConfig.from_settings(SETTINGS.with_(multilingual_model="none")) == PipelineConfig(toxicity)
    assert HistoryConfig.from_settings(SETTINGS) == HistoryConfig(30, 2, 99, b"a-long-random-secret")


def test_the_pseudonym_secret_stays_out_of_reprs() -> None:
    assert "a-long-random-secret" not in repr(HistoryConfig.from_settings(SETTINGS))


def test_no_scorer_takes_the_whole_settings_untyped() -> None:
    scoring = Path(__file__).resolve().parents[2] / "workers" / "scoring"
    untyped = [
        f"{path.name}:{n}"
        for path in sorted(scoring.glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "settings: Any" in line or "settings: object" in line
    ]
    assert not untyped, "take a config from workers/scoring/config.py instead: " + ", ".join(untyped)
