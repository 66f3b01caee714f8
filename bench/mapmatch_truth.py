"""Ground-truth traces for the map-matching benchmark, from the simulators' postal rounds.

A trace is a short postal round (:func:`simulators.rounds.plan_round`: depot → a few delivery
stops on the real network along legal routes → depot, driven by
:class:`simulators.trajectory.Trajectory` with 20–180 s dwells, two GNSS outage stretches) seen
by :class:`simulators.gnss.GnssReceiver`. The receiver's error is white noise plus a
Gauss–Markov bias (60 s correlation), split so the per-axis deviation is ``sigma``
(``0.6 σ`` noise, ``0.8 σ`` bias; no canyon gain, so σ is what the set says). Epochs without a fix
(outages, canyons) are not fixes. Subsampling keeps every ``interval_s``-th fix.

Truth per fix is the simulator's own (edge, offset); the true route is the round's edge sequence
(:attr:`simulators.rounds.Round.edges`: every edge driven, in order, consecutive repeats removed —
the same representation as the matchers' paths).

    >>> tr = round_trace(net, seed=3, sigma=10.0, interval_s=1.0)     # doctest: +SKIP
    >>> tr.t, tr.xy, tr.edge, tr.offset, tr.route                    # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.roadnet import RoadNetwork
from simulators.gnss import GnssConfig, GnssReceiver
from simulators.rounds import plan_round

Float = npt.NDArray[np.float64]
Int = npt.NDArray[np.int64]


@dataclass(frozen=True)
class TruthTrace:
    """A noisy trace and what produced it."""

    t: Float  # seconds
    xy: Float  # reported fixes, local metres of the network
    edge: Int  # true edge per fix
    offset: Float  # true offset per fix, metres along ``edge``
    route: Int  # the true edge sequence driven (consecutive repeats removed)


def round_trace(
    net: RoadNetwork, *, seed: int, sigma: float, interval_s: float = 1.0, stops: int = 6
) -> TruthTrace:
    """A simulated round of ``stops`` deliveries, fixes every ``interval_s`` s, error ``sigma`` m."""
    rnd = plan_round(net, stops=stops, seed=seed)
    config = GnssConfig(
        sigma_noise_m=0.6 * sigma,
        sigma_bias_m=0.8 * sigma,
        canyon_gain=0.0,
        ttff_s=0.0,
        reacquire_s=1.0,
        seed=seed,
    )
    rx = GnssReceiver(rnd.traj, config, tail_s=0.0)
    within = rx.t <= rnd.traj.duration
    fixes = np.flatnonzero(rx.fix & within)
    step = max(1, round(interval_s))
    take = fixes[(np.round(rx.t[fixes]).astype(np.int64) % step) == 0]
    if len(take) and take[-1] != fixes[-1]:
        take = np.append(take, fixes[-1])
    x, y = net.to_xy(rx.rep_lon[take], rx.rep_lat[take])
    truth = rnd.traj.sample(rx.t[take])
    return TruthTrace(
        t=rx.t[take].astype(np.float64),
        xy=np.column_stack([x, y]),
        edge=truth.edge.astype(np.int64),
        offset=truth.offset.astype(np.float64),
        route=np.asarray(rnd.edges, dtype=np.int64),
    )
