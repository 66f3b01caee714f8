"""Range arithmetic behind de-duplication, table-driven."""

from __future__ import annotations

import pytest

from ingest.chunks.ranges import count, missing_runs

CASES = [
    ((1, 5), [], [(1, 5)]),
    ((1, 5), [(1, 5)], []),
    ((1, 5), [(0, 9)], []),
    ((1, 5), [(2, 3)], [(1, 1), (4, 5)]),
    ((10, 20), [(5, 12), (15, 16)], [(13, 14), (17, 20)]),
    ((10, 20), [(15, 16), (5, 12)], [(13, 14), (17, 20)]),  # unsorted input
    ((3, 5), [(1, 1), (7, 9)], [(3, 5)]),
    ((3, 5), [(1, 3)], [(4, 5)]),
    ((3, 5), [(5, 8)], [(3, 4)]),
    ((0, 0), [(0, 0)], []),
    ((7, 7), [(1, 6), (8, 9)], [(7, 7)]),
]


@pytest.mark.parametrize(("chunk", "covered", "expected"), CASES)
def test_missing_runs(
    chunk: tuple[int, int], covered: list[tuple[int, int]], expected: list[tuple[int, int]]
) -> None:
    assert missing_runs(*chunk, covered) == expected
    assert (
        count(expected) + sum(max(0, min(hi, chunk[1]) - max(lo, chunk[0]) + 1) for lo, hi in _merge(covered))
        == chunk[1] - chunk[0] + 1
    )


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out
