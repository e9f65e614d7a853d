"""Language codes: ISO 639-1, as a comment's ``language`` field and ``COMMENTMOD_SITE_LANGUAGES`` use them.

The detection itself runs in the workers (``workers/scoring/language.py``); this module only knows the
codes, so the HTTP side can validate a declared language without loading anything.
"""

from __future__ import annotations

import re

# The 183 two-letter codes of ISO 639-1 (Library of Congress list).
ISO_639_1 = frozenset(
    [
        "aa", "ab", "ae", "af", "ak", "am", "an", "ar", "as", "av", "ay", "az", "ba", "be", "bg", "bi", "bm",
        "bn", "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs", "cu", "cv", "cy", "da", "de", "dv", "dz",
        "ee", "el", "en", "eo", "es", "et", "eu", "fa", "ff", "fi", "fj", "fo", "fr", "fy", "ga", "gd", "gl",
        "gn", "gu", "gv", "ha", "he", "hi", "ho", "hr", "ht", "hu", "hy", "hz", "ia", "id", "ie", "ig", "ii",
        "ik", "io", "is", "it", "iu", "ja", "jv", "ka", "kg", "ki", "kj", "kk", "kl", "km", "kn", "ko", "kr",
        "ks", "ku", "kv", "kw", "ky", "la", "lb", "lg", "li", "ln", "lo", "lt", "lu", "lv", "mg", "mh", "mi",
        "mk", "ml", "mn", "mr", "ms", "mt", "my", "na", "nb", "nd", "ne", "ng", "nl", "nn", "no", "nr", "nv",
        "ny", "oc", "oj", "om", "or", "os", "pa", "pi", "pl", "ps", "pt", "qu", "rm", "rn", "ro", "ru", "rw",
        "sa", "sc", "sd", "se", "sg", "si", "sk", "sl", "sm", "sn", "so", "sq", "sr", "ss", "st", "su", "sv",
        "sw", "ta", "te", "tg", "th", "ti", "tk", "tl", "tn", "to", "tr", "ts", "tt", "tw", "ty", "ug", "uk",
        "ur", "uz", "ve", "vi", "vo", "wa", "wo", "xh", "yi", "yo", "za", "zh", "zu",
    ]
)  # fmt: skip
# A code, optionally with a region or script subtag as BCP 47 writes it ("pt-BR", "zh_Hant"): the region
# is dropped, since the models serve languages, not variants.
_TAG = re.compile(r"([A-Za-z]{2})(?:[-_][A-Za-z0-9]{2,8})*")


def language_code(raw: str) -> str | None:
    """The ISO 639-1 code of ``raw`` ("de", "DE", "pt-BR" -> "pt"), or None when it is not one."""
    match = _TAG.fullmatch(raw.strip())
    if match is None:
        return None
    code = match.group(1).lower()
    return code if code in ISO_639_1 else None
