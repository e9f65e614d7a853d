"""Fixtures of the worker tests: a tiny real Detoxify-format checkpoint, and settings that load it."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.settings import Settings
from tests.kits.tiny_model import build_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-model")
    build_tiny_checkpoint(folder)
    return folder


@pytest.fixture
def wsettings(settings: Settings, tiny_model: Path) -> Settings:
    return settings.with_(toxicity_model=str(tiny_model), batch_size=8)
