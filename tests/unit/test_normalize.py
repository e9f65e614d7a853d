"""Evasion folding: the tricks it must undo, the text it must leave alone, and linear-time patterns."""

from __future__ import annotations

import re

import pytest

from service.core import normalize
from service.core.normalize import fold, fold_units
from tests.kits.linear import LINEAR_BOUND, SMALL, growth


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("i d i o t", "idiot"),
        ("st.upid", "stupid"),
        ("1d10t", "idiot"),
        ("you are an i d i o t!", "you are an idiot!"),
        ("s.t.u.p.i.d", "stupid"),
        ("s-t-u-p-i-d", "stupid"),
        ("1 d 1 0 t", "idiot"),
        ("id*iot", "idiot"),
        ("h3ll0 w0rld", "hello world"),
        ("you $tup!d b!tch", "you stupid bitch"),
        ("#7r4sh", "#trash"),
        ("\u0456d\u0456\u043e\u0442", "idiot"),  # Cyrillic і, о, т
        ("\u03b9di\u03bft", "idiot"),  # Greek ι, ο
        ("id\u200biot", "idiot"),  # zero-width space
        ("i\u200dd\u2060i\ufeffo\u00adt", "idiot"),  # joiner, word joiner, BOM, soft hyphen
        ("\u202eidiot\u202c", "idiot"),  # bidi override + pop
        ("\uff49\uff44\uff49\uff4f\uff54", "idiot"),  # fullwidth
        ("\U0001d422\U0001d41d\U0001d422\U0001d428\U0001d42d", "idiot"),  # mathematical bold
        ("stuuuuupid", "stuupid"),
    ],
)
def test_folds_evasions(raw: str, folded: str) -> None:
    assert fold(raw) == folded


@pytest.mark.parametrize(
    "text",
    [
        "In 2024 the council spent $100 on 4th street; call 555-1212 at 10am.",
        "Pi is 3.14 and my mp3 player survived covid19.",
        "The well-known author said the U.S. economy grew 2.5% in Q3.",
        "I disagree with the mayor, but her plan for transit is reasonable.",
        "Email me at someone@example.com or visit example.com",
        "Привет, как дела? Это обычный комментарий.",
        "Καλημέρα σε όλους",
    ],
)
def test_leaves_ordinary_text_alone(text: str) -> None:
    assert fold(text) == text


def test_idempotent() -> None:
    for text in ["i d i o t and 1d10t", "st.upid h3ll0 \u0456d\u0456\u043e\u0442", "plain text 2024"]:
        assert fold(fold(text)) == fold(text)


def test_mixed_script_words_fold_inside_foreign_text() -> None:
    # Mostly Cyrillic text keeps its words, but a Latin word disguised with Cyrillic letters is folded.
    assert fold("Привет мир idі\u043et") == "Привет мир idiot"


def test_fold_units_are_the_pieces_fold_reads_as_one_word() -> None:
    text = "You  i d i o t, st.upid take!"
    assert [text[s:e] for s, e in fold_units(text)] == ["You", "i d i o t,", "st.upid", "take!"]
    assert fold_units("") == [] and fold_units("   ") == []


ADVERSARIAL = [
    "a " * 25_000,
    "a." * 25_000,
    "a1" * 25_000,
    "1" * 50_000,
    "a" * 50_000,
    "a a a." * 8_333,
    "a.a " * 12_500,
    "i d " * 12_499 + "xx",
    ("a" * 999 + ".") * 50,
    "\u0430a" * 25_000,
    "\u200b" * 50_000,
    "@$!" * 16_666,
    "a - " * 12_500,
    "a*" * 24_999 + "1",
]


def _small(text: str) -> str:
    """The same adversarial string at 10,000 characters, its ending kept (where the match fails late)."""
    return text[: SMALL - 8] + text[-8:]


def _patterns() -> list[re.Pattern[str]]:
    return [value for value in vars(normalize).values() if isinstance(value, re.Pattern)]


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_patterns_are_linear_time(text: str) -> None:
    assert len(_patterns()) >= 6
    for pattern in _patterns():

        def run(s: str, pattern: re.Pattern[str] = pattern) -> None:
            for _ in pattern.finditer(s):
                pass
            pattern.fullmatch(s)

        ratio = growth(run, _small(text), text)  # 5x the characters: 5x the work if linear, 25x if not
        assert ratio < LINEAR_BOUND, f"{pattern.pattern!r}: work grew {ratio:.1f}x from 10k to 50k"


@pytest.mark.parametrize("text", ADVERSARIAL, ids=range(len(ADVERSARIAL)))
def test_fold_is_linear_time_on_adversarial_input(text: str) -> None:
    def run(s: str) -> None:
        fold(s)
        fold_units(s)

    ratio = growth(run, _small(text), text)
    assert ratio < LINEAR_BOUND, f"fold: work grew {ratio:.1f}x from 10k to 50k characters"


@pytest.mark.parametrize(
    "text",
    [
        "Schöne Grüße aus München, die Straße ist gesperrt. Äpfel, Öl, Übermut.",
        "Você é muito legal, não é? Ação, coração, São Paulo, pôr, à toa.",
        "naïve café, résumé, crème brûlée, ça va, l'été, Ærø, Øl, España, señor.",
        "이 기사 정말 잘 읽었습니다. 좋은 정보 감사합니다.",
        "나 는 너 를 믿 어",  # spaced Hangul syllables are words, not spaced-out letters
        "할 수 있 다",
        "ㅂㅅ 같은 소리 하네 ㅋㅋ",  # Hangul compatibility letters stay as written
        "カタカナ と ひらがな と 漢字",
    ],
)
def test_other_scripts_survive_folding(text: str) -> None:
    assert fold(text) == text


def test_hangul_letters_stay_compatibility_letters() -> None:
    assert fold("ㅅㅂ") == "ㅅㅂ"  # NFKC alone would give conjoining jamo ("ᄉᄇ")
    assert fold("\uffb5\uffb2") == "ㅅㅂ"  # halfwidth letters become the ordinary ones
    assert fold("ㅅ ㅂ ㄴ") == "ㅅㅂㄴ"  # spaced letters still join, as in Latin script
    assert fold("ㅋㅋㅋㅋㅋ") == "ㅋㅋ"  # repeats fold as in any script
    assert fold("ｉｄｉｏｔ ㅂㅅ") == "idiot ㅂㅅ"


def test_spaced_syllables_stay_separate_pieces() -> None:
    assert fold_units("나 는 너") == [(0, 1), (2, 3), (4, 5)]
    assert fold_units("i d i o t") == [(0, 9)]
