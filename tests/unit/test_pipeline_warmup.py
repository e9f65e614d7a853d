"""The worker warms its models up before joining the group; warming changes no later score; after a
batch it hands the freed heap back to the OS."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from service.core.settings import Settings
from tests.kits.tiny_model import build_tiny_checkpoint
from workers.scoring.pipeline import ScoringPipeline
from workers.scoring.types import CommentText


def test_warm_up_changes_no_later_score(tmp_path: Path) -> None:
    build_tiny_checkpoint(tmp_path / "tiny")
    settings = Settings.from_env(
        {}, multilingual_model="none", toxicity_model=str(tmp_path / "tiny"), toxicity_int8=False
    )
    cold, warm = ScoringPipeline.from_settings(settings), ScoringPipeline.from_settings(settings)
    warm.warm_up()
    comments = [CommentText(id=str(i), body=b, name="Reader") for i, b in enumerate(("fine", "you idiot"))]
    assert [s.values for s in warm.score_batch(comments)] == [s.values for s in cold.score_batch(comments)]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_release_memory_hands_freed_heap_back_to_the_os_only_above_the_bound(tmp_path: Path) -> None:
    """What a batch freed (below glibc's mmap threshold, so kept in its heap) leaves the RSS."""
    build_tiny_checkpoint(tmp_path / "tiny")
    pipeline = ScoringPipeline.from_settings(
        Settings.from_env({}, multilingual_model="none", toxicity_model=str(tmp_path / "tiny"))
    )
    process = psutil.Process()
    blocks = [bytearray(100_000) for _ in range(2_000)]  # ~200 MB of heap chunks, touched
    del blocks[:-1]  # the last one pins the heap top: only malloc_trim can give the rest back
    before = process.memory_info().rss
    assert not pipeline.release_memory(above=before + 100_000_000)  # under the bound: kept for reuse
    assert before - process.memory_info().rss < 50_000_000
    assert pipeline.release_memory(above=before - 100_000_000)
    assert before - process.memory_info().rss > 100_000_000


@pytest.mark.procs
def test_a_loaded_worker_keeps_its_startup_heap_out_of_later_collections(tmp_path: Path) -> None:
    """``load_pipeline`` (what ``commentmod worker`` and ``scripts/profile_worker.py`` run) freezes the
    heap once the models are in, so no later full collection walks the libraries' ~400k objects with
    the GIL held; and it sets the torch threads."""
    build_tiny_checkpoint(tmp_path / "tiny")
    code = (
        "import gc, sys, torch\n"
        "from service.core.settings import Settings\n"
        "from workers.run import load_pipeline\n"
        "assert gc.get_freeze_count() == 0\n"
        "settings = Settings.from_env({}, multilingual_model='none', toxicity_model=sys.argv[1])\n"
        "load_pipeline(settings.with_(torch_threads=1))\n"
        "print(gc.get_freeze_count(), torch.get_num_threads())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "tiny")],
        cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    frozen, threads = map(int, done.stdout.splitlines()[-1].split())
    assert frozen > 10_000 and threads == 1
