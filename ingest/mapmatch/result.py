"""Turn decoded candidate choices into what callers use: matched points, confidences, paths.

Per fix: edge, offset along it, snapped point, matched flag, chain start (a break), after-gap
flag and a confidence in [0, 1]. Per trace: the traversed path as a sequence of edges.

Fixes thinned at standstill (:mod:`.standstill`) take the result of the last decoded fix.
At standstill the matcher may also choose a candidate slightly *behind* the previous one (backward
noise); such fixes keep the previous position, so offsets never run backwards and the path
never loops around a block.

Confidence = (share of the decoded candidate among the fix's candidates, from the normalised
forward scores) × (distance plausibility: 1 up to 2 sigma_z, then a Gaussian tail) × (speed
plausibility: 1 while the mean speed over the last ``speed_window_s`` is within
``speed_tolerance`` × the speed limit of the matched edge, then decaying with the excess ratio).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.mapmatch.candidate_search import Candidates
from ingest.mapmatch.params import MatchParams
from ingest.mapmatch.route_table import RouteTable
from ingest.mapmatch.transition import LOOP, STANDSTILL, VIA, VIA_UTURN, route_distances
from ingest.mapmatch.viterbi import ViterbiPath
from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class MatchResult:
    """The match of one trace (n fixes).

    Attributes
    ----------
    edge : (n,) matched directed edge index, -1 when unmatched.
    segment_id : (n,) stable segment id of ``edge`` (``RoadNetwork.edge_id``), -1 when unmatched.
    offset : (n,) metres along ``edge`` from its start.
    xy : (n, 2) matched point in local metres (NaN when unmatched).
    matched : (n,) whether the fix was matched.
    confidence : (n,) in [0, 1]; 0 when unmatched.
    chain_start : (n,) a new chain starts here: first matched fix, or a break (no route to the
        previous fix within the limits).
    after_gap : (n,) the time since the previous fix exceeds ``gap_seconds``; the path across the
        gap was re-routed.
    path_edges : (m,) the traversed edges in order (consecutive repeats removed).
    path_chain : (m,) the chain (0, 1, ...) each path edge belongs to.
    """

    edge: Int
    segment_id: Int
    offset: Float
    xy: Float
    matched: Bool
    confidence: Float
    chain_start: Bool
    after_gap: Bool
    path_edges: Int
    path_chain: Int

    @property
    def matched_fraction(self) -> float:
        return float(self.matched.mean()) if len(self.matched) else 1.0


def _softmax_share(forward: Float, choice: Int) -> Float:
    w = np.exp(forward)
    total = w.sum(axis=1)
    share: Float = np.take_along_axis(w, choice[:, None], axis=1)[:, 0] / np.where(total > 0, total, 1.0)
    return share


#: How far back (edges) a backward step may retract the path it jittered ahead on.
_RETRACT_DEPTH = 3


def build_paths(
    *,
    net: RoadNetwork,
    table: RouteTable,
    edge: Int,
    kind: npt.NDArray[np.int8],
    start: Bool,
    route_of: Int,
    via_bounds: Int,
    via_edge: Int,
    loops: tuple[Float, Int] | None = None,
    uturn_cost: float = 0.0,
    offset: Float | None = None,
    jitter_tolerance: float = np.inf,
) -> tuple[Int, Int]:
    """The traversed edges, as (decoded fix, edge) rows in order, from the decoded steps.

    A stack per chain: routes push their edges; a backward (standstill) step that lands on the
    edge before, or on a sibling branch of the same junction, retracts the edge it jittered onto,
    so jitter at a junction leaves neither a detour nor a dangling edge in the path. A van that
    comes back along the edge on top of the stack after such a step turned round at its end: by
    the shortest loop (:mod:`.loops`) where that is cheaper than a U-turn, as a transition would.
    A retraction never undoes more than ``jitter_tolerance`` metres of driving past the edge it
    goes back to (the decoded ``offset`` reached on the top edge plus the edges between): fixes
    scatter that far; a van seen further on drove there (into a dead end and out, or along a
    long edge round a block). Nor does a swap of the top edge for a sibling branch leaving the
    same junction (the van stood there and took the other branch): not once the van drove more
    than that along it. A step that leaves from the end of the edge on top is pushed even where
    it closes a loop back to that edge's start.
    """
    out_fix: list[int] = []
    out_edge: list[int] = []
    frm = net.edge_from.tolist()
    to = net.edge_to.tolist()
    edges = edge.tolist()
    kinds = kind.tolist()
    starts = start.tolist()
    routes = route_of.tolist()
    bounds = via_bounds.tolist()
    via_list = via_edge.tolist()
    rev = net.reverse_edge.tolist()
    out_degree = np.diff(net.out_offsets).tolist()
    length = net.edge_length.tolist()
    floor = 0  # the stack index where the current chain starts; never retract below it

    def retract_to(target: int, now: int) -> bool:
        """Pop the stack back to ``target`` if it is among the chain's last few edges and the van
        did not drive more than ``jitter_tolerance`` past it."""
        driven = reached_on_top(now)
        for depth in range(2, min(_RETRACT_DEPTH, len(out_edge) - floor) + 1):
            if out_edge[-depth] == target:
                if driven > jitter_tolerance:
                    return False
                del out_edge[-depth + 1 :]
                del out_fix[-depth + 1 :]
                return True
            driven += length[out_edge[-depth]]
        return False

    def link_to(b: int, now: int) -> list[int]:
        """The route from the end of the stack's top to the start of ``b``; where the table has
        none, from the end of an edge below it (popping the edges above): a chain of standstill
        steps can leave the van behind the top, at a junction the top's end has no route back to
        within the table. Edges the van drove more than ``jitter_tolerance`` along are never
        popped; with no route at all the path stays broken there, as before."""
        driven = reached_on_top(now)
        for depth in range(1, min(_RETRACT_DEPTH, len(out_edge) - floor) + 1):
            if depth > 1:
                if driven > jitter_tolerance:
                    break
                driven += length[out_edge[-depth]]
            end = to[out_edge[-depth]]
            route: list[int] = []
            if end != frm[b]:
                route = table.route_edges(net, np.array([end]), np.array([frm[b]]))[1].tolist()
            if end == frm[b] or route:
                del out_edge[len(out_edge) - depth + 1 :]
                del out_fix[len(out_fix) - depth + 1 :]
                return route
        return []

    def reached_on_top(now: int) -> float:
        """The furthest decoded offset on the stack's top edge since it was pushed."""
        if offset is None:
            return 0.0
        lo = out_fix[-1]
        on_top = edge[lo:now] == out_edge[-1]
        return float(offset[lo:now][on_top].max()) if on_top.any() else 0.0

    for i, b in enumerate(edges):
        if starts[i]:
            floor = len(out_edge)
            out_fix.append(i)
            out_edge.append(b)
            continue
        k = kinds[i]
        top = out_edge[-1]
        a = edges[i - 1]
        if k == STANDSTILL:
            if top == a and len(out_edge) - floor == 1 and frm[a] in (to[b], frm[b]):
                # The chain started on ``a`` just past the junction and the van stands on the
                # edge before it, or on a sibling branch: that is where the chain starts (else
                # the path would keep ``a`` and jump from its end to ``b``).
                out_fix[-1] = i
                out_edge[-1] = b
                continue
            if b == top or retract_to(b, i) or top != a:
                continue
            if frm[b] == frm[a] and len(out_edge) - floor >= 2:
                # A sibling branch of the junction: the van took ``b``, not ``a``.
                out_fix.pop()
                out_edge.pop()
                out_fix.append(i)
                out_edge.append(b if to[out_edge[-1]] == frm[b] else a)
            continue
        if top not in (a, b):
            # The stack is not where the decoded step starts (a standstill step left it ahead or
            # beside): go back to ``b`` or ``a`` if the path just passed them, else route on.
            if retract_to(b, i):
                continue
            if not retract_to(a, i):
                if b == rev[top] and to[top] == frm[b]:
                    # Back along the edge the path is on: turned round (or looped) at its end.
                    if loops is not None and loops[1][top] >= 0:
                        turn = uturn_cost if out_degree[to[top]] > 1 else 0.0
                        if loops[0][top] < turn:
                            first = int(loops[1][top])
                            _, rest = table.route_edges(net, np.array([to[first]]), np.array([to[top]]))
                            for e in [first, *rest.tolist()]:
                                out_fix.append(i)
                                out_edge.append(e)
                    out_fix.append(i)
                    out_edge.append(b)
                    continue
                if to[top] != frm[b] and (to[b] == frm[top] or to[b] == to[top]):
                    continue  # ``b`` leads into the junction the path already reached
                if (
                    len(out_edge) - floor >= 2
                    and frm[b] == frm[top]
                    and to[out_edge[-2]] == frm[b]
                    and reached_on_top(i) <= jitter_tolerance
                ):
                    out_edge[-1] = b
                    out_fix[-1] = i
                else:
                    for e in link_to(b, i):
                        out_fix.append(i)
                        out_edge.append(e)
                if out_edge[-1] != b:
                    out_fix.append(i)
                    out_edge.append(b)
                continue
            top = a
        if k in (VIA, LOOP, VIA_UTURN) and routes[i] >= 0:
            r = routes[i]
            for e in via_list[bounds[r] : bounds[r + 1]]:
                out_fix.append(i)
                out_edge.append(e)
        if out_edge[-1] != b:
            out_fix.append(i)
            out_edge.append(b)
    return np.asarray(out_fix, dtype=np.int64), np.asarray(out_edge, dtype=np.int64)


def windowed_speed(step_route: Float, t: Float, chain: Int, window_s: float) -> Float:
    """Mean speed (m/s) over the last ``window_s`` seconds of each fix's chain (0 at its start).

    Single 1 Hz steps are too noisy to judge speed: σ = 5 m of noise alone implies 7 m/s.
    """
    cum = np.cumsum(step_route)
    t_rel = t - t[np.searchsorted(chain, chain)]
    key = chain * 1e9 + t_rel
    back = np.searchsorted(key, key - window_s, side="left")
    back = np.maximum(back, np.searchsorted(chain, chain))
    span = t[np.arange(len(t))] - t[back]
    moved = cum - cum[back]
    speed: Float = np.where(span > 0, moved / np.where(span > 0, span, 1.0), 0.0)
    return speed


def assemble(
    *,
    net: RoadNetwork,
    table: RouteTable,
    loops: tuple[Float, Int],
    params: MatchParams,
    cand: Candidates,
    path: ViterbiPath,
    t: Float,
    xy: Float,
    trace_offsets: Int,
    kept: Int,
    follow: Int,
) -> list[MatchResult]:
    """Results per trace. ``cand``/``path`` are over the ``kept`` fixes (decoded, with candidates)
    of the flat ``t``/``xy`` of all traces (``trace_offsets``); ``follow`` maps every fix to the
    row of ``kept`` whose result it takes, or -1 (unmatched)."""
    q = len(kept)
    rows = np.arange(q)
    edge = cand.edge[rows, path.choice]
    offset = cand.offset[rows, path.choice]
    dist = cand.distance[rows, path.choice]
    pxy = cand.xy[rows, path.choice]
    start = path.chain_start
    prev = np.maximum(rows - 1, 0)
    gc = np.hypot(*(xy[kept] - xy[kept[prev]]).T)
    route, kind = route_distances(
        net, table, a=edge[prev], oa=offset[prev], b=edge, ob=offset, gc=gc, params=params, loops=loops
    )
    frozen = (kind == STANDSTILL) & ~start
    via = np.flatnonzero(~start & ((kind == VIA) | (kind == LOOP) | (kind == VIA_UTURN)))
    junction = net.edge_to[edge[via - 1]]
    # A loop leaves the junction by its first edge and routes from that edge's end back to it.
    is_loop = kind[via] == LOOP
    loop_first = loops[1][edge[via - 1]]
    origin = np.where(is_loop, net.edge_to[np.maximum(loop_first, 0)], junction)
    destination = np.where(is_loop, junction, net.edge_from[edge[via]])
    via_pair, via_edge = table.route_edges(net, origin, destination)
    loop_rows = np.flatnonzero(is_loop)
    via_pair = np.concatenate([loop_rows, via_pair])
    via_edge = np.concatenate([loop_first[loop_rows], via_edge])
    first_edge_first = np.argsort(via_pair, kind="stable")
    via_pair, via_edge = via_pair[first_edge_first], via_edge[first_edge_first]
    via_bounds = np.searchsorted(via_pair, np.arange(len(via) + 1))
    route_of = np.full(q, -1, dtype=np.int64)
    route_of[via] = np.arange(len(via))
    row_fix, row_edge = build_paths(
        net=net,
        table=table,
        edge=edge,
        kind=kind,
        start=start,
        route_of=route_of,
        via_bounds=via_bounds,
        via_edge=via_edge,
        loops=loops,
        uturn_cost=params.uturn_cost,
        offset=offset,
        jitter_tolerance=params.jitter_tolerance,
    )
    chain_id = np.cumsum(start) - 1
    # Reported positions: a frozen fix keeps the last position its chain moved to.
    anchor = np.maximum.accumulate(np.where(frozen, 0, rows))
    out_edge_all, out_offset_all, out_xy_all = edge[anchor], offset[anchor], pxy[anchor]

    # Confidence.
    share = _softmax_share(path.forward, path.choice)
    sigma = params.sigma_z
    excess = np.maximum(dist - 2 * sigma, 0.0) / sigma
    plausible_distance = np.exp(-0.5 * excess * excess)
    speed = windowed_speed(np.where(start | frozen, 0.0, route), t[kept], chain_id, params.speed_window_s)
    limit = params.speed_tolerance * net.edge_maxspeed[out_edge_all].astype(np.float64) / 3.6
    ratio = np.where(np.isfinite(speed), speed / limit, np.inf)
    plausible_speed = np.where(ratio <= 1.0, 1.0, np.exp(-3.0 * (ratio - 1.0)))
    confidence = np.clip(share * plausible_distance * plausible_speed, 0.0, 1.0)

    # Every fix of the batch takes the result of the decoded fix it follows (itself, or the last
    # one kept before it while standing), or stays unmatched.
    n_all = len(t)
    follows = follow >= 0
    src = np.maximum(follow, 0)
    all_edge = np.where(follows, out_edge_all[src], -1)
    all_offset = np.where(follows, out_offset_all[src], 0.0)
    all_xy = np.where(follows[:, None], out_xy_all[src], np.nan)
    all_conf = np.where(follows, confidence[src], 0.0)
    all_start = np.zeros(n_all, dtype=np.bool_)
    all_start[kept] = start
    all_gap = np.zeros(n_all, dtype=np.bool_)
    all_gap[1:] = np.diff(t) > params.gap_seconds
    all_gap[trace_offsets[:-1][trace_offsets[:-1] < n_all]] = False
    all_segment = np.where(follows, net.edge_id[np.maximum(all_edge, 0)], -1)

    results = []
    kept_trace = np.searchsorted(trace_offsets, kept, side="right") - 1
    kept_bounds = np.searchsorted(kept_trace, np.arange(len(trace_offsets)))
    path_bounds = np.searchsorted(row_fix, kept_bounds)
    for i in range(len(trace_offsets) - 1):
        lo, hi = int(trace_offsets[i]), int(trace_offsets[i + 1])
        k0, k1 = int(kept_bounds[i]), int(kept_bounds[i + 1])
        p0, p1 = int(path_bounds[i]), int(path_bounds[i + 1])
        pe = row_edge[p0:p1]
        pc = chain_id[row_fix[p0:p1]] - (chain_id[k0] if k1 > k0 else 0)
        keep = np.ones(len(pe), dtype=np.bool_)
        keep[1:] = (pe[1:] != pe[:-1]) | (pc[1:] != pc[:-1])
        results.append(
            MatchResult(
                edge=all_edge[lo:hi],
                segment_id=all_segment[lo:hi],
                offset=all_offset[lo:hi],
                xy=all_xy[lo:hi],
                matched=follows[lo:hi],
                confidence=all_conf[lo:hi],
                chain_start=all_start[lo:hi],
                after_gap=all_gap[lo:hi],
                path_edges=pe[keep],
                path_chain=pc[keep],
            )
        )
    return results
