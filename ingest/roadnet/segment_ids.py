"""Stable segment ids: a 63-bit hash of (OSM way id, from OSM node id, to OSM node id).

The same directed piece of the same way gets the same id on every load and in every extract that
contains it, so matched points and indicators stored in the database survive a network reload.
The two directions of a two-way street differ because the node pair is ordered.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

_MASK63 = np.uint64(0x7FFF_FFFF_FFFF_FFFF)


def _mix(h: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser: a bijection on 64-bit words with good avalanche."""
    h = h ^ (h >> np.uint64(30))
    h = h * np.uint64(0xBF58476D1CE4E5B9)
    h = h ^ (h >> np.uint64(27))
    h = h * np.uint64(0x94D049BB133111EB)
    return h ^ (h >> np.uint64(31))


def segment_ids(
    way: npt.NDArray[np.int64],
    from_node: npt.NDArray[np.int64],
    to_node: npt.NDArray[np.int64],
    occurrence: npt.NDArray[np.int64] | None = None,
) -> npt.NDArray[np.int64]:
    """Non-negative int64 ids for directed way pieces (arrays of equal length).

    ``occurrence`` tells apart pieces of one way between the same node pair in the same direction
    (a closed way through two junctions): 0 for the first along the way, 1 for the next, ...
    """
    h = _mix(np.atleast_1d(way).astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15))
    h = _mix(h ^ np.atleast_1d(from_node).astype(np.uint64))
    h = _mix(h ^ np.atleast_1d(to_node).astype(np.uint64))
    if occurrence is not None:
        again = np.atleast_1d(occurrence) > 0
        h = np.where(again, _mix(h ^ np.atleast_1d(occurrence).astype(np.uint64)), h)
    return (h & _MASK63).astype(np.int64)


def unique_segment_ids(
    way: npt.NDArray[np.int64],
    from_node: npt.NDArray[np.int64],
    to_node: npt.NDArray[np.int64],
    position: npt.NDArray[np.int64],
) -> npt.NDArray[np.int64]:
    """:func:`segment_ids`, numbering repeats of a (way, from, to) triple by ``position`` in the way."""
    first = segment_ids(way, from_node, to_node)
    order = np.lexsort((position, first))
    sorted_ids = first[order]
    group_start = np.ones(len(order), dtype=np.bool_)
    group_start[1:] = sorted_ids[1:] != sorted_ids[:-1]
    start_index = np.maximum.accumulate(np.where(group_start, np.arange(len(order)), 0))
    occurrence = np.empty(len(order), dtype=np.int64)
    occurrence[order] = np.arange(len(order)) - start_index
    return segment_ids(way, from_node, to_node, occurrence)
