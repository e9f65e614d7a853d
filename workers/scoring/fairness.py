"""Fair rounds within one batch: a site (or an author) sending long comments cannot hold the others back.

A batch read from the intake stream is in arrival order. Scored and decided as one, every comment in it
waits for the slowest: twenty 10,000-character bodies from one site held an ordinary comment of another
site for minutes (issue 17). The worker therefore decides a batch in rounds (``fair_rounds``), each
stored before the next is scored, ordered by weighted fair queueing with equal weights: each comment's
"finish time" is the estimated cost of its site's comments up to and including it (within a site, the
same by author), and rounds are cut at ``ROUND_COST``. A site's first comments go in the first round
whatever another site sent before them. A batch without a long comment (none over ``LONG_COST``) stays
one round in arrival order, as before: ordinary traffic pays nothing for this.

Costs are estimates of CPU time from the body's length (``comment_cost``), in units of a short comment
scored in a batch (~2 ms of one core): the model's cost grows with the tokens, and a long comment is
usually also held and explained. Measured (``make bench``, ``cost_max_vs_typical``): a 10,000-character
body of insults and random words costs ~250 ms to score and explain, ~100 units; a round of
``ROUND_COST`` holds ~2-3 of them (~0.6 s of one core) or ~100 ordinary comments.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

COST_CHARS = 100  # characters per unit of estimated cost beyond the first
MAX_COST = 101  # a 10,000-character body: at most 4 model windows, and an explanation if held
ROUND_COST = 256  # estimated cost per round: ~2-3 maximum-length comments, or ~100 ordinary ones
LONG_COST = 21  # over 2,000 characters: a batch holding such a comment is decided in fair rounds


def comment_cost(body: str) -> int:
    """Estimated model work of scoring (and explaining) one comment, in typical comments."""
    return min(MAX_COST, 1 + len(body) // COST_CHARS)


def _finish_times(items: Sequence[T], group: Callable[[T], str], cost: Callable[[T], int]) -> list[int]:
    spent: dict[str, int] = {}
    out = []
    for item in items:
        key = group(item)
        spent[key] = spent.get(key, 0) + cost(item)
        out.append(spent[key])
    return out


def fair_order(
    items: Sequence[T], site: Callable[[T], str], author: Callable[[T], str], cost: Callable[[T], int]
) -> list[T]:
    """``items`` in fair order: by author within each site, then by site (ties: arrival order)."""
    by_author = _finish_times(items, lambda i: f"{site(i)}\0{author(i)}", cost)
    within = [items[k] for k in sorted(range(len(items)), key=lambda k: (by_author[k], k))]
    by_site = _finish_times(within, site, cost)
    return [within[k] for k in sorted(range(len(within)), key=lambda k: (by_site[k], k))]


def fair_rounds(
    items: Sequence[T],
    site: Callable[[T], str],
    author: Callable[[T], str],
    cost: Callable[[T], int],
    budget: int = ROUND_COST,
) -> list[list[T]]:
    """``fair_order`` cut into rounds of at most ``budget`` estimated cost (at least one item each); a
    batch without a long comment is one round in arrival order."""
    if all(cost(item) <= LONG_COST for item in items):
        return [list(items)] if items else []
    rounds: list[list[T]] = []
    current: list[T] = []
    spent = 0
    for item in fair_order(items, site, author, cost):
        if current and spent + cost(item) > budget:
            rounds.append(current)
            current, spent = [], 0
        current.append(item)
        spent += cost(item)
    if current:
        rounds.append(current)
    return rounds
