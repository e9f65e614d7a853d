"""Language detection and its policy: who decides a comment's language, which models serve which
languages, and what a comment in an unserved language gets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.core.languages import language_code
from service.core.settings import Settings, SettingsError
from service.core.validation import validate_comment
from workers.languages import apply_language, unsupported_action
from workers.policy import Verdict
from workers.scoring.config import LanguageConfig, ModelSource
from workers.scoring.language import LanguageDetector, model_languages
from workers.scoring.types import CommentText, Language, Reason

SITES = LanguageConfig({"de-site": ("de",), "bilingual": ("de", "en")})


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector(SITES)


def _one(detector: LanguageDetector, body: str, site: str = "", language: str = "") -> Language:
    return detector.identify([CommentText(id="c", body=body, site=site, language=language)])[0]


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("Das ist ein sehr guter Artikel, vielen Dank für die Recherche.", "de"),
        ("Você é um idiota, ninguém aguenta mais as suas mentiras.", "pt"),
        ("이 기사 정말 잘 읽었습니다. 좋은 정보 감사합니다.", "ko"),
        ("Thank you for this careful, well sourced report on the budget.", "en"),
    ],
)
def test_the_detector_names_the_language_of_ordinary_comments(
    detector: LanguageDetector, body: str, code: str
) -> None:
    found = _one(detector, body)
    assert (found.code, found.source) == (code, "detected") and found.confidence >= 0.5
    assert found.supported == (code == "en")  # the default model serves English only


def test_a_comments_own_language_wins_over_detection_and_the_site(detector: LanguageDetector) -> None:
    found = _one(detector, "이 기사 정말 잘 읽었습니다.", site="de-site", language="en")
    assert found == Language("en", 1.0, "comment", supported=True)


def test_a_site_with_one_language_skips_detection(detector: LanguageDetector) -> None:
    assert _one(detector, "Thank you for this report.", site="de-site") == Language("de", 1.0, "site", False)


def test_short_or_undetectable_texts_take_the_site_default_else_english(detector: LanguageDetector) -> None:
    for body in ("ok", "👍👍", "+1 https://example.org/a-long-link", "lol"):
        assert _one(detector, body).code == "en" and _one(detector, body).source == "default"
        assert _one(detector, body, site="bilingual").code == "de"


def test_an_unsure_guess_chooses_among_the_sites_languages(detector: LanguageDetector) -> None:
    assert _one(detector, "Gute Nacht").source == "default"  # too short to tell among all languages
    found = _one(detector, "Gute Nacht", site="bilingual")
    assert (found.code, found.source) == ("de", "detected")


def test_a_confident_guess_outside_the_sites_languages_stands(detector: LanguageDetector) -> None:
    found = _one(detector, "이 기사 정말 잘 읽었습니다. 좋은 정보 감사합니다.", site="bilingual")
    assert found.code == "ko" and not found.supported  # never read as English or German


def test_links_handles_and_numbers_do_not_decide_the_language(detector: LanguageDetector) -> None:
    body = "@lisa_1984 https://www.example.de/artikel/2024/05 Das stimmt leider überhaupt nicht."
    assert _one(detector, body).code == "de"


def test_which_languages_each_model_serves(tmp_path: Path) -> None:
    assert model_languages(ModelSource("commentmod-minilm", tmp_path)) == {"en"}
    assert model_languages(ModelSource("original", tmp_path)) == {"en"}
    multilingual = {"en", "fr", "es", "it", "pt", "tr", "ru"}
    assert model_languages(ModelSource("multilingual", tmp_path)) == multilingual
    assert model_languages(ModelSource(str(tmp_path), tmp_path)) == {"en"}  # a folder that says nothing
    (tmp_path / "manifest.json").write_text(json.dumps({"languages": ["en", "de", "ko"]}))
    assert model_languages(ModelSource(str(tmp_path), tmp_path)) == {"en", "de", "ko"}


def test_a_detector_marks_what_the_loaded_model_serves() -> None:
    detector = LanguageDetector(LanguageConfig(), frozenset({"en", "pt"}))
    assert _one(detector, "Você é um idiota, ninguém aguenta mais as suas mentiras.").supported


HELD = Verdict("hold", (Reason(code="spam", score=0.97, threshold=0.9),))
KOREAN = Language("ko", 0.99, "detected", supported=False)


def test_an_unserved_language_is_held_with_its_reason_by_default() -> None:
    verdict = apply_language(Verdict("publish", ()), KOREAN, "hold")
    assert verdict.verdict == "hold"
    assert [(r.code, r.signals) for r in verdict.reasons] == [("language_unsupported", ("ko", "hold"))]


def test_publish_keeps_every_other_reason() -> None:
    assert apply_language(Verdict("publish", ()), KOREAN, "publish").verdict == "publish"
    held = apply_language(HELD, KOREAN, "publish")
    assert held.verdict == "hold" and [r.code for r in held.reasons] == ["spam", "language_unsupported"]
    assert apply_language(Verdict("reject", ()), KOREAN, "publish").verdict == "reject"


def test_a_served_or_unknown_language_changes_nothing() -> None:
    assert apply_language(HELD, Language("en", 0.9, "detected"), "hold") == HELD
    assert apply_language(HELD, None, "hold") == HELD


def test_language_settings_read_from_the_environment() -> None:
    env = {
        "COMMENTMOD_SITE_LANGUAGES": "news-de=de|en,news-kr=KO",
        "COMMENTMOD_UNSUPPORTED_LANGUAGE": "publish",
        "COMMENTMOD_SITE_UNSUPPORTED_LANGUAGE": "news-de=hold",
    }
    settings = Settings.from_env(env)
    assert settings.site_languages == {"news-de": ("de", "en"), "news-kr": ("ko",)}
    assert unsupported_action(settings, "news-de") == "hold"
    assert unsupported_action(settings, "news-kr") == "publish"
    assert Settings.from_env(settings.to_env({})) == settings
    assert unsupported_action(Settings(), "any") == "hold"  # the default: a human decides


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("COMMENTMOD_SITE_LANGUAGES", "news=german"),
        ("COMMENTMOD_SITE_LANGUAGES", "news="),
        ("COMMENTMOD_SITE_LANGUAGES", "news:de"),
        ("COMMENTMOD_SITE_UNSUPPORTED_LANGUAGE", "news=drop"),
        ("COMMENTMOD_UNSUPPORTED_LANGUAGE", "reject"),
    ],
)
def test_bad_language_settings_are_refused(name: str, raw: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({name: raw})


def test_a_comment_may_declare_its_language_as_iso_639_1() -> None:
    base = {"name": "Reader", "email": "reader@example.org", "body": "Olá"}
    assert getattr(validate_comment({**base, "language": "pt-BR"}), "language", None) == "pt"
    assert getattr(validate_comment({**base, "language": "KO"}), "language", None) == "ko"
    assert getattr(validate_comment({**base, "language": ""}), "language", "unset") is None
    for bad in ("portuguese", "xx", "p", 7, ["pt"]):
        assert "language" in validate_comment({**base, "language": bad})
    assert language_code("zh_Hant") == "zh" and language_code("eng") is None


def test_short_latin_texts_are_not_guessed(detector: LanguageDetector) -> None:
    for body in ("Parent comment", "Another one", "Big queue comment 01"):  # French, Pidgin to the detector
        assert _one(detector, body) == Language("en", _one(detector, body).confidence, "default", True)
    assert _one(detector, "좋은 기사").code == "ko"  # another script says more in fewer letters


def test_text_without_language_is_undetectable(detector: LanguageDetector) -> None:
    for body in ("abcdefghijklmnopqrstuvwxyz qwrtzp", "ffbd435013bb5b64fbc653deff8e2634a21785d73865dc1b"):
        assert _one(detector, body).source == "default"
