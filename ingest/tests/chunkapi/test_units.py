"""Small parts alone: the write limiter, binary COPY bodies, the reading filters, batch framing."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
import pytest

from ingest.backpressure import SaturatedError, WriteLimiter
from ingest.chunks import rollup
from ingest.chunks.batch import BatchError, join_batch, split_batch
from ingest.chunks.pgcopy import Column, copy_body
from ingest.filters.pipeline import apply_filters
from ingest.filters.rules import EARLIEST_UTC, MAX_SPEED_MS, _distance_m, impossible_jump
from ingest.records.decode import TRACK_DTYPE


async def _limiter_scenario(wait_seconds: float) -> list[str]:
    limiter = WriteLimiter(slots=1, max_waiting=1, wait_seconds=wait_seconds)
    events: list[str] = []
    release = asyncio.Event()
    holding = asyncio.Event()

    async def holder() -> None:
        async with limiter.slot():
            events.append("held")
            holding.set()
            await release.wait()

    async def waiter(name: str) -> None:
        try:
            async with limiter.slot():
                events.append(f"{name} got")
        except SaturatedError as exc:
            events.append(f"{name} {exc.reason}")

    task = asyncio.create_task(holder())
    await holding.wait()
    w1 = asyncio.create_task(waiter("w1"))
    while limiter.waiting == 0 and not w1.done():
        await asyncio.sleep(0)
    await waiter("w2")  # the one waiting place is taken (or w1 already gave up)
    if wait_seconds > 1:
        release.set()
    await w1
    release.set()
    await task
    await waiter("w3")
    return events


def test_limiter_queues_then_refuses() -> None:
    assert asyncio.run(_limiter_scenario(30.0)) == ["held", "w2 queue_full", "w1 got", "w3 got"]


def test_limiter_gives_up_after_its_wait() -> None:
    events = asyncio.run(_limiter_scenario(0.05))
    assert events[0] == "held" and "w1 wait_timeout" in events and events[-1] == "w3 got"


def test_copy_body_round_trips_with_nulls(database_url: str) -> None:
    rng = np.random.default_rng(1)
    n = 500
    a = rng.normal(size=n)
    a[::7] = np.nan
    t = 1.7e9 + np.arange(n) * 0.5
    i = rng.integers(-30000, 30000, n)
    body = copy_body([Column(t, "timestamptz"), Column(np.full(n, b"van-x"), "text"), Column(a, "float8"),
                      Column(i, "int2"), Column(a > 0, "bool")])  # fmt: skip
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TEMP TABLE t (t timestamptz, d text, a float8, i int2, b bool)")
        with conn.cursor().copy("COPY t FROM STDIN (FORMAT BINARY)") as copy:
            copy.write(body)
        rows = conn.execute("SELECT extract(epoch FROM t)::float8, d, a, i, b FROM t ORDER BY t").fetchall()
    assert [r[0] for r in rows] == t.tolist()
    assert {r[1] for r in rows} == {"van-x"}
    # One device id standing for the whole column writes the same bytes as the repeated column.
    repeated = copy_body([Column(t, "timestamptz"), Column(np.array(b"van-x"), "text"), Column(a, "float8"),
                          Column(i, "int2"), Column(a > 0, "bool")])  # fmt: skip
    assert bytes(repeated) == bytes(body)
    assert [r[2] for r in rows] == [None if np.isnan(x) else x for x in a]
    assert [r[3] for r in rows] == i.tolist()


def _track(utc: list[float], lat: list[float]) -> npt.NDArray[Any]:
    t = np.zeros(len(utc), TRACK_DTYPE)
    t["utc"], t["lat"], t["lon"], t["fix"], t["speed"] = utc, lat, 7.42, True, 10.0
    return t


FILTER_CASES = [
    ("dated normally", [1.7e9], [43.7], [""]),
    ("undated", [np.nan], [43.7], ["no_time"]),
    ("before 2020", [EARLIEST_UTC - 1], [43.7], ["before_2020"]),
    ("future", [1.7e9 + 26 * 3600], [43.7], ["future"]),
    ("24 h ahead is clock skew, kept", [1.7e9 + 24 * 3600], [43.7], [""]),
    ("off the planet", [1.7e9], [95.0], ["bad_position"]),
    ("a 100 km spike", [1.7e9, 1.7e9 + 1, 1.7e9 + 2, 1.7e9 + 3], [43.7, 44.6, 43.7001, 43.7002],
     ["", "impossible_jump", "", ""]),
    ("a far fix after a long gap is kept", [1.7e9, 1.7e9 + 3600, 1.7e9 + 3601], [43.7, 44.0, 44.00001],
     ["", "", ""]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "utc", "lat", "reasons"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filters(name: str, utc: list[float], lat: list[float], reasons: list[str]) -> None:
    keep, rejected = apply_filters("track", _track(utc, lat), now=1.7e9)
    why = [""] * len(utc)
    for row, reason in rejected:
        why[row] = reason
    assert why == reasons
    assert [row for row, _ in rejected] == sorted(row for row, _ in rejected)
    assert keep.tolist() == [r == "" for r in reasons]


def _jumps_one_by_one(t: npt.NDArray[Any]) -> list[bool]:
    """impossible_jump as its docstring says it, fix after fix: per boot in time order, a fix whose
    legs to both neighbours are faster than MAX_SPEED_MS (a leg under 1 s counts as 1 s)."""
    out = [False] * len(t)
    ok = t["fix"] & np.isfinite(t["utc"]) & np.isfinite(t["lat"]) & np.isfinite(t["lon"])
    for boot in sorted(set(t["boot_id"][ok].tolist())):
        rows = sorted(
            (i for i in range(len(t)) if ok[i] and t["boot_id"][i] == boot), key=lambda i: t["utc"][i]
        )
        bad = []
        for a, b in itertools.pairwise(rows):
            dist = _distance_m(
                t["lat"][a : a + 1], t["lon"][a : a + 1], t["lat"][b : b + 1], t["lon"][b : b + 1]
            )
            bad.append(bool(dist[0] > MAX_SPEED_MS * max(t["utc"][b] - t["utc"][a], 1.0)))
        for k in range(1, len(rows) - 1):
            out[rows[k]] = bad[k - 1] and bad[k]
    return out


def test_impossible_jump_matches_the_fix_by_fix_reading() -> None:
    """Random tracks (spikes, gaps, non-fixes, undated rows, two boots, rows out of order, points
    off the planet): the vectorised filter (in-place reads when every row is a dated fix, the
    great-circle bound before the haversine) rejects exactly what the plain reading does."""
    rng = np.random.default_rng(7)
    spikes = 0
    for _ in range(400):
        n = int(rng.integers(0, 40))
        t = np.zeros(n, TRACK_DTYPE)
        t["boot_id"] = rng.integers(1, 3, n) if rng.random() < 0.3 else 1
        t["utc"] = 1.7e9 + np.cumsum(rng.choice([0.2, 1.0, 1.0, 30.0], n))
        t["lat"] = 60.17 + np.cumsum(rng.normal(0, 1e-4, n))
        t["lon"] = 24.94 + np.cumsum(rng.normal(0, 1e-4, n))
        t["fix"] = True
        jump = rng.random(n) < 0.1
        # Around the speed limit (241 m/s: ~0.002° in a second) and far beyond it.
        t["lat"][jump] += rng.choice([0.0015, 0.0025, 0.004, 0.5, -2.0, 40.0], int(jump.sum()))
        if rng.random() < 0.4:  # damage: non-fixes, undated rows, NaN or off-planet positions
            t["fix"][rng.random(n) < 0.1] = False
            t["utc"][rng.random(n) < 0.05] = np.nan
            t["lon"][rng.random(n) < 0.05] = rng.choice([np.nan, 200.0])
        if rng.random() < 0.3:
            t = t[rng.permutation(n)]
        got = impossible_jump(t).tolist()
        assert got == _jumps_one_by_one(t)
        spikes += sum(got)
    assert spikes > 50  # the cases really contain rejected spikes


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"", "bad_magic"), (b"FBT1", "empty"), (b"FBT1\x01\x00", "truncated"),
     (b"FBT1\x05\x00\x00\x00ab", "bad_length"), (b"FBT1\x00\x00\x00\x00", "bad_length")],
)  # fmt: skip
def test_batch_framing_errors(body: bytes, reason: str) -> None:
    with pytest.raises(BatchError) as exc:
        split_batch(body)
    assert exc.value.reason == reason
    assert split_batch(join_batch([b"a", b"bc"])) == [b"a", b"bc"]


@pytest.mark.parametrize("shuffled", [False, True], ids=["time_order", "shuffled"])
def test_hourly_rollup_sums_each_hour(shuffled: bool) -> None:
    """The per-hour sums added to ``track_hourly`` match a row-by-row tally, whatever the row order."""
    rng = np.random.default_rng(7)
    n = 500
    track = np.zeros(n, TRACK_DTYPE)
    track["utc"] = 1_700_000_000.0 + np.cumsum(rng.integers(0, 120, n))
    track["fix"] = rng.random(n) < 0.7
    for name in ("rms", "norm", "peak"):
        values = rng.random(n).astype(np.float32)
        values[rng.random(n) < 0.3] = np.nan
        track[name] = values
    track["peak"][track["utc"] < track["utc"][0] + 3600] = np.nan  # an hour without any peak
    if shuffled:
        rng.shuffle(track)
    expected: dict[float, list[float]] = {}
    for row in track:
        acc = expected.setdefault(float(np.floor(row["utc"] / 3600) * 3600), [0, 0, 0.0, 0, 0.0, 0, -np.inf])
        acc[0] += 1
        acc[1] += int(row["fix"])
        for i, name in ((2, "rms"), (4, "norm")):
            if np.isfinite(row[name]):
                acc[i] += float(row[name])
                acc[i + 1] += 1
        if np.isfinite(row["peak"]):
            acc[6] = max(acc[6], float(row["peak"]))
    h = rollup.hourly(track)
    assert h["hours"].tolist() == sorted(expected)
    for i, hour in enumerate(h["hours"].tolist()):
        readings, fixes, rms_sum, rms_n, norm_sum, norm_n, peak = expected[hour]
        assert (h["readings"][i], h["fixes"][i], h["rms_n"][i], h["norm_n"][i]) == (
            readings,
            fixes,
            rms_n,
            norm_n,
        )
        assert h["rms_sum"][i] == pytest.approx(rms_sum) and h["norm_sum"][i] == pytest.approx(norm_sum)
        if np.isinf(peak):
            assert np.isnan(h["peak_max"][i])
        else:
            assert h["peak_max"][i] == pytest.approx(peak)
    assert np.isnan(h["peak_max"][0])
