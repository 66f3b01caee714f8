"""Candidate search: the nearest directed edges around each fix, as fixed-width (P, K) arrays.

Missing slots hold ``edge = -1`` and ``distance = inf``; candidates are sorted nearest first.

A fix whose nearest point on several edges is the junction they meet at would get one candidate
per edge in and out of it, all at the same point (two thirds of the candidates in Helsinki's
dense centre). Leaving the junction by an edge ``c`` (``(c, 0)``) is the same position as having
arrived by an edge ``b`` into it (``(b, len(b))``), and every route on from there is the same:
from ``(b, len(b))`` the route into ``c`` is the step onto the next edge. So the ``(c, 0)``
candidates are dropped when the fix has an arrival candidate at that junction; the arrivals are
kept because they say by which edge the van came (a U-turn, a one-way). The HMM then scores a
half as many candidate pairs, with the same choices open to it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.roadnet import RoadNetwork
from ingest.roadnet.spatial_index import NearEdges

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Candidates:
    """Per fix, up to K candidate positions on the network."""

    edge: Int  # (P, K), -1 where empty
    offset: Float  # (P, K) metres along the edge
    distance: Float  # (P, K) metres from the fix, inf where empty
    xy: Float  # (P, K, 2) the candidate point

    @property
    def count(self) -> Int:
        """Number of candidates of each fix."""
        out: Int = (self.edge >= 0).sum(axis=1)
        return out

    def take(self, rows: Int) -> Candidates:
        return Candidates(self.edge[rows], self.offset[rows], self.distance[rows], self.xy[rows])


#: Metres from an edge end within which a candidate counts as at the junction.
_AT_NODE = 1e-3


def _without_departures(net: RoadNetwork, near: NearEdges) -> NearEdges:
    """``near`` without the departures ``(c, 0)`` from junctions the fix has an arrival
    ``(b, len(b))`` candidate at (rows stay in order)."""
    length = net.edge_length[near.edge]
    at_start = near.offset <= _AT_NODE
    at_end = near.offset >= length - _AT_NODE
    departure = at_start & ~at_end
    arrival = at_end & ~at_start
    if not departure.any() or not arrival.any():
        return near
    n = max(net.n_nodes, 1)
    arrivals = np.sort(near.point[arrival] * n + net.edge_to[near.edge[arrival]])
    rows = np.flatnonzero(departure)
    key = near.point[rows] * n + net.edge_from[near.edge[rows]]
    # A sorted lookup: np.isin took twice as long on these few thousand keys.
    redundant = arrivals[np.minimum(np.searchsorted(arrivals, key), len(arrivals) - 1)] == key
    keep = np.ones(len(near.edge), dtype=np.bool_)
    keep[rows[redundant]] = False
    return NearEdges(
        point=near.point[keep],
        edge=near.edge[keep],
        distance=near.distance[keep],
        offset=near.offset[keep],
        snapped=near.snapped[keep],
    )


def find_candidates(
    net: RoadNetwork, xy: Float, radius: float, k: int, *, margin: float = np.inf, chunk: int = 1024
) -> Candidates:
    """The ``k`` nearest directed edges within ``radius`` of each fix of ``xy`` (P, 2), and within
    ``margin`` metres of the nearest one."""
    n = len(xy)
    edge = np.full((n, k), -1, dtype=np.int64)
    offset = np.zeros((n, k))
    distance = np.full((n, k), np.inf)
    cxy = np.full((n, k, 2), np.nan)
    for lo in range(0, n, chunk):
        near = _without_departures(net, net.edges_near(xy[lo : lo + chunk], radius))
        # Both directions of a street are kept or dropped together: order by point, distance,
        # street, and fill the slots street by street.
        # Rows come sorted by point, distance, street, edge.
        rev = net.reverse_edge[near.edge]
        street = np.where(rev >= 0, np.minimum(near.edge, rev), near.edge)
        order = np.arange(len(near.edge))
        point = near.point
        first = np.searchsorted(point, point, side="left")
        rank = np.arange(len(point)) - first
        street_end = np.ones(len(point), dtype=np.bool_)
        # A winding street passes the fix several times (one row pair per pass, at its own
        # distance): each pass is a pair of its own, or a hairpin's passes would fill the slots
        # as one overflowing "street" and leave the fix without candidates.
        dist = near.distance[order]
        street_end[:-1] = (
            (street[order][1:] != street[order][:-1]) | (point[1:] != point[:-1]) | (dist[1:] != dist[:-1])
        )
        # A street whose second direction would overflow the slots is dropped entirely.
        ends = np.flatnonzero(street_end)
        starts = np.concatenate([[0], ends[:-1] + 1]) if len(ends) else ends
        last_rank = np.repeat(rank[ends], ends - starts + 1)
        nearest = near.distance[order][first]
        keep = (last_rank < k) & (near.distance[order] <= nearest + margin)
        sel = order[keep]
        row = point[keep] + lo
        slot = rank[keep]
        edge[row, slot] = near.edge[sel]
        offset[row, slot] = near.offset[sel]
        distance[row, slot] = near.distance[sel]
        cxy[row, slot] = near.snapped[sel]
    # Trim the slot columns no fix uses.
    used = int((edge >= 0).sum(axis=1).max(initial=1))
    return Candidates(
        edge=edge[:, :used], offset=offset[:, :used], distance=distance[:, :used], xy=cxy[:, :used]
    )
