"""The scoring pipeline shared by the worker and ``commentmod score``: toxicity + spam + policy inputs."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from service.core.settings import Settings
from workers.scoring.config import PipelineConfig
from workers.scoring.explain import WordScores, toxic_spans
from workers.scoring.language import LanguageDetector, model_languages, model_thresholds
from workers.scoring.spam import SpamScorer
from workers.scoring.toxicity import ToxicityScorer
from workers.scoring.types import CommentText, Language, Scores, Signal

# Trim the heap only above this resident size. Trimming after every batch of 256 cost ~12 ms plus
# ~85 ms of page faults when the next batch touched the memory again (~14 % of the model's time);
# with passes of 256 tokens a worker levels off near 640 MB untrimmed (``make bench``).
TRIM_ABOVE_BYTES = 768 * 2**20


def resident_bytes() -> int | None:
    """This process's resident set size from ``/proc`` (Linux); None where there is none."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def malloc_trim() -> Callable[[], object]:
    """glibc's ``malloc_trim(0)``, or a no-op where the C library has none (musl, macOS)."""
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


@dataclass
class ScoringPipeline:
    """Blocking and CPU-bound: call ``score_batch`` from an executor thread, never the event loop."""

    toxicity: ToxicityScorer  # the primary model: every comment in one of ``primary_languages``
    spam: SpamScorer
    words: WordScores = field(default_factory=WordScores)  # stand-alone word scores for explanations
    languages: LanguageDetector | None = None  # None: no detection, every comment scored (tests, tools)
    # The multilingual model (``commentmod-e5`` by default) and the languages routed to it: those it
    # serves that the primary model does not (README "Languages", docs/evaluation.md for the measurements).
    multilingual: ToxicityScorer | None = None
    multilingual_languages: frozenset[str] = frozenset()
    primary_languages: frozenset[str] = frozenset({"en"})
    # Per-language toxicity thresholds the multilingual model ships (its manifest), chosen on dev data.
    language_thresholds: dict[str, float] = field(default_factory=dict)
    _multi_words: WordScores = field(default_factory=WordScores, repr=False)
    _trim: Callable[[], object] = field(default_factory=malloc_trim, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringPipeline:
        return cls.from_config(PipelineConfig.from_settings(settings))

    @classmethod
    def from_config(cls, config: PipelineConfig) -> ScoringPipeline:
        primary = model_languages(config.toxicity.source)
        multilingual, routed, thresholds = None, frozenset[str](), {}
        if config.multilingual is not None:
            routed = model_languages(config.multilingual.source) - primary
            # the larger model first: its load peak (checkpoint and model both fp32) then does not
            # stack on the other model (a worker's peak resident memory, README "Sizing")
            multilingual = ToxicityScorer.from_config(config.multilingual) if routed else None
            thresholds = model_thresholds(config.multilingual.source) if routed else {}
        detector = LanguageDetector(config.language, primary | routed)
        return cls(
            ToxicityScorer.from_config(config.toxicity),
            SpamScorer(),
            languages=detector,
            multilingual=multilingual,
            multilingual_languages=routed,
            primary_languages=primary,
            language_thresholds={code: t for code, t in thresholds.items() if code in routed},
        )

    @property
    def models(self) -> dict[str, str]:
        out = {"toxicity": _model_name(self.toxicity), "spam": f"{self.spam.name}@{self.spam.version}"}
        if self.multilingual is not None:
            out["toxicity_multilingual"] = _model_name(self.multilingual)
        return out

    def routed(self, language: Language | None) -> bool:
        """Whether a comment in ``language`` goes to the multilingual model (else the primary one)."""
        return (
            self.multilingual is not None
            and language is not None
            and language.code in self.multilingual_languages
        )

    def score_batch(
        self, comments: Sequence[CommentText], history: Sequence[Sequence[Signal]] | None = None
    ) -> list[Scores]:
        """Score a batch in one model call per scorer; ``history`` holds signals that needed Redis.
        A comment in a language the toxicity model does not serve gets no toxicity scores (its
        ``Scores.language`` says so; ``workers/languages.py`` decides what happens to it)."""
        languages = self.detect(comments)
        toxicity = self._toxicity(comments, languages)
        spam_text = self.spam.text_scores([c.body for c in comments])
        spam = f"{self.spam.name}@{self.spam.version}"
        out: list[Scores] = []
        for i, comment in enumerate(comments):
            signals = [*self.spam.static_signals(comment), *(history[i] if history else ())]
            values = {label: round(float(v), 4) for label, v in toxicity[i].items()}
            values["spam"] = round(self.spam.combine(spam_text[i], signals), 4)
            raw = toxicity[i].get("toxicity")
            scorer = self.multilingual if self.routed(languages[i]) else self.toxicity
            models = {"toxicity": _model_name(scorer or self.toxicity), "spam": spam}
            out.append(Scores(values, tuple(signals), models=models, toxicity=raw, language=languages[i]))
        return out

    def detect(self, comments: Sequence[CommentText]) -> list[Language | None]:
        """Each comment's language (``workers/scoring/language.py``); all None without a detector."""
        if self.languages is None:
            return [None] * len(comments)
        return list(self.languages.identify(comments))

    def _toxicity(
        self, comments: Sequence[CommentText], languages: Sequence[Language | None]
    ) -> list[dict[str, float]]:
        """Each served comment's labels from the model its language is routed to (one call per model),
        ``{}`` for the rest."""
        served = [i for i, language in enumerate(languages) if language is None or language.supported]
        out: list[dict[str, float]] = [{} for _ in comments]
        for scorer, group in self._groups(served, languages):
            for i, labels in zip(group, scorer.score([comments[i].body for i in group]), strict=True):
                out[i] = labels
        return out

    def _groups(
        self, indices: Sequence[int], languages: Sequence[Language | None]
    ) -> list[tuple[ToxicityScorer, list[int]]]:
        """``indices`` split by the model they are routed to (primary first), empty groups left out."""
        routed = [i for i in indices if self.routed(languages[i])]
        primary = [i for i in indices if not self.routed(languages[i])]
        groups = [(self.toxicity, primary)]
        if self.multilingual is not None:
            groups.append((self.multilingual, routed))
        return [(scorer, group) for scorer, group in groups if group]

    def warm_up(self) -> None:
        """Run both models once on a short and a multi-window text, so the first real batch does not
        pay for first-call set-up (kernel selection, tokenizer caches, int8 packing)."""
        texts = ["Thanks for the article.", " ".join(["a long comment about the city budget"] * 60)]
        self.toxicity.score(texts)
        if self.multilingual is not None:
            self.multilingual.score(["Danke für den Artikel.", "기사 잘 읽었습니다", *texts])
        self.spam.text_scores(texts)
        self.detect([CommentText(id="warm-up", body=text) for text in texts])

    def release_memory(self, above: int = TRIM_ABOVE_BYTES) -> bool:
        """Hand the heap's free memory back to the OS when the process holds more than ``above`` bytes
        (glibc keeps freed activations for reuse; unusual batches, such as many long comments, can
        leave it larger). Returns whether it trimmed; where the size is unknown it always does."""
        resident = resident_bytes()
        if resident is not None and resident <= above:
            return False
        self._trim()
        return True

    def explain(
        self,
        bodies: Sequence[str],
        bases: Sequence[float] | None = None,
        languages: Sequence[Language | None] | None = None,
    ) -> list[list[list[int]]]:
        """Toxic spans per body (character offsets: words, or Korean eojeol), for comments held for
        toxicity, by the model that scored each (``languages``); ``bases``: their decisions' unrounded
        toxicity probabilities (each body is then not scored again)."""
        langs: Sequence[Language | None] = languages if languages is not None else [None] * len(bodies)
        out: list[list[list[int]]] = [[] for _ in bodies]
        for scorer, group in self._groups(range(len(bodies)), langs):
            words = self._multi_words if scorer is self.multilingual else self.words
            found = toxic_spans(
                scorer,
                [bodies[i] for i in group],
                words=words,
                bases=[bases[i] for i in group] if bases is not None else None,
            )
            for i, spans in zip(group, found, strict=True):
                out[i] = spans
        return out


def _model_name(scorer: ToxicityScorer) -> str:
    return f"{scorer.name}@{scorer.version}"
