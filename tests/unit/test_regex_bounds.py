"""Every regular expression the service runs (``re.compile`` in service/ and workers/scoring/) does work
linear in the length of an adversarial string: no catastrophic backtracking on user input.

The patterns are found in the source with ``ast`` (so a new one is covered without editing this file)
and compiled exactly as written. Each is run with the methods the code calls on it (``fullmatch``,
``sub``, ``findall``...) over a family of adversarial inputs at 10,000 and at 50,000 characters. No
wall-clock bound: the assertion is on how the work grows (``tests.kits.linear``: this thread's CPU
time at 50k over the same at 10k, best of several), 5x for a linear pattern and 25x for a quadratic
one, bounded at 12x, on a busy machine as on an idle one. Past the bound, an operation whose work on
50k characters is within a few copies of them (``sub`` of a pattern anchored at ``^`` does little else
than build its result) still passes: its ratio then measures the allocator, not the pattern. How fast
the patterns are is ``make bench``'s business, not this test's.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.kits.faultkit import Report
from tests.kits.linear import LARGE, SMALL, cpu_ns, grows_linearly

ROOT = Path(__file__).resolve().parents[2]
SCANNED = [ROOT / "service", ROOT / "workers" / "scoring"]
SCREEN = 5_000
SHORTLIST = 4

# Repeated units that push the common shapes of backtracking (nested repeats, alternations that share
# prefixes, optional separators, lookarounds) into their worst case, plus a final character that
# makes the overall match fail late.
UNITS = [
    "a", "A", "1", "0", " ", "\t", ".", "-", "_", "@", "$!", "|", "€", "·", "•", "/",
    "a ", "a.", "a-", "a. ", "a.a", "a_", "ab", "aab", "aa1 ", "1a", "a1", "ab1", "x1 ",
    "i d ", "i.d.", "s t u ", "st.", "id*", "www.", "a-a.", "http://a.", "a.b.", "a" * 63 + ".",
    "&#", "&#0", "&#x", "&#x0", "&#1", "<", "<a", "< >", "<" + "a" * 299,
    "wait=", "wait=1.", ",wait=1", "wait=999.999", "9", "99:", "0:", "f0", "-a.",
    "\u0301", "a\u0301", "\u200b", "\u0455", "ѕ1", "check out my ", "earn $", "free ", "cheap ",
]  # fmt: skip
ENDINGS = ["", "!", "\x00", "a", " b"]


METHODS = ("search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split")


def _compile_calls() -> list[tuple[str, str, re.Pattern[str], tuple[str, ...]]]:
    """(file:line, pattern source, compiled, methods the code calls on it) for every ``re.compile(...)``
    in the scanned folders. Methods are found by name (``_NAME.fullmatch(...)`` anywhere scanned); a
    pattern whose use is not found gets every method."""
    trees = {
        path: ast.parse(path.read_text(encoding="utf-8")) for f in SCANNED for path in sorted(f.rglob("*.py"))
    }
    used: dict[str, set[str]] = {}
    for tree in trees.values():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in METHODS and isinstance(node.value, ast.Name):
                used.setdefault(node.value.id, set()).add(node.attr)
    found = []
    for path, tree in trees.items():
        names: dict[int, str] = {}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                names[id(node.value)] = node.targets[0].id
        for node in ast.walk(tree):
            if not (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "compile"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "re"
            ):
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            name = names.get(id(node), "")
            compiled = _compiled(path, node, name)
            methods = used.get(name, set()) or set(METHODS)
            found.append((where, compiled.pattern, compiled, tuple(sorted(methods))))
    return found


def _compiled(path: Path, node: ast.Call, name: str) -> re.Pattern[str]:
    """The pattern as the service compiles it: from the literal, else from the imported module."""
    try:
        source = ast.literal_eval(node.args[0])
        flags = 0
        for arg in node.args[1:] + [k.value for k in node.keywords if k.arg == "flags"]:
            for flag in ast.unparse(arg).split("|"):
                flags |= int(getattr(re, flag.strip().removeprefix("re.")))
        return re.compile(source, flags)
    except ValueError:  # built from other constants: take the module's own compiled object
        module = importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
        value = getattr(module, name, None)
        assert isinstance(value, re.Pattern), f"{path}:{node.lineno}: cannot find the compiled pattern"
        return value


PATTERNS = _compile_calls()


def _params() -> list[object]:
    out = []
    for where, source, pattern, methods in PATTERNS:
        out.append(pytest.param(where, source, pattern, methods, id=where))
    return out


def _inputs(pattern: re.Pattern[str], length: int) -> list[str]:
    # Also the pattern's own literal text repeated (e.g. "wait=", "cheap"), which lines up its prefixes.
    literal = re.sub(r"[\\^$.|?*+()\[\]{}]", "", pattern.pattern)[:12] or "a"
    out = []
    for unit in [*UNITS, literal]:
        for end in ENDINGS:
            body = unit * (length // len(unit) + 1)
            out.append(body[: length - len(end)] + end)
    return out


def _operation(pattern: re.Pattern[str], method: str) -> Callable[[str], object]:
    if method == "finditer":
        return lambda s: sum(1 for _ in pattern.finditer(s))
    if method in ("sub", "subn"):
        return lambda s: getattr(pattern, method)(" ", s)
    return getattr(pattern, method)  # type: ignore[no-any-return]


def test_every_pattern_was_found() -> None:
    assert len(PATTERNS) >= 15, [w for w, _, _, _ in PATTERNS]


@pytest.mark.parametrize("where,source,pattern,methods", _params())
def test_pattern_work_grows_linearly_on_adversarial_input(
    where: str, source: str, pattern: re.Pattern[str], methods: tuple[str, ...], figures: Report
) -> None:
    """Screen every input at 5,000 characters (a super-linear pattern costs most there too), then
    compare the slowest few per method at 10,000 and at 50,000 characters: the work may grow 5x
    (linear), never near 25x (quadratic) unless it stays within a few copies of the input."""
    worst = (0.0, "", "")
    not_linear = []
    for method in methods:
        run = _operation(pattern, method)
        short = _inputs(pattern, SCREEN)
        screen_cost = [cpu_ns(run, text) for text in short]
        screened = sorted(range(len(short)), key=lambda i: -screen_cost[i])
        small, large = _inputs(pattern, SMALL), _inputs(pattern, LARGE)
        for i in [0, *screened[:SHORTLIST]]:
            assert len(small[i]) == SMALL and len(large[i]) == LARGE
            linear, ratio, judged = grows_linearly(run, small[i], large[i])
            shown = repr(large[i][:12]) + f"...{large[i][-1]!r}"
            if not linear:
                not_linear.append(f"{method} on {shown}: {judged}")
            if ratio > worst[0]:
                worst = (ratio, method, shown)
    name = "regex_" + re.sub(r"\W+", "_", where)
    figures(
        name,
        pattern=ascii(source[:60]),
        methods="/".join(methods),
        growth_10k_to_50k=round(worst[0], 2),
        op=worst[1],
        input=worst[2],
    )
    assert not_linear == [], f"{where}: {not_linear}"
