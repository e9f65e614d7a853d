"""The worker warms its models up before joining the group; warming changes no later score; after a
batch it hands the freed heap back to the OS."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import pytest

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


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_memory_hands_freed_heap_back_to_the_os_only_above_the_bound(tmp_path: Path) -> None:
    """What a batch freed (below glibc's mmap threshold, so kept in its heap) leaves the RSS."""
    build_tiny_checkpoint(tmp_path / "tiny")
    pipeline = ScoringPipeline.from_settings(Settings.from_env({}, toxicity_model=str(tmp_path / "tiny")))
    process = psutil.Process()
    blocks = [bytearray(100_000) for _ in range(2_000)]  # ~200 MB of heap chunks, touched
    del blocks[:-1]  # the last one pins the heap top: only malloc_trim can give the rest back
    before = process.memory_info().rss
    assert not pipeline.release_memory(above=before + 100_000_000)  # under the bound: kept for reuse
    assert before - process.memory_info().rss < 50_000_000
    assert pipeline.release_memory(above=before - 100_000_000)
    assert before - process.memory_info().rss > 100_000_000
