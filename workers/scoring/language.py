"""Each comment's language, found in the scoring thread before the toxicity model runs.

Detection uses ``py3langid`` (offline, a naive Bayes model over byte n-grams, ~0.14 ms per short comment;
``scripts/measure_langid.py`` and docs/evaluation.md, "Language detection", say why it was chosen over
``lingua-language-detector``). In order, a comment's language is:

1. the ``language`` field the site sent with it (``source: comment``);
2. the site's language when ``COMMENTMOD_SITE_LANGUAGES`` declares exactly one (``source: site``);
3. the detector's best guess when its confidence is at least ``MIN_CONFIDENCE`` and the text is long
   enough to tell (``MIN_LATIN_LETTERS`` in Latin script); else, when the site declares several
   languages, its best guess among those, renormalised, if that reaches ``MIN_CONFIDENCE``
   (``source: detected``). A confident guess outside the site's languages stands: a Korean comment on
   an English and German site is Korean, not scored as English;
4. otherwise (short or undetectable texts: "ok", "👍", "Parent comment", a bare link, random letters)
   the site's first declared language, else English (``source: default``). Short English comments are
   the usual case here, and a wrong "unsupported" holds a comment for a human, while a wrong "en"
   scores it as the service did before detection existed.

A language the loaded toxicity model does not serve (``model_languages``) is marked ``supported=False``;
the pipeline then does not run the toxicity model on it and ``workers/languages.py`` applies the site's
policy. Codes are ISO 639-1 where the detector knows one, its own (ISO 639-3) code otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from workers.scoring.config import LanguageConfig, ModelSource
from workers.scoring.types import CommentText, Language

# Under this, the detector's guess is not trusted. Chosen with ``scripts/measure_langid.py`` on 500 short
# comments per language (docs/evaluation.md, "Language detection"): with MIN_LATIN_LETTERS 20, no English
# comment is taken for another language at 0.3 or 0.5, while 0.3 reads more pt as pt (0.75 against 0.69).
MIN_CONFIDENCE = 0.3
MIN_LETTERS = 3  # fewer letters than this: nothing to detect ("ok", "+1", "👍")
# A Latin-script text shorter than this is not detected at all ("Parent comment" reads as French, "Another
# one" as Pidgin): the site's declared languages or the default decide. Other scripts say more in fewer
# letters (Hangul, Cyrillic, Greek, kana): they are detected from MIN_LETTERS on.
MIN_LATIN_LETTERS = 20
_LATIN_END = "\u0250"  # Basic Latin to Latin Extended-B
_NOT_LANGUAGES = frozenset({"zxx", "und"})  # "no linguistic content" (random letters, hashes): undetectable
MAX_CHARS = 1000  # the detector reads the start of a long comment only (the language rarely changes)
DEFAULT = "en"

ENGLISH = frozenset({"en"})
# What each official Detoxify model serves (its model card); the built-in model is English only.
MODEL_LANGUAGES: dict[str, frozenset[str]] = {
    "multilingual": frozenset({"en", "fr", "es", "it", "pt", "tr", "ru"}),
}
# Noise that says nothing about the language: links, words with an @ (e-mail addresses, handles), numbers.
# A word with an @ only matches from its start (the lookbehind), so the pattern stays linear.
_NOISE = re.compile(r"https?://\S+|www\.\S+|(?<!\S)\S*@\S*|\d+")


def _manifest(source: ModelSource) -> dict[str, Any]:
    """The built-in multilingual model's committed manifest, or a model folder's ``manifest.json``."""
    from workers.scoring import multimodel

    return multimodel.source_manifest(source.name)


def model_languages(source: ModelSource) -> frozenset[str]:
    """The languages the toxicity model ``source`` names serves: an official model's, the manifest's
    ``languages`` list (``commentmod-e5``, model folders), else English (``commentmod-minilm`` and the
    English officials)."""
    if source.name in MODEL_LANGUAGES:
        return MODEL_LANGUAGES[source.name]
    listed = _manifest(source).get("languages")
    if isinstance(listed, list) and listed:
        return frozenset(str(code) for code in listed)
    return ENGLISH


def model_thresholds(source: ModelSource) -> dict[str, float]:
    """Per-language toxicity thresholds the model's manifest ships (``{"de": 0.61, ...}``), if any."""
    listed = _manifest(source).get("thresholds", {})
    return {str(code): float(row["toxicity"]) for code, row in listed.items() if "toxicity" in row}


class LanguageDetector:
    """Blocking: call ``identify`` from the scoring thread (it is CPU work, never on the event loop)."""

    name = "py3langid"

    def __init__(self, config: LanguageConfig, supported: frozenset[str] = ENGLISH) -> None:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        self._identifier: Any = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        self.config = config
        self.supported = supported

    def identify(self, comments: Sequence[CommentText]) -> list[Language]:
        """One ``Language`` per comment, in order (one call per batch)."""
        return [self._mark(self._language(comment)) for comment in comments]

    def _mark(self, language: Language) -> Language:
        return replace(language, supported=language.code in self.supported)

    def _language(self, comment: CommentText) -> Language:
        if comment.language:
            return Language(comment.language, 1.0, "comment")
        declared = self.config.site_languages.get(comment.site, ())
        if len(declared) == 1:
            return Language(declared[0], 1.0, "site")
        default = declared[0] if declared else DEFAULT
        text = " ".join(_NOISE.sub(" ", comment.body[:MAX_CHARS]).split())
        letters = [ch for ch in text if ch.isalpha()]
        if len(letters) < MIN_LETTERS:
            return Language(default, 0.0, "default")
        short = len(letters) < MIN_LATIN_LETTERS and all(ch < _LATIN_END for ch in letters)
        ranked = [] if short else self.rank(text)
        if (not ranked or ranked[0][1] < MIN_CONFIDENCE) and declared:  # choose among the site's
            ranked = self.rank(text, declared)
        if not ranked or ranked[0][1] < MIN_CONFIDENCE:
            return Language(default, dict(ranked).get(default, 0.0), "default")
        return Language(ranked[0][0], ranked[0][1], "detected")

    def rank(self, text: str, among: Sequence[str] = ()) -> list[tuple[str, float]]:
        """Languages by probability, best first; with ``among``, only those, renormalised."""
        ranked = [(code, p) for code, p in self._identifier.rank(text) if code not in _NOT_LANGUAGES]
        if among:
            kept = [(code, p) for code, p in ranked if code in among] or [(among[0], 0.0)]
            total = sum(p for _, p in kept) or 1.0
            ranked = [(code, p / total) for code, p in kept]
        return ranked
