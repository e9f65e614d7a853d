"""What a process configured by ``configure_logging`` writes: JSON lines, nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.procs

ROOT = Path(__file__).resolve().parents[2]


def test_python_warnings_become_json_log_lines() -> None:
    """A library's ``warnings.warn`` would otherwise print two bare lines on stderr, which a log
    collector reading JSON lines cannot parse."""
    code = (
        "import warnings\n"
        "from service.core.logs import configure_logging\n"
        "configure_logging('json', 'info')\n"
        "warnings.warn('an old API', DeprecationWarning)\n"
    )
    done = subprocess.run(
        [sys.executable, "-W", "always", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    (line,) = done.stdout.splitlines()
    event = json.loads(line)
    assert event["logger"] == "py.warnings"
    assert event["level"] == "warning"
    assert "an old API" in event["event"]
