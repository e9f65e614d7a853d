"""A fault injected into the real scoring pipeline: any batch holding the marker raises."""

from __future__ import annotations

from collections.abc import Sequence

from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText, Scores, Signal

POISON = "POISON-PILL"


class PoisonPipeline(ScoringPipeline):
    """The real pipeline, with a fault injected: any batch holding the marker raises."""

    def score_batch(
        self, comments: Sequence[CommentText], history: Sequence[Sequence[Signal]] | None = None
    ) -> list[Scores]:
        if any(POISON in c.body for c in comments):
            raise RuntimeError("model exploded")
        return super().score_batch(comments, history)
