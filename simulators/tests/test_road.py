"""Road profile, IRI and quarter-car against their specifications."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.accel import AccelConfig, AccelSource
from simulators.iri import iri, iri_expected, iri_per_section
from simulators.loops import block_loop
from simulators.road_profile import ISO8608_CLASSES, Feature, RoadProfile, class_mean_gd


@pytest.mark.parametrize("name", list("ABCDEF"))
def test_iri_of_each_iso_class_is_inside_its_band(name: str) -> None:
    profile = RoadProfile.synthesize(3_000.0, [(0.0, name)], rng=np.random.default_rng(ord(name)))
    lo, hi = (iri_expected(g) for g in ISO8608_CLASSES[name])
    per_100m = iri_per_section(profile.heights, profile.dx)
    assert len(per_100m) == 30
    assert np.all((per_100m > lo) & (per_100m < hi))
    # and the time-domain golden car agrees with the frequency-domain expectation
    assert iri(profile.heights, profile.dx) == pytest.approx(iri_expected(class_mean_gd(name)), rel=0.10)


def test_profile_psd_follows_iso_8608() -> None:
    profile = RoadProfile.synthesize(20_000.0, [(0.0, "C")], rng=np.random.default_rng(4))
    h = profile.heights - profile.heights.mean()
    spec = np.abs(np.fft.rfft(h)) ** 2 * 2 * profile.dx / len(h)
    n = np.fft.rfftfreq(len(h), profile.dx)
    near = (n > 0.08) & (n < 0.125)
    measured = float(np.mean(spec[near] * (n[near] / 0.1) ** 2))
    assert measured == pytest.approx(class_mean_gd("C"), rel=0.10)


def test_class_changes_per_section_and_features_are_where_the_truth_says() -> None:
    pothole = Feature("pothole", 250.0, 0.8, 0.06)
    bump = Feature("bump", 700.0, 3.7, 0.07)
    profile = RoadProfile.synthesize(1_000.0, [(0.0, "A"), (500.0, "E")], [pothole, bump])
    per = iri_per_section(profile.heights, profile.dx)
    assert per[:2].mean() < per[-2:].mean() / 5
    smooth = RoadProfile.synthesize(1_000.0, [(0.0, "A"), (500.0, "E")])
    diff = profile.heights - smooth.heights
    assert diff.min() == pytest.approx(-0.06, abs=1e-3)
    assert abs(np.argmin(diff) * profile.dx - 250.0) < 0.1
    assert diff.max() == pytest.approx(0.07, abs=1e-3)
    assert profile.class_at(600.0) == "E"


def test_accelerometer_noise_at_rest_matches_the_configuration() -> None:
    traj = block_loop(dwell_s=200.0)
    profile = RoadProfile.synthesize(traj.length + 5.0, [(0.0, "B")])
    src = AccelSource(traj, profile, AccelConfig(noise_g=0.004, mount_rpy_deg=(0.0, 0.0, 0.0)))
    out = src.output(np.arange(1.0, 150.0, 0.01))
    assert np.std(out, axis=0) == pytest.approx([0.004] * 3, rel=0.10)
    assert np.mean(out[:, 2]) == pytest.approx(1.0, abs=1e-3)  # gravity, board level


def test_a_pothole_shakes_the_body_more_than_the_road_around_it() -> None:
    traj = block_loop()
    pothole = Feature("pothole", 300.0, 0.8, 0.08)
    profile = RoadProfile.synthesize(traj.length + 5.0, [(0.0, "A")], [pothole])
    src = AccelSource(traj, profile, AccelConfig(noise_g=0.0))
    t = np.arange(0.0, 60.0, 0.01)
    z = src.output(t)[:, 2]
    s = traj.sample(t).s
    near = np.abs(s - 300.0) < 8.0
    assert np.abs(z[near] - 1.0).max() > 3 * np.abs(z[~near & (s > 20)] - 1.0).max()
