"""Road maps drawn as ASCII art, written as real OSM files, for readable road-network tests.

In the manner of Valhalla's gurka tests: letters are OSM nodes, digits are trace points, other
characters are decoration; one character is ``grid_m`` metres. Ways list their node letters.

    >>> drawn = draw('''
    ...     A---1---B---2---C
    ... ''', {"AB": {"highway": "residential", "name": "Ab"}})   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import osmium

from ingest.roadnet import RoadNetwork, load_network

ORIGIN_LON, ORIGIN_LAT = 24.94, 60.17
_M_PER_DEG_LAT = 111_195.0


@dataclass(frozen=True)
class DrawnMap:
    """A network built from a drawing, and where its digits (trace points) are, in local metres."""

    network: RoadNetwork
    points: dict[str, npt.NDArray[np.float64]]

    def xy(self, labels: str) -> npt.NDArray[np.float64]:
        """(n, 2) local metres of the trace points named by ``labels`` (e.g. ``"0123"``)."""
        return np.array([self.points[c] for c in labels])


def _grid_lonlat(row: int, col: int, grid_m: float) -> tuple[float, float]:
    lat = ORIGIN_LAT - row * grid_m / _M_PER_DEG_LAT
    lon = ORIGIN_LON + col * grid_m / (_M_PER_DEG_LAT * np.cos(np.deg2rad(ORIGIN_LAT)))
    return lon, lat


def draw(
    art: str,
    ways: Mapping[str, Mapping[str, str]],
    folder: Path,
    *,
    grid_m: float = 10.0,
    missing: str = "",
) -> DrawnMap:
    """Write ``art`` + ``ways`` as an OSM XML file in ``folder`` and load it as a road network.

    ``missing`` lists node letters that ways reference but the file leaves out, as in an extract
    clipped at its border.
    """
    nodes: dict[str, tuple[float, float]] = {}
    digits: dict[str, tuple[float, float]] = {}
    for row, line in enumerate(art.splitlines()):
        for col, ch in enumerate(line):
            if ch.isalpha():
                nodes[ch] = _grid_lonlat(row, col, grid_m)
            elif ch.isdigit():
                digits[ch] = _grid_lonlat(row, col, grid_m)
    node_id = {ch: 1000 + i for i, ch in enumerate(sorted(set(nodes) | set(missing)))}
    path = folder / "drawn.osm"
    path.unlink(missing_ok=True)
    writer = osmium.SimpleWriter(str(path))
    try:
        for ch in sorted(nodes):
            if ch not in missing:
                writer.add_node(osmium.osm.mutable.Node(id=node_id[ch], location=nodes[ch]))
        for i, (letters, tags) in enumerate(ways.items()):
            writer.add_way(
                osmium.osm.mutable.Way(id=500 + i, nodes=[node_id[c] for c in letters], tags=dict(tags))
            )
    finally:
        writer.close()
    net = load_network(path, use_cache=False)
    points = {}
    for ch, (lon, lat) in digits.items():
        x, y = net.to_xy(lon, lat)
        points[ch] = np.array([float(x), float(y)])
    return DrawnMap(network=net, points=points)
