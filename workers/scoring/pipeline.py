"""The scoring pipeline shared by the worker and ``commentmod score``: toxicity + spam + policy inputs."""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from service.core.settings import Settings
from workers.scoring.config import PipelineConfig
from workers.scoring.explain import WordScores, toxic_spans
from workers.scoring.language import LanguageDetector, model_languages
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

    toxicity: ToxicityScorer
    spam: SpamScorer
    words: WordScores = field(default_factory=WordScores)  # stand-alone word scores for explanations
    languages: LanguageDetector | None = None  # None: no detection, every comment scored (tests, tools)
    _trim: Callable[[], object] = field(default_factory=malloc_trim, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> ScoringPipeline:
        return cls.from_config(PipelineConfig.from_settings(settings))

    @classmethod
    def from_config(cls, config: PipelineConfig) -> ScoringPipeline:
        detector = LanguageDetector(config.language, model_languages(config.toxicity.source))
        return cls(ToxicityScorer.from_config(config.toxicity), SpamScorer(), languages=detector)

    @property
    def models(self) -> dict[str, str]:
        return {
            "toxicity": f"{self.toxicity.name}@{self.toxicity.version}",
            "spam": f"{self.spam.name}@{self.spam.version}",
        }

    def score_batch(
        self, comments: Sequence[CommentText], history: Sequence[Sequence[Signal]] | None = None
    ) -> list[Scores]:
        """Score a batch in one model call per scorer; ``history`` holds signals that needed Redis.
        A comment in a language the toxicity model does not serve gets no toxicity scores (its
        ``Scores.language`` says so; ``workers/languages.py`` decides what happens to it)."""
        languages = self.detect(comments)
        toxicity = self._toxicity(comments, languages)
        spam_text = self.spam.text_scores([c.body for c in comments])
        models = self.models
        out: list[Scores] = []
        for i, comment in enumerate(comments):
            signals = [*self.spam.static_signals(comment), *(history[i] if history else ())]
            values = {label: round(float(v), 4) for label, v in toxicity[i].items()}
            values["spam"] = round(self.spam.combine(spam_text[i], signals), 4)
            raw = toxicity[i].get("toxicity")
            out.append(
                Scores(values, tuple(signals), models=models, toxicity=raw, language=languages[i])
            )
        return out

    def detect(self, comments: Sequence[CommentText]) -> list[Language | None]:
        """Each comment's language (``workers/scoring/language.py``); all None without a detector."""
        if self.languages is None:
            return [None] * len(comments)
        return list(self.languages.identify(comments))

    def _toxicity(
        self, comments: Sequence[CommentText], languages: Sequence[Language | None]
    ) -> list[dict[str, float]]:
        """The model's labels for the comments in a served language (one call), ``{}`` for the rest."""
        served = [i for i, language in enumerate(languages) if language is None or language.supported]
        scored = self.toxicity.score([comments[i].body for i in served]) if served else []
        out: list[dict[str, float]] = [{} for _ in comments]
        for i, labels in zip(served, scored, strict=True):
            out[i] = labels
        return out

    def warm_up(self) -> None:
        """Run both models once on a short and a multi-window text, so the first real batch does not
        pay for first-call set-up (kernel selection, tokenizer caches, int8 packing)."""
        texts = ["Thanks for the article.", " ".join(["a long comment about the city budget"] * 60)]
        self.toxicity.score(texts)
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

    def explain(self, bodies: Sequence[str], bases: Sequence[float] | None = None) -> list[list[list[int]]]:
        """Toxic spans per body (character offsets), for comments held for toxicity; ``bases``: their
        decisions' unrounded toxicity probabilities (each body is then not scored again)."""
        return toxic_spans(self.toxicity, bodies, words=self.words, bases=bases)
