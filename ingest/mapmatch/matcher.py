"""Hidden-Markov map matching (Newson & Krumm 2009) of GNSS traces onto a :class:`RoadNetwork`.

    >>> matcher = MapMatcher(load_network(helsinki_pbf()), MatchParams(sigma_z=5.0))  # doctest: +SKIP
    >>> result = matcher.match(Trace(t=t, xy=xy))  # doctest: +SKIP
    >>> results = matcher.match_many(traces)        # batched: one array step per time step

The pipeline is one module per concern: :mod:`.standstill` (thinning) →
:mod:`.candidate_search` → :mod:`.emission` and :mod:`.transition` (route distances from the
precomputed :mod:`.route_table`, and across GNSS gaps longer than its bound from
:mod:`.gap_routes`) → :mod:`.viterbi` → :mod:`.result`. Parameters are in :mod:`.params`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest import localdb
from ingest.mapmatch.candidate_search import find_candidates
from ingest.mapmatch.emission import emission_logp
from ingest.mapmatch.gap_routes import gap_routes, gap_steps
from ingest.mapmatch.loops import shortest_loops
from ingest.mapmatch.params import MatchParams
from ingest.mapmatch.result import MatchResult, assemble
from ingest.mapmatch.route_table import NodeGraph, RouteTable, cached_route_table
from ingest.mapmatch.standstill import pooled_positions, thin_standstill
from ingest.mapmatch.transition import longest_route, route_distances, transition_logp
from ingest.mapmatch.viterbi import viterbi
from ingest.roadnet import RoadNetwork

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Trace:
    """One device's fixes in time order: ``t`` seconds (non-decreasing), ``xy`` local metres."""

    t: Float
    xy: Float

    def __post_init__(self) -> None:
        if self.t.ndim != 1 or self.xy.shape != (len(self.t), 2):
            raise ValueError("a trace needs t of shape (n,) and xy of shape (n, 2)")
        if len(self.t) > 1 and np.any(np.diff(self.t) < 0):
            raise ValueError("trace fixes must be in time order")

    @classmethod
    def from_lonlat(cls, net: RoadNetwork, t: npt.ArrayLike, lon: npt.ArrayLike, lat: npt.ArrayLike) -> Trace:
        x, y = net.to_xy(lon, lat)
        return cls(t=np.asarray(t, dtype=np.float64), xy=np.column_stack([x, y]))


def sampling_intervals(traces: Sequence[Trace]) -> Float:
    """Each trace's sampling interval: the median time step between its fixes (0 for one fix).

    All traces' steps are sorted at once (by trace, then step), and each trace's median read off
    its run (one ``np.median`` per trace cost more than the rest of matching a sparse trace)."""
    steps = [np.diff(tr.t) for tr in traces]
    count = np.array([len(d) for d in steps], dtype=np.int64)
    out = np.zeros(len(traces))
    if not count.any():
        return out
    flat = np.concatenate(steps)
    owner = np.repeat(np.arange(len(traces)), count)
    ordered = flat[np.lexsort((flat, owner))]
    first = np.cumsum(count) - count
    has = count > 0
    lo = first[has] + (count[has] - 1) // 2
    hi = first[has] + count[has] // 2
    out[has] = (ordered[lo] + ordered[hi]) / 2.0
    return out


def standstill_windows(interval: Float, params: MatchParams) -> Float:
    """Each trace's standstill averaging window: ``standstill_window_s``, widened to
    ``standstill_steps`` sampling intervals for a sparsely sampled trace (a 10 s window holds
    one fix of a trace sampled every 10 s, so it would average nothing)."""
    if params.standstill_window_s <= 0:
        return np.zeros_like(interval)
    return np.maximum(params.standstill_window_s, params.standstill_steps * interval)


def route_table_cache() -> Path:
    return localdb.project_root() / ".cache" / "mapmatch"


class MapMatcher:
    """Matches traces onto one network with one parameter set.

    Parameters
    ----------
    net : the road network.
    params : matching parameters (validated).
    table : a prebuilt route table; built (and cached on disk) from ``params.route_table_delta``
        when omitted.
    """

    def __init__(
        self, net: RoadNetwork, params: MatchParams | None = None, table: RouteTable | None = None
    ) -> None:
        self.net = net
        self.params = params or MatchParams()
        self.table = table or cached_route_table(net, self.params.route_table_delta, route_table_cache())
        self.loops = shortest_loops(net, self.table, self.params.uturn_cost)

    @functools.cached_property
    def graph(self) -> NodeGraph:
        """The network for :mod:`.gap_routes`' Dijkstra, built at the first gap that needs it."""
        return NodeGraph.of(self.net)

    def match(self, trace: Trace) -> MatchResult:
        """Match one trace."""
        return self.match_many([trace])[0]

    def match_many(self, traces: Sequence[Trace], batch_fixes: int = 100_000) -> list[MatchResult]:
        """Match many traces, batching them so the arrays stay near ``batch_fixes`` fixes."""
        out: list[MatchResult] = []
        batch: list[Trace] = []
        size = 0
        for trace in traces:
            if batch and size + len(trace.t) > batch_fixes:
                out.extend(self._match_batch(batch))
                batch, size = [], 0
            batch.append(trace)
            size += len(trace.t)
        if batch:
            out.extend(self._match_batch(batch))
        return out

    def _match_batch(self, traces: Sequence[Trace], chunk_pairs: int = 32_768) -> list[MatchResult]:
        p = self.params
        net = self.net
        counts = np.array([len(tr.t) for tr in traces], dtype=np.int64)
        offsets = np.zeros(len(traces) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        t = np.concatenate([tr.t for tr in traces]) if traces else np.zeros(0)
        xy = np.concatenate([tr.xy for tr in traces]) if traces else np.zeros((0, 2))
        interval = sampling_intervals(traces)
        keep, standing = thin_standstill(
            xy,
            t,
            offsets,
            p.standstill_distance,
            p.gap_seconds,
            window_s=np.repeat(standstill_windows(interval, p), counts),
            moving_window_s=p.moving_window_s,
            max_travel=p.travel_distance,
        )
        decode = np.flatnonzero(keep)
        # A standing kept fix is decoded at the mean of the standing fixes it stands for.
        at = pooled_positions(xy, keep, standing)
        cand_all = find_candidates(net, at, p.search_radius, p.max_candidates, margin=p.candidate_slack)
        has = cand_all.count > 0
        kept = decode[has]
        cand = cand_all.take(np.flatnonzero(has))
        row_of = np.full(len(t), -1, dtype=np.int64)
        row_of[kept] = np.arange(len(kept))
        last_decoded = np.full(len(t), -1, dtype=np.int64)
        last_decoded[decode] = decode
        follow = row_of[np.maximum.accumulate(last_decoded)] if len(t) else row_of
        kept_trace = np.searchsorted(offsets, kept, side="right") - 1
        # Transition scale per decoded fix: wider for sparsely sampled traces.
        scale = np.maximum(p.transition_scale, p.beta_speed * interval[kept_trace])
        kept_offsets = np.searchsorted(kept_trace, np.arange(len(traces) + 1)).astype(np.int64)
        q = len(kept)
        first = np.zeros(q, dtype=np.bool_)
        first[kept_offsets[:-1][kept_offsets[:-1] < q]] = True
        prev = np.maximum(np.arange(q) - 1, 0)
        at = at[has]
        gc = np.hypot(*(at - at[prev]).T) if q else np.zeros(0)
        dt = t[kept] - t[kept[prev]] if q else np.zeros(0)
        restart = first | (gc > p.breakage_distance) | (dt > p.max_gap_seconds)
        raw_dt = t[kept] - t[np.maximum(kept - 1, 0)] if q else np.zeros(0)
        k = cand.edge.shape[1]
        # transition[row, to, from]: the layout the Viterbi step reads (its max runs over "from").
        transition = np.full((q, k, k), -np.inf, dtype=np.float32)
        # Only pairs of real candidates are scored (most of the K × K slots are empty). Flat
        # indices: gathers and the scatter into ``transition`` are 1-D, the cheapest NumPy has.
        live = cand.edge >= 0
        kk = k * k
        edge_flat, offset_flat = cand.edge.reshape(-1), cand.offset.reshape(-1)
        transition_flat = transition.reshape(-1)
        # Pairs are scored a few thousand rows at a time, so the dozens of temporaries each step
        # makes stay in the CPU caches (one pass over half a million pairs ran 2x slower).
        count = live.sum(axis=1)
        row_pairs = np.where(restart, 0, count[prev] * count)
        cum = np.cumsum(row_pairs)
        total = int(cum[-1]) if q else 0
        bounds = np.unique(np.searchsorted(cum, np.arange(chunk_pairs, total, chunk_pairs)))
        bounds = bounds[bounds > 0]
        all_rows = np.arange(q)

        def score(rows: slice | Int, routes: RouteTable) -> None:
            """Fill ``transition`` for the candidate pairs of the decoded fixes ``rows``."""
            pairs = live[rows][:, :, None] & live[prev[rows]][:, None, :] & ~restart[rows, None, None]
            flat = np.flatnonzero(pairs)  # (row, to j, from i), as ``transition`` is laid out
            local, ji = np.divmod(flat, kk)
            j, i = np.divmod(ji, k)
            row = all_rows[rows][local]
            a_slot = prev[row] * k + i
            b_slot = row * k + j
            step_gc = gc[row]
            route, kind = route_distances(
                net,
                routes,
                a=edge_flat[a_slot],
                oa=offset_flat[a_slot],
                b=edge_flat[b_slot],
                ob=offset_flat[b_slot],
                gc=step_gc,
                params=p,
                loops=self.loops,
            )
            transition_flat[row * kk + ji] = transition_logp(
                route, kind, step_gc, dt[row], p, scale=scale[row]
            )

        for lo, hi in zip(np.r_[0, bounds].tolist(), np.r_[bounds, q].tolist(), strict=True):
            score(slice(lo, hi), self.table)
        # GNSS gaps whose route may be longer than the table's bound: routed by bounded Dijkstra
        # and scored again through the table with those routes as its fallback.
        routes = self.table
        gaps = gap_steps(restart, raw_dt, interval[kept_trace], gc, dt, params=p, delta=self.table.delta)
        if len(gaps):
            extra = gap_routes(
                self.graph,
                origins=[net.edge_to[e[e >= 0]] for e in cand.edge[prev[gaps]]],
                targets=[net.edge_from[e[e >= 0]] for e in cand.edge[gaps]],
                limits=longest_route(gc[gaps], dt[gaps], p),
            )
            routes = self.table.with_fallback(extra)
            if extra is not None:
                score(gaps, routes)
        emission = emission_logp(cand.distance, p.sigma_z)
        decoded = viterbi(emission, transition, restart, kept_offsets)
        return assemble(
            net=net,
            table=routes,
            loops=self.loops,
            params=p,
            cand=cand,
            path=decoded,
            t=t,
            xy=xy,
            trace_offsets=offsets,
            kept=kept,
            follow=follow,
        )
