"""Write a seeded, obfuscated copy of the toxicity dev sets (UCC val, OLID test) for robustness checks.

Each word of three or more letters is, with probability ``--rate``, disguised by one of: leetspeak
(``idiot`` -> ``1d10t``), spaced letters (``i d i o t``), zero-width characters between letters,
Cyrillic/Greek lookalikes, or an in-word dot (``st.upid``). The output folder mirrors the data
folder's layout, so ``scripts/eval_toxicity.py --data OUT`` scores it directly::

    python scripts/obfuscate_dev_sets.py --data ../shared/data --out artifacts/obf
    python scripts/eval_toxicity.py --data artifacts/obf

The output is derived from eval-only data: keep it out of the repository (``artifacts/`` is ignored).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import sys
from collections.abc import Callable
from pathlib import Path

LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}
LOOKALIKE = {"a": "а", "c": "с", "e": "е", "i": "і", "o": "о", "p": "р", "x": "х", "y": "у", "k": "κ"}
ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
WORD = re.compile(r"[A-Za-z]{3,}")


def leet(word: str, rng: random.Random) -> str:
    out = "".join(LEET.get(c.lower(), c) if rng.random() < 0.7 else c for c in word)
    return out if out != word else word[0] + "".join(LEET.get(c.lower(), c) for c in word[1:])


def spaced(word: str, rng: random.Random) -> str:
    return rng.choice((" ", ".", " . ", "-")).join(word)


def zero_width(word: str, rng: random.Random) -> str:
    return "".join(c + (rng.choice(ZERO_WIDTH) if rng.random() < 0.5 else "") for c in word)


def lookalike(word: str, rng: random.Random) -> str:
    return "".join(LOOKALIKE.get(c, c) if rng.random() < 0.6 else c for c in word)


def dotted(word: str, rng: random.Random) -> str:
    cut = rng.randrange(1, len(word))
    return word[:cut] + rng.choice((".", "*", "_")) + word[cut:]


TRICKS: tuple[Callable[[str, random.Random], str], ...] = (leet, spaced, zero_width, lookalike, dotted)


def obfuscate(text: str, rng: random.Random, rate: float) -> str:
    """Disguise about ``rate`` of the words of ``text``."""
    return WORD.sub(lambda m: rng.choice(TRICKS)(m.group(), rng) if rng.random() < rate else m.group(), text)


def _rewrite(src: Path, dst: Path, column: str, keep: Callable[[dict[str, str]], bool], rng_seed: int,
             rate: float) -> int:  # fmt: skip
    rng = random.Random(rng_seed)
    dst.parent.mkdir(parents=True, exist_ok=True)
    count = 0
    with src.open(newline="", encoding="utf-8") as fin, dst.open("w", newline="", encoding="utf-8") as fout:
        reader = csv.DictReader(fin)
        writer = csv.DictWriter(fout, fieldnames=list(reader.fieldnames or []))
        writer.writeheader()
        for row in reader:
            if keep(row):
                row[column] = obfuscate(row[column], rng, rate)
                writer.writerow(row)
                count += 1
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=0.3, help="share of words disguised")
    args = parser.parse_args(argv)
    csv.field_size_limit(sys.maxsize)
    ucc = "unhealthy_comments_corpus_ucc_val/val.csv"
    olid = "olid_offenseval2019/normalized.csv"
    n_ucc = _rewrite(args.data / ucc, args.out / ucc, "comment", lambda r: True, args.seed, args.rate)
    n_olid = _rewrite(
        args.data / olid, args.out / olid, "text", lambda r: r["split"] == "test", args.seed + 1, args.rate
    )
    print(f"wrote {n_ucc} UCC val and {n_olid} OLID test rows to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
