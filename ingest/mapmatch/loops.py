"""The shortest way back: for each directed edge, the shortest route from its end node back to
that node that does not start by turning straight round.

A van that drives edge ``a`` and later comes back along its opposite direction ``rev(a)`` either
turned round at the junction ending ``a`` (a U-turn, priced) or drove a loop from that junction
back to it: into a dead-end stub and out again, or round a block. The route table cannot say which
— its route from a node to itself is empty — so the loop is computed here once per network:

``loop_length[a] = min over edges c leaving to(a), c ≠ rev(a), of len(c) + route(to(c) → to(a))``

where a route back that is just ``rev(c)`` counts as a U-turn at ``to(c)`` (``uturn_cost`` on
top) unless ``to(c)`` is a dead end. ``loop_first[a]`` is that ``c`` (-1 when there is no loop
within the table's ``delta``); the rest of the loop is ``route(to(c) → to(a))``.

    >>> length, first = shortest_loops(net, table, uturn_cost=50.0)   # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ingest.mapmatch.route_table import RouteTable
from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


def shortest_loops(net: RoadNetwork, table: RouteTable, uturn_cost: float) -> tuple[Float, Int]:
    """Per directed edge: (loop metres incl. U-turn prices, first edge of the loop), inf / -1 if none."""
    n_edges = net.n_edges
    out_degree = np.diff(net.out_offsets)
    # Cost of leaving node v = from(c) by c and coming back to v, for every edge c.
    c = np.arange(n_edges)
    v = net.edge_from
    w = net.edge_to
    back = np.zeros(n_edges)
    away = w != v
    back[away] = table.lookup(w[away], v[away])[0]
    straight_back = (net.reverse_edge >= 0) & np.isclose(
        back, net.edge_length[np.maximum(net.reverse_edge, 0)]
    )
    cost = net.edge_length + back + np.where(straight_back & (out_degree[w] > 1), uturn_cost, 0.0)
    cost = np.where(np.isfinite(back), cost, np.inf)
    # Per node, the cheapest and second cheapest such edge (an edge's own reverse is excluded).
    order = np.lexsort((cost, v))
    sv = v[order]
    first_of_node = np.searchsorted(sv, np.arange(net.n_nodes), side="left")
    count = np.diff(np.append(first_of_node, len(sv)))
    best_edge = np.full(net.n_nodes, -1, dtype=np.int64)
    second_edge = np.full(net.n_nodes, -1, dtype=np.int64)
    has1 = count >= 1
    has2 = count >= 2
    best_edge[has1] = c[order][first_of_node[has1]]
    second_edge[has2] = c[order][first_of_node[has2] + 1]
    # For edge a arriving at node to(a): the best loop edge unless it is rev(a), then the second.
    node = net.edge_to
    pick = best_edge[node]
    pick = np.where((pick == net.reverse_edge) & (pick >= 0), second_edge[node], pick)
    length = np.where(pick >= 0, cost[np.maximum(pick, 0)], np.inf)
    pick = np.where(np.isfinite(length), pick, -1)
    return length, pick.astype(np.int64)
