"""Transition model: route distance between consecutive candidates, and its log-probability.

Newson & Krumm (2009, eq. 2): ``log p = -|route − great-circle| / beta``. The route distance
between candidate ``(a, oa)`` of one fix and ``(b, ob)`` of the next is the cheapest of:

- ``ALONG``: the same edge, moving forward: ``ob − oa``;
- ``VIA``: to the end of ``a``, the shortest route to the start of ``b`` (route table), into ``b``;
- ``VIA_UTURN``: a ``VIA`` route that turns straight round in a junction, as the table's shortest
  route may: it starts back along ``rev(a)`` or ends along ``rev(b)`` (past the start of ``b`` and
  back). It pays ``uturn_cost`` like a ``UTURN`` step (not at a dead end). Free, it let a fix
  pulled towards a side street by the receiver's slowly varying bias make an out-and-back spur:
  up the side street, round in the junction at its end, and back;
- ``UTURN``: ``b`` is the opposite direction of ``a``, turning mid-street (``|oa − (len − ob)|``)
  or at the junction ending ``a``; the step pays ``uturn_cost`` on top (not at a dead end,
  where turning is the only way on);
- ``LOOP``: ``b`` is the opposite direction of ``a``, reached by driving on from the junction
  ending ``a`` and coming back to it (into a dead-end stub and out, round a block): the
  :mod:`.loops` route, taken when it is cheaper than turning round there;
- ``STANDSTILL``: ``b`` lies *behind* ``a`` on the same edge, or on another edge around a node
  both touch (the edge before, a sibling branch), within ``backward_tolerance`` (6 σ) of it: at
  standstill or crawling the fixes scatter around the van, so the step costs the jitter (plus
  ``backward_penalty`` × it), never a loop around the block.

Routes longer than ``max_speed × dt`` (plus the search radius for noise), or than
``max_detour_ratio`` × the great-circle step (plus twice the search radius), are taken only as a
last resort (``relaxed_penalty``), when no other candidate pair connects two fixes: a van that
barely moved did not drive round the block, however long it stood there, but a continuous trace
is not split either.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ingest.mapmatch.params import MatchParams
from ingest.mapmatch.route_table import RouteTable
from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]

IMPOSSIBLE, ALONG, VIA, UTURN, STANDSTILL, LOOP, VIA_UTURN = -1, 0, 1, 2, 3, 4, 5

#: Relative tolerance when comparing route lengths (the table stores float32 metres).
_EPS = 1e-3


def route_distances(
    net: RoadNetwork,
    table: RouteTable,
    *,
    a: Int,
    oa: Float,
    b: Int,
    ob: Float,
    gc: Float,
    params: MatchParams,
    loops: tuple[Float, Int] | None = None,
) -> tuple[Float, npt.NDArray[np.int8]]:
    """Route metres and kind (``ALONG``...) from candidates ``(a, oa)`` to ``(b, ob)`` (broadcast).

    ``gc`` is the great-circle distance between the two fixes, broadcast likewise; empty
    candidates (edge -1) give ``inf`` and ``IMPOSSIBLE``. ``loops`` is
    :func:`.loops.shortest_loops` of the network (no ``LOOP`` steps without it).
    """
    a, oa, b, ob, gc = np.broadcast_arrays(a, oa, b, ob, gc)
    shape = a.shape
    a, oa, b, ob = a.ravel(), oa.ravel(), b.ravel(), ob.ravel()
    valid = (a >= 0) & (b >= 0)
    all_valid = bool(valid.all())  # the matcher scores live candidate pairs only
    a0 = a if all_valid else np.where(valid, a, 0)
    b0 = b if all_valid else np.where(valid, b, 0)
    la = net.edge_length[a0]
    fa, ta = net.edge_from[a0], net.edge_to[a0]
    fb = net.edge_from[b0]
    same = a0 == b0
    along = same & (ob >= oa)
    # Moving along one edge never needs the table (no route is shorter), nor does stepping
    # straight from an edge onto the next.
    between = np.zeros(len(a))
    need = np.flatnonzero(~along & (ta != fb))
    routed, last = table.lookup(ta[need], fb[need])
    between[need] = routed
    best = np.where(along, ob - oa, (la - oa) + between + ob)
    kind = np.where(along, np.int8(ALONG), np.int8(VIA))
    extra = np.zeros(len(a))
    turning = _turns_round(net, table, need=need, a=a0, b=b0, fa=fa, ta=ta, fb=fb, between=routed, last=last)
    kind[turning] = VIA_UTURN
    extra[turning] = params.uturn_cost

    # U-turns onto the opposite direction: at the junction ending ``a`` (free only at a dead
    # end, where it is the way on) or mid-street.
    rev = net.reverse_edge[a0]
    u = np.flatnonzero((rev == b0) & (rev >= 0))
    if len(u):
        out_degree = np.diff(net.out_offsets)
        at_node = (ta[u] == fb[u]) & (out_degree[ta[u]] > 1)
        cost_u = np.where(at_node, params.uturn_cost, 0.0)
        kind[u[at_node]] = UTURN
        extra[u] = cost_u
        if loops is not None:
            # Driving on and coming back to the junction beats turning round in it.
            loop = (la[u] - oa[u]) + loops[0][a0[u]] + ob[u]
            by_loop = (ta[u] == fb[u]) & (loop < best[u] + cost_u)
            best[u[by_loop]] = loop[by_loop]
            cost_u = np.where(by_loop, 0.0, cost_u)
            extra[u] = cost_u
            kind[u[by_loop]] = LOOP
        mid = np.abs(oa[u] - (la[u] - ob[u]))
        take = mid + params.uturn_cost < best[u] + cost_u
        best[u[take]] = mid[take]
        extra[u[take]] = params.uturn_cost
        kind[u[take]] = UTURN

    # Backward jitter: on the same edge, or around a node both edges touch (the van stands
    # there and the fixes scatter onto the edges around it).
    tol = params.jitter_tolerance
    tb = net.edge_to[b0]
    near = np.flatnonzero((same & (ob < oa)) | (~same & ((fa == fb) | (fa == tb) | (ta == tb))))
    if len(near):
        s_, oa_, ob_, la_ = same[near], oa[near], ob[near], la[near]
        lb_ = net.edge_length[b0[near]]
        fa_, ta_, fb_, tb_ = fa[near], ta[near], fb[near], tb[near]
        back = np.where(s_, oa_ - ob_, np.inf)
        back = np.where(~s_ & (fa_ == fb_), np.minimum(back, oa_ + ob_), back)
        back = np.where(~s_ & (fa_ == tb_), np.minimum(back, oa_ + (lb_ - ob_)), back)
        back = np.where(~s_ & (ta_ == tb_), np.minimum(back, (la_ - oa_) + (lb_ - ob_)), back)
        take = (back <= tol) & (back * (1.0 + params.backward_penalty) < best[near] + extra[near])
        best[near[take]] = back[take]
        kind[near[take]] = STANDSTILL

    if not all_valid:
        best = np.where(valid, best, np.inf)
    kind[~np.isfinite(best)] = IMPOSSIBLE
    best = best.reshape(shape)
    kind = kind.reshape(shape)
    return best, kind


def _within(x: Float, y: Float, p: Int, q: Int, r: Float) -> npt.NDArray[np.bool_]:
    """Whether nodes ``p`` and ``q`` are at most ``r`` metres apart in a straight line."""
    dx, dy = x[p] - x[q], y[p] - y[q]
    out: npt.NDArray[np.bool_] = dx * dx + dy * dy <= r * r
    return out


def _turns_round(
    net: RoadNetwork,
    table: RouteTable,
    *,
    need: Int,
    a: Int,
    b: Int,
    fa: Int,
    ta: Int,
    fb: Int,
    between: Float,
    last: Int,
) -> Int:
    """Rows (of ``need``, possibly repeated) whose table routes ``to(a) → from(b)`` (``between``
    metres, and the ``last`` edge of each, given for the rows ``need`` only) start along ``rev(a)``
    or end along ``rev(b)``, turning straight round in a junction that is not a dead end.

    A route starts along ``rev(a)`` when its length is ``len(rev a)`` plus the route from
    ``from(a)`` (looked up only where the straight line from ``from(a)`` to ``from(b)`` leaves
    room for it). Everything is computed on the rows ``need`` only (a fraction of all pairs).
    """
    out_degree = np.diff(net.out_offsets)
    an, fbn = a[need], fb[need]
    # Each test narrows the rows before the next, costlier one looks at them.
    hit = np.flatnonzero(last == net.reverse_edge[b[need]])
    end = need[hit[(last[hit] >= 0) & (out_degree[fbn[hit]] > 1)]]
    la = net.edge_length[an]  # as long as rev(a)
    slack = between + _EPS * np.maximum(between, 1.0)
    v = np.flatnonzero((slack >= la) & np.isfinite(between) & (net.reverse_edge[an] >= 0))
    v = v[out_degree[ta[need[v]]] > 1]
    x, y = net.node_xy[:, 0].copy(), net.node_xy[:, 1].copy()  # 1-D gathers are far cheaper
    fav, fbv = fa[need[v]], fbn[v]
    room = _within(x, y, fav, fbv, slack[v] - la[v])
    v, fav, fbv = v[room], fav[room], fbv[room]
    lav, bv = la[v], between[v]
    from_a = np.zeros(len(v))
    other = fav != fbv
    from_a[other] = table.lookup_distance(fav[other], fbv[other])
    start = need[v[np.abs(lav + from_a - bv) <= _EPS * np.maximum(bv, 1.0)]]
    return np.concatenate([start, end])


def route_limit(gc: Float, dt: Float, params: MatchParams) -> Float:
    """The longest route a step takes at full price: ``max_speed × dt`` (plus the search radius
    for noise) and ``max_detour_ratio`` × the great-circle step (plus twice the radius)."""
    limit: Float = np.minimum(
        params.max_speed_mps * np.maximum(dt, 0.0) + params.search_radius,
        params.max_detour_ratio * gc + 2.0 * params.search_radius,
    )
    return limit


def longest_route(gc: Float, dt: Float, params: MatchParams) -> Float:
    """The longest route a step may take at all: :func:`route_limit`, or up to
    ``breakage_distance`` as a last resort (:func:`transition_logp`); anything longer is
    impossible."""
    out: Float = np.maximum(route_limit(gc, dt, params), params.breakage_distance)
    return out


def transition_logp(
    route: Float,
    kind: npt.NDArray[np.int8],
    gc: Float,
    dt: Float,
    params: MatchParams,
    *,
    scale: Float | None = None,
) -> Float:
    """Log transition probability of each route distance (``-inf`` where impossible).

    ``scale`` is the transition scale per step (default ``params.transition_scale``); the
    matcher widens it for sparsely sampled traces (``beta_speed``).

    Penalties are added to the cost, outside ``|route − gc|`` so a noisy long step cannot absorb
    them: a U-turn pays ``uturn_cost``; a backward (``STANDSTILL``) step pays
    ``backward_penalty`` × its length, so a van that really drives the other way is soon better
    explained by the opposite direction.
    """
    limit = route_limit(gc, dt, params)
    penalty = np.where(kind == STANDSTILL, params.backward_penalty * route, 0.0)
    penalty = np.where((kind == UTURN) | (kind == VIA_UTURN), params.uturn_cost, penalty)
    cost = np.abs(route - gc) + penalty
    logp = -cost / (params.transition_scale if scale is None else scale)
    # Beyond the limits a route is still better than splitting the trace: allowed (up to the
    # breakage distance) at a price that makes it the last resort.
    relaxed = np.isfinite(route) & (route <= params.breakage_distance)
    out: Float = np.where(route <= limit, logp, np.where(relaxed, logp - params.relaxed_penalty, -np.inf))
    return out
