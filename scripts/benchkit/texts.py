"""Comments for the bench: synthetic and seeded (median ~100 characters), or read from ``--data DIR``."""

from __future__ import annotations

import csv
import json
import math
import random
import sys
from pathlib import Path

_WORD_TEXT = (
    "the a an and or but if so because while although this that these those it its we you they he "
    "she article author story report piece point argument data source study claim numbers chart "
    "quote city council school budget tax housing rent transit road bridge park library hospital "
    "police election vote mayor senator policy law court ruling climate energy solar wind water "
    "price market think agree disagree believe wonder hope read saw noticed missed found liked "
    "loved hated wrote good great clear fair useful interesting important strange wrong right weak "
    "strong long short really quite very rather just still already never always often sometimes "
    "maybe probably thanks please sorry honestly frankly actually basically literally seriously "
    "people readers neighbours parents kids workers drivers owners tenants voters experts officials "
    "more less better worse first last next other same different new old local national whole half"
)
_WORDS = _WORD_TEXT.split()
_OPENERS = [
    "Thanks for this.",
    "Great article!",
    "I disagree.",
    "Interesting read.",
    "Not sure about this.",
    "As a local resident,",
    "Finally someone says it.",
    "Hmm.",
    "Well written.",
    "This again?",
]
_RUDE = ["idiot", "stupid", "moron", "pathetic", "shut up", "garbage", "clown", "trash take", "you fool"]
_EXTRA = ["café", "naïve", "😀", "👍", "über", "—", "€20", "déjà vu", "🙄"]
_LINKS = ["https://example.com/deal", "http://cheap-pills.example/buy", "www.example.net/offer"]


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(rng.randint(5, 16))]
    if rng.random() < 0.08:
        words.insert(rng.randrange(len(words)), rng.choice(_EXTRA))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice([".", ".", ".", "!", "?"])


def synthetic_comments(count: int, seed: int = 7) -> list[str]:
    """Seeded comments, lengths log-normal around a median of ~100 characters (8 to ~2,000)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        target = int(min(2000, max(8, rng.lognormvariate(math.log(100), 0.8))))
        parts = [rng.choice(_OPENERS)] if rng.random() < 0.4 else []
        while sum(len(p) + 1 for p in parts) < target:
            parts.append(_sentence(rng))
        if rng.random() < 0.08:
            parts.insert(rng.randrange(len(parts) + 1), f"What a {rng.choice(_RUDE)}.")
        if rng.random() < 0.04:
            parts.append(f"Visit {rng.choice(_LINKS)} now")
        text = " ".join(parts)
        if len(text) > target + 20:
            text = text[:target].rsplit(" ", 1)[0] + "."
        out.append(text)
    return out


_TEXT_COLUMNS = ("body", "text", "comment", "comment_text", "tweet", "content")


def _from_file(path: Path) -> list[str]:
    texts: list[str] = []
    if path.suffix == ".csv":
        csv.field_size_limit(sys.maxsize)
        with path.open(newline="", encoding="utf-8", errors="replace") as fh:
            reader = csv.DictReader(fh)
            column = next((c for c in _TEXT_COLUMNS if c in (reader.fieldnames or [])), None)
            if column:
                texts = [row[column] for row in reader if row.get(column)]
    elif path.suffix == ".jsonl":
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            row = json.loads(line) if line.strip() else {}
            if not isinstance(row, dict):
                continue
            value = next((row[c] for c in _TEXT_COLUMNS if isinstance(row.get(c), str)), "")
            if value:
                texts.append(value)
    elif path.suffix == ".txt":
        texts = [line for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line]
    return texts


def comments_from_dir(data_dir: Path, count: int, seed: int = 7) -> list[str]:
    """``count`` texts (1 to 10,000 characters) from the .csv/.jsonl/.txt files under ``data_dir``."""
    texts: list[str] = []
    for path in sorted(data_dir.rglob("*")):
        if path.is_file():
            texts += [t.strip() for t in _from_file(path) if 0 < len(t.strip()) <= 10_000]
    if not texts:
        raise SystemExit(f"bench: no texts found under {data_dir} (csv/jsonl column body|text|comment...)")
    rng = random.Random(seed)
    rng.shuffle(texts)
    return [texts[i % len(texts)] for i in range(count)]


def payload(i: int, body: str) -> str:
    """The JSON body of ``POST /v1/comments`` for comment ``i``: every required and a few optional fields."""
    return json.dumps(
        {
            "name": f"Reader {i}",
            "email": f"reader{i}@example.org",
            "body": body,
            "thread": f"https://news.example/a/{i % 50}",
            "ip": f"203.0.113.{i % 250 + 1}",
        },
        ensure_ascii=False,
    )
