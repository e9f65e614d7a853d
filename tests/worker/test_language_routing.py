"""Routing by language: each comment is scored by the model serving its language, and decided with that
language's threshold. Two tiny real models stand in for MiniLM (English) and commentmod-e5 (de, pt, ko);
tests/worker/test_multilingual_model.py runs the real multilingual model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.core.settings import Settings
from tests.kits.common import mod_headers, site_headers
from tests.kits.tiny_model import build_tiny_checkpoint
from tests.kits.workerkit import drain_worker
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText

GERMAN_THRESHOLD = 0.001  # every German comment scores above it: held for toxicity, by this threshold


@pytest.fixture(scope="module")
def multi_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny-multi")
    build_tiny_checkpoint(folder, seed=1)
    manifest = {"languages": ["de", "pt", "ko"], "thresholds": {"de": {"toxicity": GERMAN_THRESHOLD}}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def pipeline(tiny_model: Path, multi_model: Path) -> ScoringPipeline:
    settings = Settings.from_env({}, toxicity_model=str(tiny_model), multilingual_model=str(multi_model))
    return ScoringPipeline.from_settings(settings)


def _comment(body: str, language: str) -> CommentText:
    return CommentText(id=f"c-{language}", body=body, site="site-a", language=language)


def test_each_comment_is_scored_by_the_model_of_its_language(
    pipeline: ScoringPipeline, tiny_model: Path, multi_model: Path
) -> None:
    assert pipeline.multilingual is not None
    assert pipeline.multilingual_languages == {"de", "pt", "ko"}
    comments = [
        _comment("Thanks for the article", "en"),
        _comment("Danke für den Artikel", "de"),
        _comment("기사 잘 읽었습니다", "ko"),
        _comment("Obrigado pelo artigo", "pt"),
    ]
    scores = pipeline.score_batch(comments)
    used = [s.models["toxicity"].split("@")[0] for s in scores]
    assert used == [tiny_model.name, multi_model.name, multi_model.name, multi_model.name]
    for comment, s in zip(comments, scores, strict=True):
        scorer = pipeline.multilingual if comment.language != "en" else pipeline.toxicity
        # int8 activations are scaled per pass, so a batch of one differs in the fourth decimal
        assert s.toxicity == pytest.approx(scorer.score([comment.body])[0]["toxicity"], abs=2e-3)
    assert set(pipeline.models) == {"toxicity", "toxicity_multilingual", "spam"}


def test_a_language_neither_model_serves_gets_no_toxicity_scores(pipeline: ScoringPipeline) -> None:
    [scores] = pipeline.score_batch([_comment("Merci pour cet article", "fr")])
    assert scores.language is not None and not scores.language.supported
    assert "toxicity" not in scores.values


def test_without_a_multilingual_model_only_the_primary_languages_are_served(tiny_model: Path) -> None:
    alone = ScoringPipeline.from_settings(
        Settings.from_env({}, toxicity_model=str(tiny_model), multilingual_model="none")
    )
    [german] = alone.score_batch([_comment("Danke für den Artikel", "de")])
    assert german.language is not None and not german.language.supported
    assert alone.language_thresholds == {}


def test_explanations_come_from_the_model_that_scored_the_comment(pipeline: ScoringPipeline) -> None:
    from workers.scoring.explain import WordScores, toxic_spans

    comments = [_comment("you idiot, read the article", "en"), _comment("du Trottel, lies den Artikel", "de")]
    languages = [s.language for s in pipeline.score_batch(comments)]
    spans = pipeline.explain([c.body for c in comments], None, languages)
    assert pipeline.multilingual is not None
    expected = [
        toxic_spans(pipeline.toxicity, [comments[0].body], words=WordScores())[0],
        toxic_spans(pipeline.multilingual, [comments[1].body], words=WordScores())[0],
    ]
    assert spans == expected
    # each model's own memo of piece scores saw only the pieces of its own language's comment
    assert "Trottel," in pipeline._multi_words._known and "Trottel," not in pipeline.words._known
    assert "idiot," in pipeline.words._known and "idiot," not in pipeline._multi_words._known


async def _post(client: Any, body: str, language: str, i: int) -> str:
    payload = {"name": f"R{i}", "email": f"r{i}@example.org", "body": body, "language": language}
    resp = await client.post("/v1/comments", json=payload, headers=site_headers())
    assert resp.status == 202
    return str((await resp.json())["id"])


async def test_a_german_comment_is_decided_with_the_german_threshold_and_model(
    client: Any, wsettings: Settings, pipeline: ScoringPipeline, multi_model: Path
) -> None:
    settings = wsettings.with_(thresholds={"toxicity": 0.999, "spam": 0.999})
    german = await _post(client, "Danke für den ausführlichen Artikel", "de", 1)
    english = await _post(client, "Thanks for the detailed article", "en", 2)
    await drain_worker(settings, pipeline)
    views = {}
    for cid in (german, english):
        resp = await client.get(f"/v1/moderation/comments/{cid}", headers=mod_headers())
        views[cid] = await resp.json()
    reasons = {r["code"]: r for r in views[german]["reasons"]}
    assert views[german]["status"] == "held"
    assert reasons["toxicity"]["threshold"] == GERMAN_THRESHOLD
    assert views[german]["models"]["toxicity"].startswith(multi_model.name + "@")
    assert views[english]["status"] == "published"  # 0.999 still applies to English
