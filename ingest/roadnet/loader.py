"""Load a road network from an OSM PBF, through a disk cache of its arrays.

The cache lives in ``<project>/.cache/roadnet/`` and is keyed by the file's SHA-256 and
:data:`CODE_VERSION`, so editing the extract or the graph-building code invalidates it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from ingest import localdb
from ingest.roadnet import tags as road_tags
from ingest.roadnet.graph_builder import build_network
from ingest.roadnet.network import ARRAY_FIELDS, RoadNetwork
from ingest.roadnet.osm_reader import read_drivable_ways
from ingest.roadnet.projection import LocalProjection

#: Bump whenever the arrays a given PBF produces change.
CODE_VERSION = "roadnet-4"


def cache_dir() -> Path:
    """Where cached networks are kept (git-ignored ``.cache/roadnet`` of the project)."""
    return localdb.project_root() / ".cache" / "roadnet"


def file_digest(path: Path) -> str:
    """Hex SHA-256 of a file's content."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cache_path(pbf: Path) -> Path:
    """The cache file for ``pbf`` under the current code version."""
    return cache_dir() / f"{pbf.stem}-{file_digest(pbf)[:20]}-{CODE_VERSION}.npz"


def save_network(net: RoadNetwork, path: Path) -> None:
    """Write ``net``'s arrays to ``path`` atomically (NumPy ``.npz``, no pickles)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = net.arrays()
    arrays["names"] = np.asarray([*net.names, ""], dtype=str)
    arrays["class_names"] = np.asarray(net.class_names, dtype=str)
    arrays["projection"] = np.array([net.projection.lon0, net.projection.lat0])
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_network(path: Path) -> RoadNetwork:
    """A network saved by :func:`save_network`."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in ARRAY_FIELDS}
        lon0, lat0 = data["projection"].tolist()
        names = [str(n) for n in data["names"][:-1]]
        class_names = tuple(str(n) for n in data["class_names"])
    return RoadNetwork(
        projection=LocalProjection(lon0=lon0, lat0=lat0), names=names, class_names=class_names, **arrays
    )


def load_network(pbf: Path, *, use_cache: bool = True) -> RoadNetwork:
    """The drivable road network of an OSM PBF extract, from the disk cache when it is there."""
    pbf = Path(pbf)
    path = cache_path(pbf)
    if use_cache and path.is_file():
        try:
            return read_network(path)
        except (OSError, KeyError, ValueError):
            path.unlink(missing_ok=True)
    net = build_network(read_drivable_ways(pbf))
    if use_cache:
        save_network(net, path)
    return net


assert len(road_tags.CLASS_NAMES) < 256  # edge_class is uint8
