"""The worker's baseline: ``ToxicityScorer.score`` alone on the worker's texts, in its batch size (warm),
measured two ways on the same machine: in the bench process with torch's default threads, and split
over as many single-threaded processes as the worker run uses, started together. The faster of the two
is what the hardware gives the raw model, so the worker is held to that.

Run as a child (``python -m benchkit.raw TEXTS_JSON PART PARTS BATCH``): it loads the model, prints
``ready``, then scores its share of the texts each time it reads a line and prints
``{"seconds": .., "cpu": .., "n": ..}``; it exits at end of input.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchkit.procs import ROOT, Procs, python_cmd


class RawModel:
    """The model in this process, with the threads torch picks (or COMMENTMOD_TORCH_THREADS)."""

    def __init__(self, env: dict[str, str], batch_size: int) -> None:
        from service.core.settings import Settings
        from workers.scoring.toxicity import ToxicityScorer

        self.scorer = ToxicityScorer.from_settings(Settings.from_env(env))
        self.batch_size = batch_size

    def measure(self, texts: list[str]) -> tuple[float, float]:
        """(comments per second, CPU seconds per comment of this process: all its threads)."""
        self.scorer.score(texts[:8])  # warm-up
        seconds, cpu = self.timed(texts)
        return len(texts) / seconds, cpu / len(texts)

    def timed(self, texts: list[str]) -> tuple[float, float]:
        """(wall seconds, CPU seconds of this process) to score ``texts`` in batches."""
        started, cpu = time.perf_counter(), time.process_time()
        for i in range(0, len(texts), self.batch_size):
            self.scorer.score(texts[i : i + self.batch_size])
        return time.perf_counter() - started, time.process_time() - cpu

    def describe(self) -> dict[str, Any]:
        import torch

        return {
            "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "model": f"{self.scorer.name}@{self.scorer.version}",
        }


class RawPool:
    """``parts`` child processes with ``threads`` torch threads each, each scoring texts[part::parts]."""

    def __init__(
        self, procs: Procs, env: dict[str, str], texts: list[str], parts: int, batch_size: int, threads: int
    ) -> None:
        path = procs.log_dir / "raw-texts.json"
        path.write_text(json.dumps(texts), encoding="utf-8")
        env = {**env, "COMMENTMOD_TORCH_THREADS": str(threads)}
        self.children = []
        for part in range(parts):
            args = python_cmd("-m", "benchkit.raw", str(path), str(part), str(parts), str(batch_size))
            child = subprocess.Popen(
                args, env=env, cwd=ROOT / "scripts", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=(procs.log_dir / f"raw-{part}.log").open("wb"), text=True, start_new_session=True,
            )  # fmt: skip
            procs.live.append((f"raw-{part}", child))  # type: ignore[arg-type]
            self.children.append(child)
        for child in self.children:
            if _read(child) != "ready":
                raise RuntimeError(f"a raw-model process did not start:\n{procs.log_tail('raw-0')}")

    def measure(self, total: int) -> tuple[float, float]:
        """All parts at once: (comments per second over the slowest part, CPU seconds per comment)."""
        for child in self.children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = [json.loads(_read(child)) for child in self.children]
        return total / max(r["seconds"] for r in results), sum(r["cpu"] for r in results) / total

    def close(self, procs: Procs) -> None:
        for child in self.children:
            procs.stop(child)  # type: ignore[arg-type]


def _read(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    return child.stdout.readline().strip()


def _child(texts_json: Path, part: int, parts: int, batch_size: int) -> None:
    import os

    texts = json.loads(texts_json.read_text(encoding="utf-8"))[part::parts]
    model = RawModel(dict(os.environ), batch_size)
    model.scorer.score(texts[:8])
    print("ready", flush=True)
    for _ in sys.stdin:
        seconds, cpu = model.timed(texts)
        print(json.dumps({"seconds": seconds, "cpu": cpu, "n": len(texts)}), flush=True)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    _child(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
