"""Spam scoring: a hashed n-gram logistic-regression text model plus signals from the comment itself.

The text model is trained by ``commentmod train spam`` (``workers/training/spam.py``) and shipped as
``assets/spam_weights.npz`` (float32 weights, no pickle) with ``assets/spam_manifest.json`` (sha256 of the
weights, calibration, metrics). Feature extraction lives here so training and serving share it exactly.

Every regular expression below runs on user input; all of them are linear-time (no nested quantifiers
over overlapping classes) or run on length-capped tokens. ``tests/test_spam.py`` checks 50,000-char
adversarial strings.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import math
import re
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.core.settings import Settings
from workers.scoring.types import CommentText, Signal

ASSETS = Path(__file__).resolve().parent / "assets"
MANIFEST = "spam_manifest.json"
DIM_BITS = 18
MAX_CHARS = 2000  # the text model reads the first MAX_CHARS normalised characters
MAX_BODY_CHARS = 65536  # signals read the whole body up to this
MAX_TOKEN = 256  # tokens longer than this are cut before any per-token regex

_ZERO_WIDTH = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060\u00ad\u180e"), None)
_LONG_CHARREF_RE = re.compile(r"&#([xX]?)0*([0-9a-fA-F]{1,8})[0-9a-fA-F]*")
_TAG_RE = re.compile(r"<[^<>]{0,300}>")
WORD_RE = re.compile(r"[^\W_]+|[^\w\s]+")  # words, and runs of punctuation ("!!!") as one token
_URL_RE = re.compile(
    r"(?:(?:https?|ftp)://|www\.)?(?:[a-z0-9](?:[a-z0-9-]{0,62})\.){1,6}([a-z]{2,12})(?::\d{1,5})?(?:[/?#]\S*)?"
)
_REPEAT_RE = re.compile(r"(.)\1{5,}")
_SCHEME_RE = re.compile(r"^(?:(?:https?|ftp)://)?(?:www\d?\.)?")

# Top-level domains that make a bare "word.tld" count as a link. Short on purpose: "e.g." or "file.py"
# must not count.
_TLDS = (
    "com net org info biz ru cn xyz top io co ly gl me tk ml ga cf gq pw cc ws us uk de fr in online site "
    "shop store club live app link click vip win loan bid work today tv to su ua pl br eu ca au"
)
TLDS = frozenset(_TLDS.split())
_SHORTENERS = (
    "bit.ly goo.gl tinyurl.com t.co ow.ly is.gd buff.ly cutt.ly rb.gy shorturl.at tiny.cc rebrand.ly "
    "bl.ink t.ly s.id v.gd lnkd.in adf.ly shorte.st bc.vc ouo.io soo.gd qr.net x.co po.st db.tt "
    "tr.im u.to clck.ru linktr.ee"
)
SHORTENERS = frozenset(_SHORTENERS.split())
SALES_WORDS = re.compile(
    r"\b(?:cheap|buy|discount|casino|poker|viagra|cialis|loans?|payday|seo|forex|crypto|bitcoin|"
    r"replica|pharmacy|pills?|escorts?|dating|followers|backlinks?|essay|writing service|for sale|"
    r"free|deal|promo|coupon|marketing|agency|hack)\b"
)
SPAM_PHRASES = re.compile(
    r"\b(?:check out my|check my channel|subscribe to my|sub to my|visit my|my channel|follow me|"
    r"click here|click the link|free iphone|free gift|work from home|make money|earn \$?\d+|"
    r"per hour|per week|per day from home|guaranteed|limited time|act now|100% free|risk free|"
    r"winner|you have won|claim your|cash prize|lowest price|best price|buy now|order now|"
    r"dear friend|increase your|weight loss|lose weight|cheap|viagra|casino|bitcoin|"
    r"crypto invest|investment opportunity|whatsapp|telegram|dm me|text me at)\b"
)


@dataclass(frozen=True, slots=True)
class SignalWeights:
    """Log-odds added to the calibrated text logit when a signal fires."""

    link: float = 0.4
    link_per_extra: float = 0.4
    link_shortener: float = 1.5
    name_url: float = 2.5
    name_sales: float = 1.5
    disposable_email: float = 1.5
    repeated_chars: float = 0.3
    spam_phrase: float = 0.5
    honeypot: float = 8.0
    too_fast: float = 2.5
    too_fast_ms: int = 3000


WEIGHTS = SignalWeights()


def normalise(text: str, limit: int = MAX_CHARS * 4) -> str:
    """Undo YouTube/HTML artefacts: entities, tags, zero-width characters, compatibility forms, spaces."""
    # Lone surrogates (legal in a JSON string) cannot be encoded to UTF-8 for hashing: replace them.
    text = text[:limit].encode("utf-8", "replace").decode("utf-8")
    # html.unescape raises ValueError on a numeric reference with more than 4,300 digits: cut them.
    text = html.unescape(_LONG_CHARREF_RE.sub(r"&#\1\2", text))
    text = _TAG_RE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text.translate(_ZERO_WIDTH))
    return " ".join(text.split())


def find_links(text: str) -> list[str]:
    """Hosts of URLs and bare ``word.tld`` links in ``text`` (lowercase, without ``www.``), in order."""
    hosts: list[str] = []
    for raw in text.lower().split():
        token = raw[:MAX_TOKEN].strip("()[]{}<>\"',;!")
        if "." not in token:
            continue
        match = _URL_RE.match(token)
        explicit = "://" in token or token.startswith("www.")
        if match is None or not (explicit or match.group(1) in TLDS):
            continue
        host = _SCHEME_RE.sub("", match.group(0)).split("/")[0].split("?")[0].split("#")[0].split(":")[0]
        if host:
            hosts.append(host.rstrip("."))
    return hosts


def _bucket(value: float, edges: Sequence[float]) -> int:
    return sum(value >= edge for edge in edges)


def _token_features(lower: str) -> list[str]:
    tokens = [t[:40] for t in WORD_RE.findall(lower)]
    links = find_links(lower)
    feats = [f"w:{t}" for t in tokens]
    feats += [f"b:{a} {b}" for a, b in itertools.pairwise(tokens)]
    feats += [f"host:{h}" for h in links]
    feats.append(f"nlink:{min(len(links), 4)}")
    feats.append(f"len:{_bucket(len(lower), (10, 30, 80, 200, 600))}")
    digits = sum(ch.isdigit() for ch in lower)
    feats.append(f"digits:{_bucket(digits, (1, 5, 10, 20))}")
    return feats


def _caps_feature(text: str) -> str:
    letters = [ch for ch in text[:MAX_CHARS] if ch.isalpha()]
    upper = sum(ch.isupper() for ch in letters) / len(letters) if letters else 0.0
    return f"caps:{_bucket(upper, (0.1, 0.3, 0.6, 0.9))}"


FEATURISE_CHUNK = 256  # texts whose byte n-grams are hashed in one array (bounded memory in training)


def _ngram_hashes(data: np.ndarray, mask: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes of every byte 3-, 4- and 5-gram of ``data`` (uint64 bytes), with each one's start and
    end offsets."""
    hashes, starts, stops = [], [], []
    with np.errstate(over="ignore"):
        for n in (3, 4, 5):
            if len(data) < n:
                continue
            h = np.full(len(data) - n + 1, np.uint64(n * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF))
            for k in range(n):
                h = (h ^ data[k : len(data) - n + 1 + k]) * np.uint64(0x100000001B3)
            h ^= h >> np.uint64(29)
            h *= np.uint64(0xBF58476D1CE4E5B9)
            h ^= h >> np.uint64(32)
            hashes.append(h & np.uint64(mask))
            starts.append(np.arange(len(data) - n + 1, dtype=np.int64))
            stops.append(starts[-1] + n)
    if not hashes:
        return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(hashes), np.concatenate(starts), np.concatenate(stops)


def _lowered(text: str) -> tuple[str, str]:
    norm = normalise(text)[:MAX_CHARS]
    return norm, norm.lower()


def _word_hashes(norm: str, lower: str, mask: int) -> np.ndarray:
    names = [*_token_features(lower), _caps_feature(norm)]
    return np.fromiter((zlib.crc32(s.encode()) & mask for s in names), dtype=np.uint64, count=len(names))


def _log_counts(
    rows: np.ndarray, idx: np.ndarray, count: int, dim_bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR of per-row log counts of ``idx`` (1 + log n), each row L2-normalised, indices ascending."""
    keys, counts = np.unique(rows.astype(np.int64) << dim_bits | idx.astype(np.int64), return_counts=True)
    row_of = keys >> dim_bits
    values = 1.0 + np.log(counts.astype(np.float64))
    norms = np.sqrt(np.bincount(row_of, weights=values * values, minlength=count))
    values /= np.where(norms > 0, norms, 1.0)[row_of]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(row_of, minlength=count))]).astype(np.int64)
    return indptr, keys & ((1 << dim_bits) - 1), values.astype(np.float32)


def featurise(text: str, dim_bits: int = DIM_BITS) -> tuple[np.ndarray, np.ndarray]:
    """Sparse (indices, values) of one raw text: log counts of hashed features, L2-normalised."""
    _, indices, data = featurise_many([text], dim_bits)
    return indices, data


def featurise_many(
    texts: Iterable[str], dim_bits: int = DIM_BITS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR parts (indptr, indices, data) for many texts: hashed word, bigram, link and shape features
    plus byte 3- to 5-grams, the n-grams hashed for up to ``FEATURISE_CHUNK`` texts at once (in
    batches of 256, 44 us per text against 84 us one text at a time)."""
    texts = list(texts)
    parts = [
        _featurise_chunk(texts[i : i + FEATURISE_CHUNK], dim_bits)
        for i in range(0, len(texts), FEATURISE_CHUNK)
    ]
    if not parts:
        return np.zeros(1, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    row_lengths = np.concatenate([np.diff(p[0]) for p in parts])
    return (
        np.concatenate([[0], np.cumsum(row_lengths)]).astype(np.int64),
        np.concatenate([p[1] for p in parts]),
        np.concatenate([p[2] for p in parts]),
    )


def _featurise_chunk(texts: list[str], dim_bits: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mask = (1 << dim_bits) - 1
    lowered = [_lowered(t) for t in texts]
    words = [_word_hashes(norm, lower, mask) for norm, lower in lowered]
    padded = [f" {lower} ".encode() for _, lower in lowered]
    ends = np.cumsum([len(p) for p in padded])
    data = np.frombuffer(b"".join(padded), dtype=np.uint8).astype(np.uint64)
    hashes, starts, stops = _ngram_hashes(data, mask)
    owner = np.searchsorted(ends, starts, side="right")  # the text each n-gram starts in
    inside = stops <= ends[np.minimum(owner, len(ends) - 1)]  # and ends in the same text
    rows = np.concatenate([np.repeat(np.arange(len(words)), [len(w) for w in words]), owner[inside]])
    return _log_counts(rows, np.concatenate([*words, hashes[inside]]), len(words), dim_bits)


def linear_logits(texts: Sequence[str], weights: np.ndarray, bias: float, dim_bits: int) -> np.ndarray:
    """``weights · features + bias`` per text, for a linear model over ``featurise_many``'s features."""
    indptr, indices, data = featurise_many(texts, dim_bits)
    rows = np.repeat(np.arange(len(texts)), np.diff(indptr))
    dots = np.bincount(rows, weights=weights[indices] * data, minlength=len(texts))
    return dots + bias


def logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_model(assets: Path = ASSETS) -> tuple[np.ndarray, float, dict[str, Any]]:
    """Weights, bias and manifest; raises ``ValueError`` when the weights do not match the manifest."""
    manifest = json.loads((assets / MANIFEST).read_text())
    path = assets / manifest["weights_file"]
    if sha256_file(path) != manifest["weights_sha256"]:
        raise ValueError(f"{path}: sha256 does not match {MANIFEST}")
    with np.load(path, allow_pickle=False) as npz:
        weights = npz["weights"].astype(np.float32)
        bias = float(npz["bias"][0])
    if weights.shape != (1 << int(manifest["dim_bits"]),):
        raise ValueError(f"{path}: unexpected weight shape {weights.shape}")
    return weights, bias, manifest


def _email_domain_disposable(email: str) -> str | None:
    from disposable_email_domains import blocklist

    domain = email.rpartition("@")[2].strip().lower().rstrip(".")[:253]
    parts = domain.split(".")
    for i in range(len(parts) - 1):
        candidate = ".".join(parts[i:])
        if candidate in blocklist:
            return candidate
    return None


def _link_signals(body: str, w: SignalWeights) -> list[Signal]:
    hosts = find_links(body)
    if not hosts:
        return []
    extra = min(len(hosts) - 1, 4)
    out = [Signal("link", w.link + w.link_per_extra * extra, f"{len(hosts)} link(s)")]
    short = sorted({h for h in hosts if h in SHORTENERS})
    if short:
        out.append(Signal("link_shortener", w.link_shortener, ",".join(short[:3])))
    return out


def _name_signals(name: str, w: SignalWeights) -> list[Signal]:
    lower = normalise(name[:300]).lower()
    out = []
    if find_links(lower) or "http" in lower:
        out.append(Signal("name_url", w.name_url))
    sales = SALES_WORDS.search(lower)
    if sales:
        out.append(Signal("name_sales", w.name_sales, sales.group(0)))
    return out


def _body_signals(body: str, w: SignalWeights) -> list[Signal]:
    out = _link_signals(body, w)
    if _REPEAT_RE.search(body):
        out.append(Signal("repeated_chars", w.repeated_chars))
    phrases = sorted(set(SPAM_PHRASES.findall(body.lower())))
    if phrases:
        out.append(Signal("spam_phrase", w.spam_phrase * min(len(phrases), 3), ",".join(phrases[:3])))
    return out


def body_signals(text: str, weights: SignalWeights = WEIGHTS) -> list[Signal]:
    """The signals that need only the body (used by training to calibrate with them in place)."""
    return _body_signals(normalise(text, MAX_BODY_CHARS), weights)


class SpamScorer:
    """Text model + static signals + the combination into one spam score in [0, 1]."""

    name = "spam"

    def __init__(self, assets: Path = ASSETS, weights: SignalWeights = WEIGHTS) -> None:
        self._w, self._bias, self.manifest = load_model(assets)
        self._dim_bits = int(self.manifest["dim_bits"])
        cal = self.manifest["calibration"]
        self._cal_a, self._cal_b = float(cal["a"]), float(cal["b"])
        self.signal_weights = weights
        self.version: str = str(self.manifest["version"])

    @classmethod
    def from_settings(cls, settings: Settings) -> SpamScorer:
        """The shipped model: the spam scorer reads no settings."""
        return cls()

    def raw_logits(self, texts: Sequence[str]) -> np.ndarray:
        """Uncalibrated model logits, one per text."""
        return linear_logits(texts, self._w, self._bias, self._dim_bits)

    def text_scores(self, texts: Sequence[str]) -> list[float]:
        """Calibrated probability that each text is spam, from the text alone (blocking, CPU)."""
        z = self._cal_a * self.raw_logits(texts) + self._cal_b
        return [sigmoid(float(v)) for v in z]

    def static_signals(self, c: CommentText) -> list[Signal]:
        """Signals from the comment alone: links, name, email, repetition, phrases, honeypot, timing."""
        w = self.signal_weights
        out = body_signals(c.body, w)
        out += _name_signals(c.name, w)
        if c.email:
            domain = _email_domain_disposable(c.email)
            if domain:
                out.append(Signal("disposable_email", w.disposable_email, domain))
        if c.honeypot.strip():
            out.append(Signal("honeypot", w.honeypot))
        if c.form_elapsed_ms is not None and c.form_elapsed_ms < w.too_fast_ms:
            out.append(Signal("too_fast", w.too_fast, f"{c.form_elapsed_ms} ms"))
        return out

    def combine(self, text_score: float, signals: Sequence[Signal]) -> float:
        """One spam score in [0, 1]: the text logit plus the signals' log-odds, squashed."""
        return sigmoid(logit(text_score) + sum(s.weight for s in signals))
