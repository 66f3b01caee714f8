"""A city-scale synthetic road network for the map-matching scaling benchmark.

A jittered grid of streets (80 m blocks, every fifth east-west street one-way), written as a real
OSM PBF with osmium and loaded through :func:`ingest.roadnet.load_network` like any extract:
235 × 235 junctions give about 209,000 directed edges.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import osmium

from ingest import localdb

ORIGIN_LON, ORIGIN_LAT = 2.30, 48.80
_M_PER_DEG = 111_195.0


def synthetic_grid_pbf(n: int = 235, block_m: float = 80.0, seed: int = 5) -> Path:
    """Write (once) and return the PBF of an ``n`` × ``n`` junction grid."""
    path = localdb.project_root() / ".cache" / "roadnet" / f"synthetic-grid-{n}-{block_m:.0f}-{seed}.osm.pbf"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(-8.0, 8.0, size=(n, n, 2))
    kx = _M_PER_DEG * np.cos(np.deg2rad(ORIGIN_LAT))
    tmp = path.with_suffix(".tmp.pbf")
    tmp.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(tmp))
    try:
        for r in range(n):
            for c in range(n):
                x = c * block_m + jitter[r, c, 0]
                y = r * block_m + jitter[r, c, 1]
                writer.add_node(
                    osmium.osm.mutable.Node(
                        id=1 + r * n + c, location=(ORIGIN_LON + x / kx, ORIGIN_LAT + y / _M_PER_DEG)
                    )
                )
        way_id = 1
        for r in range(n):
            tags = {"highway": "residential", "name": f"Rue {r}"}
            if r % 5 == 2:
                tags["oneway"] = "yes"
            writer.add_way(
                osmium.osm.mutable.Way(id=way_id, nodes=[1 + r * n + c for c in range(n)], tags=tags)
            )
            way_id += 1
        for c in range(n):
            tags = {"highway": "tertiary" if c % 10 == 0 else "residential", "name": f"Avenue {c}"}
            writer.add_way(
                osmium.osm.mutable.Way(id=way_id, nodes=[1 + r * n + c for r in range(n)], tags=tags)
            )
            way_id += 1
    finally:
        writer.close()
    tmp.replace(path)
    return path
