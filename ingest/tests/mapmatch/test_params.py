"""The parameter table validates itself."""

from __future__ import annotations

import pytest

from ingest.mapmatch import InvalidParameterError, MatchParams

BAD = [
    {"sigma_z": 0.0},
    {"sigma_z": -1.0},
    {"beta": -1.0},
    {"search_radius": -5.0},
    {"max_candidates": 0},
    {"max_candidates": 100},
    {"uturn_penalty": -1.0},
    {"search_radius": 500.0, "breakage_distance": 100.0},
    {"gap_seconds": 700.0, "max_gap_seconds": 600.0},
    {"max_candidates": 8.0},
    {"sigma_z": float("nan")},
]


@pytest.mark.parametrize("kwargs", BAD)
def test_invalid_parameters_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(InvalidParameterError):
        MatchParams(**kwargs)  # type: ignore[arg-type]


def test_defaults_are_valid_and_standstill_distance_follows_sigma() -> None:
    assert MatchParams().standstill_distance == 10.0
    assert MatchParams(sigma_z=8.0).standstill_distance == 16.0
    assert MatchParams(interpolation_distance=3.0).standstill_distance == 3.0
