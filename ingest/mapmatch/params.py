"""The map matcher's parameters: one documented, validated table with defaults.

=========================  =========  ====================================================================
parameter                  default    meaning
=========================  =========  ====================================================================
``sigma_z``                5.0 m      GNSS position noise (standard deviation per axis); emission scale
``beta``                   0 → σ      transition scale: log-prob = -|route − great-circle| / beta (at 1 Hz
                                      the step's difference is the fixes' noise, about σ; Newson & Krumm
                                      estimate beta from those differences)
``beta_speed``             1.25 m/s   ... at least this × the trace's sampling interval (median time step;
                                      every 30 s: 37.5 m, as routes bend between sparse fixes; 0: off)
``interpolation_distance`` 0 → 2 σ    fixes closer than this to the last decoded one follow it (standstill)
``standstill_window_s``    10.0 s     ... positions averaged over this window for that test while standing
``standstill_steps``       3.0        ... or over this × the trace's median time step if longer (sparse: the
                                      standing test then compares averages three fixes apart)
``moving_window_s``        3.0 s      ... and over this one while moving (0: raw fixes)
``max_travel``             0 → 4 σ    a moving fix is decoded anyway once the averaged positions travelled
                                      this far since the last decoded fix (hairpins, dead-end stubs)
``search_radius``          50.0 m     candidate edges within this distance of a fix
``candidate_margin``       0 → 4 σ    ... and within this much of the nearest one (prunes dense junctions)
``max_candidates``         20         candidate slots per fix, filled street by street (both directions)
``breakage_distance``      2000.0 m   consecutive fixes further apart than this start a new match
``max_gap_seconds``        1800.0 s   consecutive fixes further apart in time start a new match: a silence
                                      as long as a pause in the working day (a van may lose the sky for
                                      over ten minutes across a stop in narrow streets; within that,
                                      ``breakage_distance`` decides and the gap is re-routed)
``gap_seconds``            15.0 s     a time step longer than this is a GNSS gap: re-routed and marked
                                      (and always decoded; a 10 s sampling interval is no gap)
``max_speed_kmh``          150.0      routes implying a faster mean speed are a last resort
``max_detour_ratio``       4.0        routes over this × the straight step (+ 2 radii) are a last resort
``relaxed_penalty``        50.0       log-probability price of such a last-resort route (instead of a split)
``backward_tolerance``     0 → 6 σ    moving back along the road by up to this is noise, not a detour
``backward_penalty``       1.0        a backward step costs this × its length on top (per beta)
``uturn_penalty``          0 → 10 σ   added cost (m) of a U-turn mid-street or at a junction (not a dead end),
                                      also where a table route turns round in one
``speed_tolerance``        1.5        implied speeds up to this × the speed limit keep full confidence
``speed_window_s``         10.0 s     implied speed is the mean over this window (1 Hz steps are noisy)
``route_table_delta``      3000.0 m   upper bound of the precomputed origin–destination table (FMM)
=========================  =========  ====================================================================

Defaults follow Newson & Krumm (2009) and Valhalla Meili (``sigma_z`` 4.07 m, ``beta`` 3,
``search_radius`` 50 m, ``breakage_distance`` 2000 m), retuned on the benchmark in ``bench/``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields


class InvalidParameterError(ValueError):
    """A matcher parameter is outside its valid range; the message names it."""


@dataclass(frozen=True)
class MatchParams:
    """Map-matching parameters (see the module table); validated on construction."""

    sigma_z: float = 5.0
    beta: float = 0.0
    beta_speed: float = 1.25
    interpolation_distance: float = 0.0
    standstill_window_s: float = 10.0
    standstill_steps: float = 3.0
    moving_window_s: float = 3.0
    max_travel: float = 0.0
    search_radius: float = 50.0
    candidate_margin: float = 0.0
    max_candidates: int = 20
    breakage_distance: float = 2000.0
    max_gap_seconds: float = 1800.0
    gap_seconds: float = 15.0
    max_speed_kmh: float = 150.0
    max_detour_ratio: float = 4.0
    relaxed_penalty: float = 50.0
    backward_tolerance: float = 0.0
    backward_penalty: float = 1.0
    uturn_penalty: float = 0.0
    speed_tolerance: float = 1.5
    speed_window_s: float = 10.0
    route_table_delta: float = 3000.0

    def __post_init__(self) -> None:
        positive = (
            "sigma_z",
            "search_radius",
            "breakage_distance",
            "max_gap_seconds",
            "gap_seconds",
            "max_speed_kmh",
            "max_detour_ratio",
            "speed_tolerance",
            "route_table_delta",
        )
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise InvalidParameterError(f"{f.name} must be a number, got {value!r}")
            if f.name in positive and value <= 0:
                raise InvalidParameterError(f"{f.name} must be > 0, got {value}")
            if value < 0:
                raise InvalidParameterError(f"{f.name} must be >= 0, got {value}")
        if not isinstance(self.max_candidates, int) or not 1 <= self.max_candidates <= 64:
            raise InvalidParameterError(
                f"max_candidates must be an integer in 1..64, got {self.max_candidates}"
            )
        if self.search_radius > self.breakage_distance:
            raise InvalidParameterError("search_radius must not exceed breakage_distance")
        if self.gap_seconds > self.max_gap_seconds:
            raise InvalidParameterError("gap_seconds must not exceed max_gap_seconds")

    @property
    def candidate_slack(self) -> float:
        """``candidate_margin``, or 4 sigma_z when it is 0."""
        return self.candidate_margin or 4.0 * self.sigma_z

    @property
    def uturn_cost(self) -> float:
        """``uturn_penalty``, or 10 sigma_z when it is 0 (it must outweigh noise-driven detours)."""
        return self.uturn_penalty or 10.0 * self.sigma_z

    @property
    def transition_scale(self) -> float:
        """``beta``, or sigma_z when it is 0: noisier fixes make noisier great-circle steps."""
        return self.beta or self.sigma_z

    @property
    def jitter_tolerance(self) -> float:
        """``backward_tolerance``, or 6 sigma_z when it is 0: two fixes of a standing van are
        less than 5.3 σ apart 99.9 % of the time (Rayleigh, scale σ√2). A fixed 50 m let a 50 m
        excursion into a dead end pass for jitter at σ = 5 m."""
        return self.backward_tolerance or 6.0 * self.sigma_z

    @property
    def standstill_distance(self) -> float:
        """``interpolation_distance``, or 2 sigma_z when it is 0 (Newson & Krumm)."""
        return self.interpolation_distance or 2.0 * self.sigma_z

    @property
    def travel_distance(self) -> float:
        """``max_travel``, or 4 sigma_z (twice the standstill distance) when it is 0."""
        return self.max_travel or 4.0 * self.sigma_z

    @property
    def max_speed_mps(self) -> float:
        return self.max_speed_kmh / 3.6
