"""Turning round at a junction costs the same whichever way the decoder reaches it (gurka style:
letters are nodes, digits trace points, 10 m per character)."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.mapmatch import Trace
from ingest.tests.mapmatch.conftest import match, path_names
from ingest.tests.roadnet.ascii_map import DrawnMap, draw

SHORT_SIDE = """
    A-----1-----B-----5-----C
                |
                3
                |
          E-----D-----F
"""
LONG_SIDE = """
    A-----1-----B-----5-----C
                |
                3
                |
                |
                |
                4
                |
          E-----D-----F
"""
WAYS = {
    "ABC": {"highway": "residential", "name": "Main"},
    "BD": {"highway": "residential", "name": "Side"},
    "EDF": {"highway": "residential", "name": "Back"},
}


@pytest.fixture(scope="module")
def short_side(tmp_path_factory: pytest.TempPathFactory) -> DrawnMap:
    return draw(SHORT_SIDE, WAYS, tmp_path_factory.mktemp("short_side"))


@pytest.mark.parametrize("pull", [5.0, 10.0])
def test_a_fix_pulled_up_a_side_street_makes_no_spur(short_side: DrawnMap, pull: float) -> None:
    # A van passing B on Main, one fix every 10 s; the receiver's slow bias pulls the middle fix
    # 25-30 m up Side (40 m long, a junction with Back at its end). Going up Side and back would
    # turn round in the junction D: the table's route from D back down Side is a U-turn there,
    # priced like any other (it used to be free, and the path went Main, Side, Side, Main).
    xy = short_side.xy("135") + np.array([[0.0, 0.0], [0.0, -pull], [0.0, 0.0]])
    result = match(short_side, Trace(t=np.array([0.0, 10.0, 20.0]), xy=xy), sigma_z=10.0)
    assert path_names(short_side, result) == ["Main"]
    assert "Side" not in short_side.network.edge_names(result.path_edges)


@pytest.mark.parametrize("fixes", ["13435", "1344435"])
def test_a_real_trip_up_a_side_street_is_kept(tmp_path_factory: pytest.TempPathFactory, fixes: str) -> None:
    # The van does go 60 m up Side (80 m long) and comes back, turning mid-street: the U-turn
    # price must not hide a trip the fixes show.
    drawn = draw(LONG_SIDE, WAYS, tmp_path_factory.mktemp("long_side"))
    t = np.arange(len(fixes), dtype=np.float64) * 10.0
    result = match(drawn, Trace(t=t, xy=drawn.xy(fixes)), sigma_z=10.0)
    assert path_names(drawn, result) == ["Main", "Side", "Main"]
    assert drawn.network.edge_names(result.path_edges).count("Side") == 2, "up Side and back"
