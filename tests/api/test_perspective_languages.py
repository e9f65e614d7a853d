"""Perspective's ``detectedLanguages`` is the language the worker stored; a text in a language no loaded
model serves is answered as Perspective answers one: 400, the attribute does not support it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from tests.kits.common import SITE_KEY
from tests.kits.protocolkit import running_worker, six_class_model

__all__ = ["six_class_model"]  # the fixture, used by name

ANALYZE = f"/v1alpha1/comments:analyze?key={SITE_KEY}"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(protocol_wait_s=30.0)


def _analyze(text: str) -> dict[str, Any]:
    return {"comment": {"text": text}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en"]}


async def test_detected_languages_come_from_the_stored_record(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model):
        resp = await client.post(ANALYZE, json=_analyze("Thank you for this careful, well sourced report."))
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["detectedLanguages"] == ["en"]
        german = "Das ist ein sehr guter Artikel, vielen Dank für die gründliche Recherche."
        resp = await client.post(ANALYZE, json=_analyze(german))
        assert resp.status == 400, await resp.text()
        message = (await resp.json())["error"]["message"]
        assert message == "Attribute TOXICITY does not support request languages: de"


async def test_a_site_declared_language_is_what_perspective_reports(
    client: Any, settings: Settings, six_class_model: Path
) -> None:
    async with running_worker(settings, six_class_model, site_languages={"site-a": ("en",)}):
        resp = await client.post(ANALYZE, json=_analyze("Vielen Dank"))
        assert resp.status == 200, await resp.text()
        assert (await resp.json())["detectedLanguages"] == ["en"]
