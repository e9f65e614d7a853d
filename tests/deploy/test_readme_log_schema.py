"""The README's log schema names every event the service and workers log."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CALL = re.compile(r"\.(?:debug|info|warning|error|exception)\(\s*\"([a-z][a-z_]+)\"")


def _logged_events() -> set[str]:
    events: set[str] = set()
    for folder in ("service", "workers"):
        for path in (ROOT / folder).rglob("*.py"):
            events.update(CALL.findall(path.read_text(encoding="utf-8")))
    return events


def test_every_logged_event_is_in_the_readme_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    schema = readme[readme.index("| event | level | process | fields |") :]
    documented = set(re.findall(r"`([a-z][a-z_]+)`", schema.split("\n\n", 1)[0]))
    events = _logged_events()
    assert len(events) > 20  # the scan finds the calls
    assert sorted(events - documented) == []
