"""Many vans at once, for load tests: N rounds from one depot network, generated or served live.

``generate`` writes each van's device output and truth (as ``facteur-sim round`` does) in
worker processes; ``serve`` builds N worlds and serves all their host links from one thread, each
van with its own wiring file, so N firmware processes can run against them in lockstep.

    >>> summaries = generate(helsinki_pbf(), vans=100, stops=30, out=Path("fleet"))
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.roadnet import RoadNetwork, load_network
from simulators.gnss import GnssConfig
from simulators.hostlink import LinkServer
from simulators.picture import draw_round
from simulators.road_profile import RoadProfile
from simulators.rounds import Round, plan_round
from simulators.scenario import make_van
from simulators.truth import write_round
from simulators.world import Van, World

DEFAULT_START = dt.datetime(2026, 6, 15, 6, 0, tzinfo=dt.UTC)


@dataclass(slots=True)
class VanPlan:
    rnd: Round
    van: Van
    profile: RoadProfile


def build(
    net: RoadNetwork,
    stops: int,
    seed: int,
    name: str,
    *,
    start_utc: dt.datetime = DEFAULT_START,
    gnss: GnssConfig | None = None,
    tail_s: float = 600.0,
) -> VanPlan:
    rnd = plan_round(net, stops=stops, seed=seed)
    van, profile = make_van(
        rnd.traj, seed=seed, name=name, start_utc=start_utc, gnss=gnss, features=rnd.features, tail_s=tail_s
    )
    return VanPlan(rnd, van, profile)


def _generate_one(pbf: str, stops: int, seed: int, out: str, picture: bool) -> dict[str, Any]:
    net = load_network(Path(pbf))
    plan = build(net, stops, seed, f"van-{seed}")
    folder = Path(out)
    summary = write_round(plan.rnd, plan.van, plan.profile, folder)
    if picture:
        draw_round(plan.rnd, plan.van, plan.profile, folder / "round.png")
    summary["van"] = plan.van.name
    return summary


def generate(
    pbf: Path,
    vans: int,
    stops: int,
    out: Path,
    *,
    workers: int | None = None,
    first_seed: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Write ``vans`` rounds with truth under ``out/van-<seed>/``; returns their summaries."""
    out.mkdir(parents=True, exist_ok=True)
    workers = workers or max(1, min(os.cpu_count() or 1, 4))
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(_generate_one, str(pbf), stops, seed, str(out / f"van-{seed}"), seed == first_seed)
            for seed in range(first_seed, first_seed + vans)
        ]
        for fut in as_completed(futures):
            results.append(fut.result())
            if progress:
                progress(1)
    return sorted(results, key=lambda r: str(r["van"]))


def serve(
    net: RoadNetwork,
    vans: int,
    stops: int,
    out: Path,
    *,
    first_seed: int = 1,
    ready: Callable[[list[Path]], None] | None = None,
    idle_limit_s: float | None = 30.0,
    wake_on_uart: bool = False,
) -> list[World]:
    """Serve ``vans`` worlds on one link server until every van has finished and hung up.

    ``ready`` gets the wiring files once they are written (start the firmware processes there).
    """
    server = LinkServer()
    worlds: list[World] = []
    wirings: list[Path] = []
    try:
        for seed in range(first_seed, first_seed + vans):
            plan = build(net, stops, seed, f"van-{seed}")
            world = World(plan.van, wake_on_uart=wake_on_uart)
            port = server.add(world)
            folder = out / plan.van.name
            wirings.append(world.write_wiring(folder / "wiring.json", f"127.0.0.1:{port}", folder))
            worlds.append(world)
        if ready:
            ready(wirings)
        server.serve(until=lambda: len(server.closed_worlds) >= len(worlds), idle_limit_s=idle_limit_s)
    finally:
        server.close()
        for w in worlds:
            w.close()
    return worlds
