"""Small parts alone: the write limiter, binary COPY bodies, the reading filters, batch framing."""

from __future__ import annotations

import asyncio
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
from ingest.filters.rules import EARLIEST_UTC
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
    keep, why = apply_filters("track", _track(utc, lat), now=1.7e9)
    assert why.tolist() == reasons
    assert keep.tolist() == [r == "" for r in reasons]


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
