"""Measure offline language identification on short comments: accuracy and time per comment.

    .venv/bin/python scripts/measure_langid.py --data ../shared/data [--per-language 500] [--max-chars 200]

Samples ``--per-language`` comments shorter than ``--max-chars`` (after removing @handles and URLs, which
news comments do not carry) per language from the labelled sets (de: GermEval 2018/2019; pt: ToLD-Br,
HateBR; ko: K-MHaS, APEACH; en: UCC, Civil Comments), seeded, and reports per detector: accuracy per
language, how many fall under the confidence floor the worker uses, and the single-thread time per
comment (best of passes over the whole sample, one call per comment, and in one call per list: lingua's
runs on all cores), then what the worker makes of the same comments at a few confidence floors. Nothing
from the data is written anywhere. Run from the repository root (it imports ``workers``).
"""

from __future__ import annotations

import argparse
import csv
import random
import re
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path

SETS = {
    "de": ["germeval2018_offense_de", "germeval2019_offense_de"],
    "pt": ["told_br_pt", "hatebr_pt"],
    "ko": ["kmhas_ko", "apeach_ko"],
    "en": ["unhealthy_comments_corpus_ucc_val", "toxic_spans_civil_comments"],
}
_NOISE = re.compile(r"@\w+|https?://\S+|\|LBR\|")
Detector = Callable[[list[str]], list[tuple[str, float]]]


def sample(data: Path, per_language: int, max_chars: int, seed: int) -> list[tuple[str, str]]:
    csv.field_size_limit(sys.maxsize)
    rng = random.Random(seed)
    out: list[tuple[str, str]] = []
    for lang, folders in SETS.items():
        texts: list[str] = []
        for folder in folders:
            with (data / folder / "normalized.csv").open(encoding="utf-8") as handle:
                for row in csv.DictReader(handle):
                    text = " ".join(_NOISE.sub(" ", row["text"]).split())
                    if 3 <= len(text) < max_chars:
                        texts.append(text)
        out += [(lang, text) for text in rng.sample(sorted(set(texts)), per_language)]
    return out


def py3langid_detector() -> Detector:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return lambda texts: [(str(lang), float(p)) for lang, p in (ident.classify(t) for t in texts)]


def lingua_detector(low_accuracy: bool) -> Detector:
    from lingua import LanguageDetectorBuilder

    builder = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models()
    detector = (builder.with_low_accuracy_mode() if low_accuracy else builder).build()

    def detect(texts: list[str]) -> list[tuple[str, float]]:
        out = []
        for values in detector.compute_language_confidence_values_in_parallel(texts):
            top = values[0] if values else None
            out.append((top.language.iso_code_639_1.name.lower(), top.value) if top else ("und", 0.0))
        return out

    return detect


def measure(name: str, make: Callable[[], Detector], rows: list[tuple[str, str]], floor: float) -> None:
    started = time.perf_counter()
    detect = make()
    load_s = time.perf_counter() - started
    texts = [text for _, text in rows]
    batched = min(_timed(lambda: detect(texts)) for _ in range(3))
    single = min(_timed(lambda: [detect([t]) for t in texts]) for _ in range(2))
    found = detect(texts)
    print(f"\n{name}: load {load_s:.2f} s, RSS after load {_rss_mb():.0f} MB")
    one, many = single / len(texts) * 1e3, batched / len(texts) * 1e3
    print(f"  per comment: {one:.3f} ms one at a time, {many:.3f} ms batched")
    print(f"  {'lang':<5}{'n':>5}{'accuracy':>10}{'under floor':>13}{'acc. over floor':>17}")
    for lang in SETS:
        mine = [(g, f) for (g, _), f in zip(rows, found, strict=True) if g == lang]
        right = sum(f[0] == g for g, f in mine)
        over = [(g, f) for g, f in mine if f[1] >= floor]
        over_right = sum(f[0] == g for g, f in over)
        print(
            f"  {lang:<5}{len(mine):>5}{right / len(mine):>10.3f}{len(mine) - len(over):>13}"
            f"{over_right / max(len(over), 1):>17.3f}"
        )
    total = sum(f[0] == g for (g, _), f in zip(rows, found, strict=True))
    print(f"  all  {len(rows):>5}{total / len(rows):>10.3f}")


def worker_view(rows: list[tuple[str, str]], floors: list[float], shorts: list[int]) -> None:
    """What the worker makes of each comment (``workers/scoring/language.py``, no site declaration):
    per floor, the share read as its own language, as the English default, and as another language.
    For de/pt/ko (unserved by the default model) "en default" is scored as English; for en "other" is
    held as unsupported."""
    from workers.scoring import language
    from workers.scoring.config import LanguageConfig
    from workers.scoring.types import CommentText

    detector = language.LanguageDetector(LanguageConfig())
    print("\nworker (py3langid, its cleaning and fallback) per MIN_CONFIDENCE and MIN_LATIN_LETTERS:")
    print(f"  {'floor':<7}{'short':<7}{'lang':<6}{'own':>7}{'en default':>12}{'other':>8}")
    for floor, short in [(f, s) for f in floors for s in shorts]:
        language.MIN_CONFIDENCE, language.MIN_LATIN_LETTERS = floor, short
        found = detector.identify([CommentText(id="", body=text) for _, text in rows])
        for lang in SETS:
            mine = [f for (g, _), f in zip(rows, found, strict=True) if g == lang]
            own = sum(f.code == lang and f.source == "detected" for f in mine) / len(mine)
            default = sum(f.source == "default" for f in mine) / len(mine)
            other = max(0.0, 1 - own - default)
            print(f"  {floor:<7}{short:<7}{lang:<6}{own:>7.3f}{default:>12.3f}{other:>8.3f}")


def _timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--per-language", type=int, default=500)
    parser.add_argument("--max-chars", type=int, default=200)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--floor", type=float, default=0.5, help="MIN_CONFIDENCE of the worker")
    parser.add_argument("--only", choices=["py3langid", "lingua", "lingua-low", "worker"], action="append")
    parser.add_argument("--floors", default="0.3,0.5", help="MIN_CONFIDENCE values for the worker view")
    parser.add_argument("--shorts", default="0,20", help="MIN_LATIN_LETTERS values for the worker view")
    args = parser.parse_args(argv)
    rows = sample(args.data, args.per_language, args.max_chars, args.seed)
    print(f"{len(rows)} comments, {args.per_language} per language, under {args.max_chars} characters")
    detectors: dict[str, Callable[[], Detector]] = {
        "py3langid": py3langid_detector,
        "lingua": lambda: lingua_detector(False),
        "lingua-low": lambda: lingua_detector(True),
    }
    for name in args.only or [*detectors, "worker"]:
        if name == "worker":
            floors, shorts = args.floors.split(","), args.shorts.split(",")
            worker_view(rows, [float(f) for f in floors], [int(n) for n in shorts])
        else:
            measure(name, detectors[name], rows, args.floor)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
