"""Legal routing on the road network: an edge-based graph where one-ways are respected and a U-turn
is allowed only where the road ends (a dead end, or the edge of the extract).

The graph's vertices are the network's directed edges; a transition ``e → f`` exists when ``f``
leaves the node ``e`` arrives at, and ``f`` is not ``e`` driven back unless ``e``'s end node has
no other way out. The cost of a transition is the time to drive ``f`` at a fraction of its speed
limit plus a turn penalty growing with the turn angle. Shortest paths come from SciPy's Dijkstra
on that sparse graph.

    >>> g = LegalGraph(net)
    >>> cost, pred = g.from_edges([e0, e1])
    >>> g.path(pred, 0, e0, e9)   # [e0, ..., e9]
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix  # type: ignore[import-untyped,unused-ignore]
from scipy.sparse.csgraph import connected_components, dijkstra  # type: ignore[import-untyped,unused-ignore]

from ingest.roadnet import RoadNetwork
from simulators.geo import FloatArray

IntArray = npt.NDArray[np.int64]
CRUISE_FRACTION = 0.85
UTURN_PENALTY_S = 20.0


def edge_speed_ms(net: RoadNetwork) -> FloatArray:
    return np.maximum(net.edge_maxspeed.astype(np.float64) / 3.6, 2.0)


def edge_time_s(net: RoadNetwork) -> FloatArray:
    return np.asarray(net.edge_length / (CRUISE_FRACTION * edge_speed_ms(net)), dtype=np.float64)


def _end_headings(net: RoadNetwork) -> tuple[FloatArray, FloatArray]:
    off = net.edge_geom_offsets
    g = net.geom_xy
    d0 = g[off[:-1] + 1] - g[off[:-1]]
    d1 = g[off[1:] - 1] - g[off[1:] - 2]
    return np.arctan2(d0[:, 0], d0[:, 1]), np.arctan2(d1[:, 0], d1[:, 1])


def allowed_transitions(net: RoadNetwork) -> tuple[IntArray, IntArray]:
    """All legal ``(e, f)`` pairs."""
    node = net.edge_to
    outdeg = np.diff(net.out_offsets)
    counts = outdeg[node]
    e = np.repeat(np.arange(net.n_edges, dtype=np.int64), counts)
    starts = np.repeat(net.out_offsets[node], counts)
    within = np.arange(len(e)) - np.repeat(np.cumsum(counts) - counts, counts)
    f = net.out_edges[starts + within].astype(np.int64)
    is_back = f == net.reverse_edge[e]
    dead_end = outdeg[node] == (net.reverse_edge >= 0).astype(np.int64)  # the only way out is back
    keep = ~is_back | dead_end[e]
    return e[keep], f[keep]


class LegalGraph:
    def __init__(self, net: RoadNetwork) -> None:
        self.net = net
        self.time = edge_time_s(net)
        e, f = allowed_transitions(net)
        h_start, h_end = _end_headings(net)
        turn = np.abs((h_start[f] - h_end[e] + np.pi) % (2 * np.pi) - np.pi)
        penalty = 1.0 + 8.0 * turn / np.pi + np.where(f == net.reverse_edge[e], UTURN_PENALTY_S, 0.0)
        self.trans_e, self.trans_f = e, f
        n = net.n_edges
        self.graph = csr_matrix((self.time[f] + penalty, (e, f)), shape=(n, n))
        _, labels = connected_components(self.graph, directed=True, connection="strong")
        self.component = np.asarray(labels, dtype=np.int64)
        self.main_component = int(np.bincount(labels).argmax())

    def in_main_component(self) -> npt.NDArray[np.bool_]:
        return np.asarray(self.component == self.main_component)

    def from_edges(self, sources: npt.ArrayLike) -> tuple[FloatArray, IntArray]:
        """Travel cost (s) from the end of each source edge to the end of every edge, predecessors."""
        dist, pred = dijkstra(self.graph, indices=np.asarray(sources, np.int64), return_predecessors=True)
        return np.asarray(dist, dtype=np.float64), np.asarray(pred, dtype=np.int64)

    @staticmethod
    def path(pred: IntArray, row: int, source: int, target: int) -> list[int]:
        """Edges from ``source`` to ``target`` inclusive, following the predecessor row."""
        out = [target]
        cur = target
        while cur != source:
            cur = int(pred[row, cur])
            if cur < 0:
                raise ValueError(f"edge {target} is not reachable from {source}")
            out.append(cur)
        out.reverse()
        return out


def violations(net: RoadNetwork, edges: list[int]) -> list[str]:
    """Why a sequence of edges is not a legal drive (empty when it is)."""
    e_ok, f_ok = allowed_transitions(net)
    legal = set(zip(e_ok.tolist(), f_ok.tolist(), strict=True))
    out = []
    for a, b in itertools.pairwise(edges):
        if a == b:
            continue
        if int(net.edge_to[a]) != int(net.edge_from[b]):
            out.append(f"{a}->{b}: not connected")
        elif (a, b) not in legal:
            out.append(f"{a}->{b}: U-turn outside a dead end")
    return out
