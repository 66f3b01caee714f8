"""Assemble one van's simulators around a truth trajectory (however it was made).

Road sections take an ISO 8608 class drawn per path segment (main roads smoother than back
streets), potholes and bumps are scattered along the path, the air field's main roads are the
faster segments and its intersections the path's turns, cell sites are laid around the path, and
the depot's Wi-Fi sits at the start of the path. Everything is seeded: the same seed gives the
same world and the same truth.

    >>> van = make_van(traj, seed=7)
    >>> world = World(van)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np

from simulators.accel import AccelConfig, AccelSource
from simulators.depot_wifi import DepotWifi
from simulators.fields import AirField, CoverageField, UrbanLayout, densify
from simulators.gnss import GnssConfig, GnssReceiver
from simulators.road_profile import Feature, RoadProfile, random_features
from simulators.trajectory import Trajectory
from simulators.world import Van

# ISO class probabilities by road speed (faster roads are kept smoother)
CLASSES = ["A", "B", "C", "D"]
P_FAST = [0.45, 0.40, 0.12, 0.03]
P_SLOW = [0.15, 0.40, 0.33, 0.12]


def section_classes(
    traj: Trajectory, rng: np.random.Generator, fast_ms: float = 11.0
) -> list[tuple[float, str]]:
    """One ISO class per path segment (segments shorter than 20 m join the previous one)."""
    seglen = np.diff(traj.path_s)
    speed_cap = _segment_speed(traj)
    out: list[tuple[float, str]] = []
    for i, s0 in enumerate(traj.path_s[:-1]):
        if out and seglen[i] < 20.0:
            continue
        p = P_FAST if speed_cap[i] >= fast_ms else P_SLOW
        out.append((float(s0), str(rng.choice(CLASSES, p=p))))
    return out or [(0.0, "B")]


def _segment_speed(traj: Trajectory) -> np.ndarray:
    """Top speed the van reached on each path segment (a proxy for the road's class)."""
    seg = traj.segment_at(traj.knot_s)
    top = np.zeros(len(traj.path_s) - 1)
    np.maximum.at(top, seg, traj.knot_v)
    return top


def layout_from_path(traj: Trajectory, fast_ms: float = 11.0) -> UrbanLayout:
    fast = _segment_speed(traj) >= fast_ms
    lines = [traj.path_xy[i : i + 2] for i in np.flatnonzero(fast)]
    heading = np.arctan2(*np.diff(traj.path_xy, axis=0).T[::-1])
    turn = np.abs((np.diff(heading) + np.pi) % (2 * np.pi) - np.pi)
    corners = traj.path_xy[1:-1][turn > np.radians(45)]
    return UrbanLayout.from_points(densify(lines) if lines else np.zeros((0, 2)), corners)


def make_van(
    traj: Trajectory,
    *,
    seed: int = 1,
    name: str = "van-1",
    start_utc: dt.datetime | None = None,
    gnss: GnssConfig | None = None,
    accel: AccelConfig | None = None,
    features: list[Feature] | None = None,
    layout: UrbanLayout | None = None,
    tail_s: float = 600.0,
) -> tuple[Van, RoadProfile]:
    rng = np.random.default_rng(seed)
    sections = section_classes(traj, rng)
    feats = random_features(traj.length, rng) if features is None else features
    profile = RoadProfile.synthesize(traj.length + 20.0, sections, feats, rng=rng)
    gcfg = gnss or GnssConfig()
    gcfg = replace(gcfg, seed=seed, start_utc=start_utc or gcfg.start_utc)
    receiver = GnssReceiver(traj, gcfg, tail_s=tail_s + 60.0)
    source = AccelSource(traj, profile, replace(accel or AccelConfig(), seed=seed + 1))
    air = AirField(layout or layout_from_path(traj), seed=seed + 2)
    coverage = CoverageField.around(traj.path_xy, rng)
    x0, y0 = traj.path_xy[0]
    wifi = DepotWifi(float(x0), float(y0))
    return Van(traj, receiver, source, air, coverage, wifi, name=name, tail_s=tail_s), profile
