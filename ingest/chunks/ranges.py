"""Sequence-range arithmetic for de-duplication: which seqs of a chunk have not arrived yet.

Ranges are inclusive ``(first, last)`` pairs.

    >>> missing_runs(10, 20, [(5, 12), (15, 16)])
    [(13, 14), (17, 20)]
"""

from __future__ import annotations

from collections.abc import Iterable


def missing_runs(first: int, last: int, covered: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """The maximal runs of ``first..last`` that no range in ``covered`` contains."""
    runs: list[tuple[int, int]] = []
    cursor = first
    for lo, hi in sorted(covered):
        if hi < cursor:
            continue
        if lo > last:
            break
        if lo > cursor:
            runs.append((cursor, lo - 1))
        cursor = max(cursor, hi + 1)
        if cursor > last:
            break
    if cursor <= last:
        runs.append((cursor, last))
    return runs


def count(runs: Iterable[tuple[int, int]]) -> int:
    return sum(hi - lo + 1 for lo, hi in runs)
