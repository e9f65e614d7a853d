"""Linear-time checks without a wall-clock bound: how the work grows when the input grows.

``growth(run, small, large)`` is the ratio of the CPU time ``run`` spends on ``large`` to the time it
spends on ``small``. Each sample is this thread's CPU time (``time.thread_time_ns``: a busy machine
pauses the thread but does not add to it), repeated enough times that a sample is well above the
clock's resolution, the two sizes measured alternately, best of several. Nothing is compared with a
number of seconds: a test asserts the ratio, which for a linear ``run`` is the ratio of the sizes
(5 for 10,000 -> 50,000 characters) and for a quadratic one its square (25), on any machine.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

# Sizes 10k and 50k: linear work grows 5x, quadratic 25x. The bound sits between, far from both.
SMALL = 10_000
LARGE = 50_000
LINEAR_BOUND = 12.0

# Work within this many copies of the input is linear whatever the ratio says: an operation that does
# next to nothing on 50k characters but build its result (``sub`` of a pattern anchored at ``^``) is
# then timing the allocator (page faults when a 50 kB string crosses the heap's trim threshold), not
# the pattern. A quadratic pattern on 50k characters costs thousands of copies.
FEW_COPIES = 50.0

# A sample is repeated until it spans at least this much CPU time, so that the ratio is not made of
# clock ticks (a measurement resolution, not a bound: nothing is asserted about it).
_SAMPLE_NS = 1_000_000
_MAX_TIMES = 1 << 14


def cpu_ns(run: Callable[[Any], object], arg: Any, times: int = 1) -> int:
    """This thread's CPU time for ``times`` calls of ``run(arg)``."""
    started = time.thread_time_ns()
    for _ in range(times):
        run(arg)
    return time.thread_time_ns() - started


def growth(run: Callable[[Any], object], small: Any, large: Any, repeats: int = 3) -> float:
    """CPU time on ``large`` over CPU time on ``small``: best of ``repeats``, the sizes alternating."""
    times = 1
    while times < _MAX_TIMES and cpu_ns(run, small, times) < _SAMPLE_NS:
        times *= 4
    samples = [(cpu_ns(run, small, times), cpu_ns(run, large, times)) for _ in range(repeats)]
    return min(large for _, large in samples) / max(min(small for small, _ in samples), 1)


def copies(run: Callable[[Any], object], text: str, repeats: int = 3) -> float:
    """The CPU time of ``run(text)`` in units of one copy of ``text`` (``str.upper``: one pass that builds
    a string as long), both measured the same way, best of ``repeats``."""
    times = 1
    while times < _MAX_TIMES and cpu_ns(str.upper, text, times) < _SAMPLE_NS:
        times *= 4
    samples = [(cpu_ns(run, text, times), cpu_ns(str.upper, text, times)) for _ in range(repeats)]
    return min(work for work, _ in samples) / max(min(copy for _, copy in samples), 1)


def grows_linearly(run: Callable[[Any], object], small: str, large: str) -> tuple[bool, float, str]:
    """(linear?, growth, how it was judged): the growth from ``small`` to ``large`` is under
    ``LINEAR_BOUND``, or else the work on ``large`` is within ``FEW_COPIES`` copies of it."""
    ratio = growth(run, small, large)
    if ratio < LINEAR_BOUND:
        return True, ratio, f"grew {ratio:.1f}x"
    few = copies(run, large)
    return few < FEW_COPIES, ratio, f"grew {ratio:.1f}x, costing {few:.1f} copies of the input"


async def acpu_ns(run: Callable[[Any], Awaitable[object]], arg: Any, times: int = 1) -> int:
    """``cpu_ns`` for a coroutine function: this thread's CPU time (the event loop's included, the time
    spent waiting on a server excluded) for ``times`` awaited calls."""
    started = time.thread_time_ns()
    for _ in range(times):
        await run(arg)
    return time.thread_time_ns() - started


async def agrowth(run: Callable[[Any], Awaitable[object]], small: Any, large: Any, repeats: int = 3) -> float:
    """``growth`` for a coroutine function."""
    times = 1
    while times < _MAX_TIMES and await acpu_ns(run, small, times) < _SAMPLE_NS:
        times *= 4
    samples = [(await acpu_ns(run, small, times), await acpu_ns(run, large, times)) for _ in range(repeats)]
    return min(large for _, large in samples) / max(min(small for small, _ in samples), 1)


def fifth(text: str, ending: int = 8) -> str:
    """The same adversarial string at a fifth of its length: its start and its last ``ending`` characters
    (where a match fails late) kept. For a string of 50,000 characters, the 10,000 of ``SMALL``."""
    return text[: len(text) // 5 - ending] + text[-ending:]
