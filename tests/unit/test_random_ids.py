"""Request and comment ids take their random part from a pooled ``os.urandom``: never repeated, also
not by a forked child (it would otherwise hand out the parent's remaining pool)."""

from __future__ import annotations

import os
import re

import pytest

from service.core.models import ID_LENGTH, RandomHex, is_comment_id, new_comment_id


def test_pooled_random_hex_never_repeats_across_refills() -> None:
    ids = RandomHex()
    taken = [ids.take16() for _ in range(3 * 512 + 7)]  # three refills and a bit
    assert len(set(taken)) == len(taken)
    assert all(re.fullmatch(r"[0-9a-f]{16}", t) for t in taken)
    comment_id = new_comment_id(1.5, ids.take16())
    assert len(comment_id) == ID_LENGTH and is_comment_id(comment_id)


@pytest.mark.procs
def test_a_forked_child_does_not_reuse_the_parents_pool() -> None:
    ids = RandomHex()
    ids.take16()  # the pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id, then leave at once
        os.write(write, ids.take16().encode())
        os._exit(0)
    os.close(write)
    child = os.read(read, 64).decode()
    os.waitpid(pid, 0)
    os.close(read)
    assert re.fullmatch(r"[0-9a-f]{16}", child)
    assert child != ids.take16()
