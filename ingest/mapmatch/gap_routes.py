"""Routes across GNSS gaps longer than the route table's bound.

The route table (:mod:`.route_table`) holds the routes up to ``route_table_delta`` metres, plenty
for consecutive fixes of a moving van. A van that loses the sky for a minute or two (a tunnel, a
covered yard) may drive further than that and still reappear within ``breakage_distance`` of
where it was last seen: the table has no route for that step, and the trace would split.

Such a step is a *gap step*: the fix comes more than ``gap_seconds`` after the one before it, and
more than ``SAMPLING_GAP_FACTOR`` × the trace's sampling interval (a fix or more missing), the
trace is not broken there (within ``breakage_distance`` and ``max_gap_seconds``), and the longest
route the transition model accepts for it (:func:`.transition.longest_route`: ``max_speed × dt``
and ``max_detour_ratio`` × the straight step at full price, ``breakage_distance`` as a last resort)
is longer than the table's ``delta``. For each gap step, a Dijkstra from the end nodes of the
previous fix's candidates, bounded by that longest route (the same bound the model applies, so the
step is scored as if the table had no bound; only a loop round a block back onto the opposite
direction still comes from the table, :mod:`.loops`), reaches the start nodes of the next fix's
candidates. The routes found are kept in a small table of their own that the big one falls back to
(:meth:`.route_table.RouteTable.with_fallback`): scoring, the path assembly and the rebuilding of
routes edge by edge see one table, and the big one is never copied.

Only the entries on the routes to the wanted targets are kept (each route with its prefixes, so
it is rebuilt backwards from ``last_edge`` like any other), not the whole Dijkstra ball. Gaps are
rare (a few per round): steps that are not gap steps never come here. The sampling rule keeps it
so for sparse traces: every step of a trace sampled every 30 s is longer than ``gap_seconds``,
and routing each by Dijkstra cost 24 times the whole match on the 209k-edge synthetic grid with
a 1 km table (0.6 ms per step, mostly SciPy filling its dense per-source arrays). Regular steps
are the table's job: its ``delta`` should cover the route limit at the sampling interval (the
3 km default does up to about 60 s).

    >>> rows = gap_steps(restart, raw_dt, interval, gc, dt, params=p, delta=table.delta)  # doctest: +SKIP
    >>> extra = gap_routes(graph, origins, targets, longest_route(gc, dt, p)[rows])  # doctest: +SKIP
    >>> routes = table.with_fallback(extra)                                          # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ingest.mapmatch.params import MatchParams
from ingest.mapmatch.route_table import NodeGraph, RouteTable
from ingest.mapmatch.transition import longest_route

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


#: A time step is a gap only if it is also longer than this many sampling intervals of its trace.
SAMPLING_GAP_FACTOR = 2.0


def gap_steps(
    restart: Bool,
    raw_dt: Float,
    interval: Float,
    gc: Float,
    dt: Float,
    *,
    params: MatchParams,
    delta: float,
) -> Int:
    """Rows (decoded fixes) whose step from the previous decoded fix crosses a GNSS gap
    (``raw_dt``, the time since the fix before it, over ``gap_seconds`` and over
    ``SAMPLING_GAP_FACTOR`` × the trace's sampling ``interval``) without breaking the trace, and
    may take a route longer than the table's ``delta``. Arrays are per row; ``gc`` and ``dt``
    are the step from the previous decoded fix."""
    gap = (raw_dt > params.gap_seconds) & (raw_dt > SAMPLING_GAP_FACTOR * interval)
    out: Int = np.flatnonzero(~restart & gap & (longest_route(gc, dt, params) > delta))
    return out


def _route_entries(
    graph: NodeGraph, sources: Int, targets: Int, dist: Float, pred: npt.NDArray[np.int32]
) -> tuple[Int, Float, Int]:
    """Table entries (key, metres, last edge) of the routes from each source to each reached
    target and of every prefix of them, walked back along the predecessors all at once."""
    n = graph.n_nodes
    row = np.repeat(np.arange(len(sources)), len(targets))
    at = np.tile(targets, len(sources))
    reached = np.isfinite(dist[row, at]) & (sources[row] != at)
    row, at = row[reached], at[reached]
    keys: list[Int] = []
    metres: list[Float] = []
    lasts: list[Int] = []
    while len(at):
        via = pred[row, at].astype(np.int64)
        keys.append(sources[row] * n + at)
        metres.append(dist[row, at])
        lasts.append(graph.last_edge(via, at))
        on = via != sources[row]
        row, at = row[on], via[on]
    if not keys:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.int64)
    return np.concatenate(keys), np.concatenate(metres), np.concatenate(lasts)


def gap_routes(
    graph: NodeGraph, origins: Sequence[Int], targets: Sequence[Int], limits: Float
) -> RouteTable | None:
    """The routes of the gap steps as a fallback table (``None`` when there are none).

    Per gap step ``s``: every route from the nodes ``origins[s]`` to the nodes ``targets[s]`` of
    at most ``limits[s]`` metres (one bounded multi-source Dijkstra per step)."""
    if len(origins) != len(targets) or len(origins) != len(limits):
        raise ValueError("gap_routes needs one origin set, target set and limit per gap step")
    keys: list[Int] = []
    metres: list[Float] = []
    lasts: list[Int] = []
    for o, t, limit in zip(origins, targets, np.asarray(limits, dtype=np.float64).tolist(), strict=True):
        sources, wanted = np.unique(o), np.unique(t)
        if not len(sources) or not len(wanted) or not limit > 0:
            continue
        dist, pred = graph.dijkstra(sources, limit)
        k, d, e = _route_entries(graph, sources, wanted, dist, pred)
        keys.append(k)
        metres.append(d)
        lasts.append(e)
    if not keys or not sum(len(k) for k in keys):
        return None
    key, first = np.unique(np.concatenate(keys), return_index=True)
    return RouteTable.from_entries(
        graph.n_nodes,
        float(np.max(limits)),
        key,
        np.concatenate(metres)[first].astype(np.float32),
        np.concatenate(lasts)[first].astype(np.int32),
    )
