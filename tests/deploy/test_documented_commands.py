"""Every ``commentmod`` subcommand the Dockerfile names exists (it named ``models list``, which did not)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from service.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
# `commentmod models fetch`, `docker run IMAGE models fetch NAME`, `IMAGE models list|fetch`
MENTION = re.compile(r"(?:`commentmod|docker run IMAGE) ([a-z][a-z-]*)(?: ([a-z][a-z|-]*))?")


def _choices(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(subs[0].choices) if subs else {}


def test_every_subcommand_named_in_the_dockerfile_exists() -> None:
    commands = _choices(build_parser())
    text = (REPO / "Dockerfile").read_text()
    mentions = [m.groups() for line in text.splitlines() for m in MENTION.finditer(line)]
    assert ("models", "fetch") in mentions
    for command, action in mentions:
        assert command in commands, f"Dockerfile names `commentmod {command}`, which does not exist"
        actions = _choices(commands[command])
        if actions and action:
            for name in action.split("|"):
                assert name in actions, f"Dockerfile names `commentmod {command} {name}`: no such command"
