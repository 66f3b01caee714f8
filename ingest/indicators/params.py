"""The indicator parameters, with their defaults and why.

=======================  =========  ==========================================================
name                     default    meaning
=======================  =========  ==========================================================
``pass_gap_s``           120        a pause longer than this on one segment starts a new pass
``min_confidence``       0.2        matched points below this match confidence are ignored
``iri_per_norm``         0.26       m/km of IRI per unit of the on-board ``norm`` at
                                    ``iri_ref_speed`` (calibrated against the golden car on
                                    simulated rounds, ``bench/bench_indicators.py``)
``iri_ref_speed``        8.0        m/s
``iri_speed_exponent``   0.7        ``IRI = a · norm · (v / v_ref)^k``: the firmware's v^1.5
                                    normalisation assumes an n⁻² profile and a rigid body; the
                                    van's suspension makes ``norm`` fall with speed (bench fit)
``iri_min_speed``        3.0        m/s; slower seconds say little about roughness
``iri_min_seconds``      2          rough seconds a pass needs to give an IRI
``pothole_radius_m``     10.0       events closer than this along a segment are one pothole
``pothole_min_passes``   2          independent passes that must see a pothole to confirm it
``pothole_min_share``    0.3        ... and at least this share of the segment's passes (a hole
                                    is hit on most passes; random jolts on a rough, busy street
                                    add up to two now and then, but at a small share)
``pothole_min_peak_g``   0.56       ... and a median event peak of at least this (g): a rough
                                    surface's peaks sit just over the firmware's 0.45 g threshold
``pothole_peak_per_iri``  0.04      ... raised on very rough segments to this × their IRI (g per m/km):
                                    the rougher the surface, the higher its own peaks
``air_min_days``         4          distinct days of air readings before air is published
``rsrp_usable_dbm``      -110.0     below: unusable coverage
``rsrq_usable_db``       -15.0
``sinr_usable_db``       0.0
``dead_spot_share``      0.5        a segment is a dead spot when this share of its readings
                                    had no service at all
=======================  =========  ==========================================================
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IndicatorParams:
    pass_gap_s: float = 120.0
    min_confidence: float = 0.2
    iri_per_norm: float = 0.26
    iri_ref_speed: float = 8.0
    iri_speed_exponent: float = 0.7
    iri_min_speed: float = 3.0
    iri_min_seconds: int = 2
    pothole_radius_m: float = 10.0
    pothole_min_passes: int = 2
    pothole_min_share: float = 0.3
    pothole_min_peak_g: float = 0.56
    pothole_peak_per_iri: float = 0.04
    air_min_days: int = 4
    rsrp_usable_dbm: float = -110.0
    rsrq_usable_db: float = -15.0
    sinr_usable_db: float = 0.0
    dead_spot_share: float = 0.5

    def __post_init__(self) -> None:
        if self.pass_gap_s <= 0 or self.iri_per_norm <= 0 or self.pothole_radius_m <= 0:
            raise ValueError("pass_gap_s, iri_per_norm and pothole_radius_m must be positive")
        if self.pothole_min_passes < 1 or self.air_min_days < 1:
            raise ValueError("pothole_min_passes and air_min_days must be at least 1")
