"""A picture of a round and its truth, for a person to look at (PNG, Matplotlib's Agg backend).

Left: the network in grey, the route coloured by golden-car IRI per 100 m, the stops (numbered
in visiting order), potholes and bumps, the depot and its Wi-Fi fence, and the GNSS fixes as
reported. Right, top to bottom: speed over time with the stops, IRI per 100 m with each ISO
class's band, PM2.5 along the route.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.patches import Circle

from simulators.gnss import GnssReceiver
from simulators.iri import iri_expected, iri_per_section
from simulators.road_profile import ISO8608_CLASSES, RoadProfile
from simulators.rounds import Round
from simulators.world import Van


def draw_round(rnd: Round, van: Van, profile: RoadProfile, path: Path) -> Path:
    net, traj = rnd.net, rnd.traj
    fig = plt.figure(figsize=(16, 9), dpi=100)
    grid = fig.add_gridspec(3, 2, width_ratios=[1.3, 1.0])
    ax = fig.add_subplot(grid[:, 0])
    segs = [list(map(tuple, net.edge_geometry(e))) for e in range(net.n_edges)]
    ax.add_collection(LineCollection(segs, colors="#cccccc", linewidths=0.6))
    iri = iri_per_section(profile.heights[: int(traj.length / profile.dx) + 1], profile.dx, 100.0)
    s = np.arange(0.0, traj.length, 10.0)
    x, y = traj.xy_at(s)
    pts = np.stack([x, y], axis=1)
    route = LineCollection(list(np.stack([pts[:-1], pts[1:]], axis=1)), cmap="RdYlGn_r", linewidths=2.0)
    route.set_array(iri[np.minimum((s[:-1] // 100).astype(int), len(iri) - 1)])
    route.set_clim(0, 12)
    ax.add_collection(route)
    fig.colorbar(route, ax=ax, shrink=0.6, label="IRI (m/km), golden car per 100 m")
    rx = van.gnss
    if isinstance(rx, GnssReceiver):
        fix = rx.fix[: int(traj.duration)]
        gx, gy = traj.frame.to_xy(rx.rep_lon[: len(fix)][fix], rx.rep_lat[: len(fix)][fix])
        ax.plot(gx, gy, ".", ms=1.0, color="#3060c0", alpha=0.4, label="GNSS fixes (reported)")
    sx, sy = traj.xy_at(rnd.stop_s)
    ax.plot(sx, sy, "o", ms=5, mfc="white", mec="black", label=f"{len(rnd.stops)} stops")
    for i in range(0, len(sx), max(1, len(sx) // 25)):
        ax.annotate(str(i + 1), (sx[i], sy[i]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    for kind, marker, colour in (("pothole", "v", "crimson"), ("bump", "^", "darkorange")):
        fs = np.array([f.s for f in rnd.features if f.kind == kind])
        if len(fs):
            fx, fy = traj.xy_at(fs)
            ax.plot(fx, fy, marker, ms=6, color=colour, label=f"{len(fs)} {kind}s")
    for i, e in enumerate(rnd.outage_edges):
        g = net.edge_geometry(e)
        ax.plot(
            g[:, 0], g[:, 1], color="black", lw=4, alpha=0.6, label="no sky (GNSS outage)" if i == 0 else None
        )
    dx, dy = rnd.depot_xy
    ax.add_patch(Circle((dx, dy), van.wifi.radius_m, color="tab:blue", alpha=0.2))
    ax.plot([dx], [dy], "s", ms=9, color="tab:blue", label="depot (Wi-Fi fence)")
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title(
        f"Round: {len(rnd.stops)} stops, {traj.length / 1000:.1f} km, {traj.duration / 3600:.2f} h",
    )
    ax.set_xlabel("m east")
    ax.set_ylabel("m north")

    t = np.arange(0.0, traj.duration, 1.0)
    tr = traj.sample(t)
    a1 = fig.add_subplot(grid[0, 1])
    a1.plot(t / 3600.0, tr.speed * 3.6, lw=0.5)
    a1.plot(traj.stop_arrival_t / 3600.0, np.zeros(len(traj.stop_arrival_t)), "|", color="k")
    a1.set_ylabel("speed (km/h)")
    a1.set_xlabel("time (h)")
    a2 = fig.add_subplot(grid[1, 1])
    a2.step(np.arange(len(iri)) * 0.1, iri, where="post", lw=0.8, color="k")
    for name, (lo, hi) in list(ISO8608_CLASSES.items())[:4]:
        a2.axhspan(iri_expected(lo), iri_expected(hi), alpha=0.12, color=f"C{ord(name) - 65}", label=name)
    a2.set_ylabel("IRI (m/km)")
    a2.set_xlabel("route distance (km)")
    a2.legend(fontsize=7, ncol=4, title="ISO 8608 class bands", title_fontsize=7)
    a3 = fig.add_subplot(grid[2, 1])
    t0 = van.gnss.start_utc.timestamp()
    pm25 = np.array([float(van.air.pm(tr.x[i], tr.y[i], t0 + t[i])[1]) for i in range(0, len(t), 10)])
    a3.plot(t[::10] / 3600.0, pm25, lw=0.7, color="tab:purple")
    a3.set_ylabel("PM2.5 (µg/m³)")
    a3.set_xlabel("time (h)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
