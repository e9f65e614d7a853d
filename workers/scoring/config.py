"""Each scorer's settings: a small frozen config built from ``Settings`` here, and only here.

A scorer takes its config, never the whole ``Settings``, so what it reads is in its signature. The
configs have no defaults of their own (``Settings`` holds them): a test builds one with
``XConfig.from_settings(Settings(...))``. The spam scorer and the explainer read no settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from service.core.settings import Settings


@dataclass(frozen=True, slots=True)
class ModelSource:
    """Where the toxicity model comes from (``workers.scoring.modelstore.resolve``)."""

    name: str  # the built-in model, an official Detoxify name, or a folder
    models_dir: Path  # fetched models and the assembled built-in checkpoint

    @classmethod
    def from_settings(cls, settings: Settings) -> ModelSource:
        return cls(settings.toxicity_model, Path(settings.models_dir))


@dataclass(frozen=True, slots=True)
class ToxicityConfig:
    """``workers.scoring.toxicity.ToxicityScorer``: the model, torch's threads, int8, the window."""

    source: ModelSource
    torch_threads: int  # 0: leave torch's default
    int8: bool  # dynamic int8 quantisation of the Linear layers
    max_tokens: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ToxicityConfig:
        return cls(
            ModelSource.from_settings(settings),
            settings.torch_threads,
            settings.toxicity_int8,
            settings.max_tokens,
        )


@dataclass(frozen=True, slots=True)
class HistoryConfig:
    """``workers.scoring.history``: the rate and near-duplicate windows and the pseudonym secret."""

    rate_window_s: int
    rate_limit: int  # comments per email or IP per window before ``rate_email`` / ``rate_ip``
    duplicate_window_s: int
    hash_secret: bytes = field(repr=False)  # service.core.privacy; empty: unkeyed

    @classmethod
    def from_settings(cls, settings: Settings) -> HistoryConfig:
        return cls(
            settings.spam_rate_window_s,
            settings.spam_rate_limit,
            settings.duplicate_window_s,
            settings.hash_secret,
        )


@dataclass(frozen=True, slots=True)
class LanguageConfig:
    """``workers.scoring.language.LanguageDetector``: each site's declared languages, its default first."""

    site_languages: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> LanguageConfig:
        return cls(dict(settings.site_languages))


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """``workers.scoring.pipeline.ScoringPipeline``: its scorers' configs."""

    toxicity: ToxicityConfig
    language: LanguageConfig = field(default_factory=LanguageConfig)
    multilingual: ToxicityConfig | None = None  # None: one model (``COMMENTMOD_MULTILINGUAL_MODEL=none``)

    @classmethod
    def from_settings(cls, settings: Settings) -> PipelineConfig:
        multilingual = None
        if settings.multilingual_model != "none":
            source = ModelSource(settings.multilingual_model, Path(settings.models_dir))
            multilingual = ToxicityConfig(
                source, settings.torch_threads, settings.toxicity_int8, settings.max_tokens
            )
        return cls(
            ToxicityConfig.from_settings(settings), LanguageConfig.from_settings(settings), multilingual
        )
