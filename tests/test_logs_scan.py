"""No log line of the whole suite carries an email address, an IP address, a name or a comment body.

The suite's in-process logs go to one file (see ``suite_log`` in conftest); workers and `commentmod up`
run by tests write theirs under the same temporary folder. This test runs last and reads them all.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}")
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
ALLOWED_IPS = {"127.0.0.1", "0.0.0.0"}
# The curl example printed by `commentmod up` (a documentation address, not anyone's data).
ALLOWED_EMAILS = {"you@example.com"}
# Names and bodies the tests send (distinctive enough not to occur by chance).
SENT_TEXTS = [
    "Ada Lovelace",
    "A thoughtful article, thank you.",
    "You are all idiots.",
    "worthless idiot",
    "Thanks for the clear explanation",
    "Buy cheap viagra",
    "POISON-PILL",
    "203.0.113.",
]


def _log_files(base: Path) -> list[Path]:
    return [p for p in base.rglob("*") if p.is_file() and (p.suffix in {".log", ".jsonl"})]


def test_logs_scan_finds_no_personal_data(tmp_path_factory: pytest.TempPathFactory, suite_log: Path) -> None:
    base = tmp_path_factory.getbasetemp()
    files = _log_files(base)
    total = sum(p.stat().st_size for p in files)
    if total == 0:
        pytest.skip("no logs were written (run with the rest of the suite)")
    problems: list[str] = []
    for path in files:
        if path.parent.name == "redis" or path.name == "redis.log":
            continue  # redis-server's own log: it never sees personal data in clear either way
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += [f"{path.name}: email {m}" for m in set(EMAIL.findall(text)) - ALLOWED_EMAILS]
        problems += [f"{path.name}: ip {m}" for m in set(IPV4.findall(text)) if m not in ALLOWED_IPS]
        problems += [f"{path.name}: text {t!r}" for t in SENT_TEXTS if t in text]
    assert not problems, problems[:20]
