"""Fixtures of the fault tests: the tiny real model their workers load, and worker-ready settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.core.settings import Settings
from tests.kits.tiny_model import build_tiny_checkpoint


@pytest.fixture(scope="session")
def fault_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny real Detoxify-format checkpoint, built once per session (shared by every module)."""
    folder = tmp_path_factory.getbasetemp() / "fault-tiny-model"
    if not (folder / "checkpoint.ckpt").exists():
        build_tiny_checkpoint(folder)
    return folder


@pytest.fixture
def fsettings(settings: Settings, fault_model: Path) -> Settings:
    """Worker-ready settings: tiny model, batches of 8, claim after 1.5 s idle."""
    return settings.with_(toxicity_model=str(fault_model), batch_size=8, claim_idle_ms=1500)
