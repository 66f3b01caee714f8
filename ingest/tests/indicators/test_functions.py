"""The indicator building blocks alone: passes, IRI, potholes, air, coverage, priority."""

from __future__ import annotations

import numpy as np
import pytest

from ingest.indicators import air, coverage, potholes, priority, roughness
from ingest.indicators.params import IndicatorParams
from ingest.indicators.passes import assign_to_passes, bounds, group_median, pass_index

P = IndicatorParams()


def test_passes_split_on_segment_change_gap_and_unmatched() -> None:
    t = np.array([0, 1, 2, 3, 4, 500, 501, 502, 503], dtype=np.float64)
    seg = np.array([7, 7, 8, 8, -1, 8, 8, 7, 7], dtype=np.int64)
    idx = pass_index(t, seg, gap_s=120)
    assert idx.tolist() == [0, 0, 1, 1, -1, 2, 2, 3, 3]
    first, last = bounds(idx)
    assert first.tolist() == [0, 2, 5, 7]
    assert last.tolist() == [1, 3, 6, 8]


def test_readings_go_to_the_pass_of_the_nearest_point_in_time() -> None:
    t = np.arange(10, dtype=np.float64)
    idx = np.array([0, 0, 0, 1, 1, 1, -1, -1, 2, 2], dtype=np.int64)
    got = assign_to_passes(np.array([0.4, 3.6, 6.5, 9.2, 50.0]), t, idx)
    assert got.tolist() == [0, 1, -1, 2, -1]


def test_group_median() -> None:
    v = np.array([1.0, 5.0, 3.0, np.nan, 10.0, 2.0])
    g = np.array([0, 0, 0, 0, 2, 2], dtype=np.int64)
    med = group_median(v, g, 3)
    assert med[0] == 3.0
    assert np.isnan(med[1])
    assert med[2] == 6.0


def test_pass_iri_ignores_slow_seconds_and_needs_enough_of_them() -> None:
    norm = np.array([70, 40, 60, 999, 20, 20, np.nan], dtype=np.float64)
    speed = np.array([8, 8, 8, 1, 8, 8, 8], dtype=np.float64)  # 8 m/s = iri_ref_speed
    idx = np.array([0, 0, 0, 0, 1, 1, 1], dtype=np.int64)
    iri, n = roughness.pass_iri(norm, speed, idx, 2, P)
    # A pass's first second describes the road before it (the previous segment): left out.
    assert iri[0] == pytest.approx(P.iri_per_norm * 50)
    assert n.tolist() == [2, 1]
    assert np.isnan(iri[1])
    # A gap in time inside a pass: the second after it is left out too.
    t = np.array([0, 1, 2, 3, 10, 11, 12], dtype=np.float64)
    _, n_t = roughness.pass_iri(norm, speed, np.zeros(7, dtype=np.int64), 1, P, t=t)
    assert n_t.tolist() == [3]  # seconds 1, 2 and 11 (3 is slow, 10 follows the gap, 12 has no norm)


def test_segment_iri_is_the_median_with_a_confidence_that_grows_with_agreeing_passes() -> None:
    value, conf = roughness.segment_iri(np.array([3.0, 3.2, 9.0, np.nan]), np.array([20, 20, 20, 0]))
    assert value == 3.2
    few = roughness.segment_iri(np.array([3.0]), np.array([5]))[1]
    many = roughness.segment_iri(np.full(12, 3.0), np.full(12, 20))[1]
    assert few is not None and many is not None and conf is not None
    assert few < many <= 1.0
    assert roughness.segment_iri(np.array([np.nan]), np.array([0])) == (None, None)


def test_potholes_confirmed_only_by_two_independent_passes() -> None:
    offset = np.array([50.0, 52.0, 53.5, 120.0, 121.0, 180.0])
    pass_key = np.array([0, 1, 1, 2, 2, 3], dtype=np.int64)  # 120/121: one pass hit twice
    severity = np.array([1, 2, 3, 1, 1, 2], dtype=np.int64)
    cl, confirmed = potholes.cluster_events(offset, pass_key, severity, radius_m=10.0)
    assert cl.events.tolist() == [3, 2, 1]
    assert cl.passes.tolist() == [2, 1, 1]
    assert confirmed.tolist() == [True, False, False]
    assert cl.severity.tolist() == [3, 1, 2]
    assert cl.offset[0] == 52.0


def test_air_is_grey_until_four_days_then_the_median_of_pass_means() -> None:
    means = np.array([10.0, 12.0, 30.0, 11.0, np.nan])
    assert air.segment_air(means[:3], np.array([0, 1, 2]), min_days=4) == (None, 3)
    assert air.segment_air(means[:3], np.array([0, 0, 1]), min_days=4) == (None, 2)
    assert air.segment_air(means, np.array([0, 1, 2, 3, 4]), min_days=4) == (11.5, 4)


def test_coverage_thresholds_and_dead_spots() -> None:
    rsrp = np.array([-90.0, -115.0, np.nan, np.nan, -100.0])
    rsrq = np.array([-10.0, -10.0, np.nan, np.nan, -18.0])
    sinr = np.array([10.0, 5.0, np.nan, np.nan, np.nan])
    bad, none = coverage.unusable(rsrp, rsrq, sinr, P)
    assert bad.tolist() == [False, True, True, True, True]
    assert none.tolist() == [False, False, True, True, False]
    idx = np.array([0, 0, 1, 1, 1], dtype=np.int64)
    per = coverage.pass_coverage(rsrp, rsrq, sinr, idx=idx, k=2, params=P)
    assert per["n"].tolist() == [2, 3]
    assert per["no_service"].tolist() == [0, 2]
    seg = coverage.segment_coverage(
        per["n"],
        per["rsrp"],
        per["rsrq"],
        per["sinr"],
        n_unusable=per["unusable"],
        n_none=per["no_service"],
        params=P,
    )
    assert seg["unusable_share"] == 0.8
    assert seg["dead_spots"] == 0
    only_dead = coverage.segment_coverage(
        np.array([3]),
        np.array([np.nan]),
        np.array([np.nan]),
        np.array([np.nan]),
        n_unusable=np.array([3]),
        n_none=np.array([2]),
        params=P,
    )
    assert only_dead["dead_spots"] == 1
    assert only_dead["rsrp"] is None


def test_priority_ranks_rough_holed_busy_streets_first_and_says_why() -> None:
    seg = priority.SegmentSummary
    entries = priority.rank(
        [
            seg(1, "smooth", passes=40, iri=2.0, iri_confidence=0.9),
            seg(2, "rough quiet", passes=2, iri=8.0, iri_confidence=0.9),
            seg(3, "rough busy holes", passes=40, iri=8.0, iri_confidence=0.9, potholes=2),
            seg(4, "dirty air busy", passes=40, iri=2.0, iri_confidence=0.9, pm25=30.0),
        ]
    )
    assert [e.segment_id for e in entries] == [3, 4, 2]
    top = entries[0]
    assert top.reasons[0] == "2 confirmed potholes"
    assert top.reasons[1].startswith("rough road: IRI 8.0 m/km")
    assert top.reasons[-1] == "busy: 40 passes"
    assert entries[1].reasons[0].startswith("poor air: PM2.5 30")
    with pytest.raises(ValueError, match="positive"):
        IndicatorParams(iri_per_norm=0)


def test_pass_iri_corrects_norm_for_speed() -> None:
    norm = np.full(6, 40.0)
    speed = np.array([4.0, 4.0, 4.0, 16.0, 16.0, 16.0])
    iri, _ = roughness.pass_iri(norm, speed, np.array([0, 0, 0, 1, 1, 1], dtype=np.int64), 2, P)
    # The same norm means a rougher road at a higher speed (the suspension filters more).
    assert iri[1] / iri[0] == pytest.approx(4.0**P.iri_speed_exponent)


def test_potholes_need_a_share_of_the_passes_and_a_strong_jolt() -> None:
    offset = np.array([50.0, 51.0, 120.0, 121.0, 122.0])
    pass_key = np.array([0, 1, 2, 3, 4], dtype=np.int64)
    severity = np.ones(5, dtype=np.int64)
    peak = np.array([1.2, 1.4, 0.5, 0.52, 0.5])  # g: a hole, then a rough patch on every pass
    cl, confirmed = potholes.cluster_events(
        offset, pass_key, severity, 10.0, 2, segment_passes=5, min_share=0.3, peak=peak, min_peak=0.56
    )
    assert cl.peak.tolist() == pytest.approx([1.3, 0.5])
    assert confirmed.tolist() == [True, False]
    # Two passes out of twenty are too few to be a hole everyone drives over.
    _, rare = potholes.cluster_events(
        offset[:2], pass_key[:2], severity[:2], 10.0, 2, segment_passes=20, min_share=0.3
    )
    assert rare.tolist() == [False]
