"""The worker warms its models up before joining the group; warming changes no later score."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.testing import build_tiny_checkpoint
from workers.scoring.types import CommentText


def test_warm_up_changes_no_later_score(tmp_path: Path) -> None:
    build_tiny_checkpoint(tmp_path / "tiny")
    settings = Settings.from_env({}, toxicity_model=str(tmp_path / "tiny"), toxicity_int8=False)
    cold, warm = ScoringPipeline.from_settings(settings), ScoringPipeline.from_settings(settings)
    warm.warm_up()
    comments = [CommentText(id=str(i), body=b, name="Reader") for i, b in enumerate(("fine", "you idiot"))]
    assert [s.values for s in warm.score_batch(comments)] == [s.values for s in cold.score_batch(comments)]
