"""Firmware-side faults through the whole chain: nothing synced is lost, nothing is stored twice,
and the counters say what happened.

Each test drives the real firmware (frozen, 64 KiB heap) around the simulators' Helsinki block,
uploading at the depot through the real gateway into the real ingest service, with one class of
fault: power cuts (SIGKILL at random points, then a restart on the same flash), a full flash
(drop-oldest), the depot Wi-Fi lost in the middle of uploads, clock faults (GPS week rollover,
readings before the first fix, a leap second) and bursts of NMEA garbage. "Synced" readings are
those the firmware made durable in its flash log; the readings of the block still in RAM when the
power goes are lost by design, and counted here against the simulated seconds.

``make test`` runs a short sample of each class; ``make test-long`` the sweeps (``long``).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import psycopg
import pytest

from hil_tests.chain.harness import Chain, DriveResult, Produced, Stored, compare, parked_van
from simulators.gnss import GnssConfig
from simulators.loops import HELSINKI, block_loop
from simulators.scenario import make_van
from simulators.world import Van, World

pytestmark = pytest.mark.timeout(900)

START = dt.datetime(2026, 6, 15, 6, 0, tzinfo=dt.UTC)
ChainFactory = Callable[..., Chain]


def block_van(laps: int, *, tail_s: float = 240.0, seed: int = 11, **gnss: Any) -> Van:
    config = GnssConfig(**{"ttff_s": 20.0, "start_utc": START, **gnss})
    van, _ = make_van(block_loop(laps=laps), seed=seed, gnss=config, tail_s=tail_s)
    return van


def drive_and_read(chain: Chain, van: Van, **drive: Any) -> tuple[DriveResult, Produced, Stored]:
    """Drive ``van`` through the chain, let the gateway forward everything, and read back what the
    firmware produced and what the database holds."""
    run = chain.drive(chain.world(van), **drive)
    chain.settle()
    return run, chain.produced(run), chain.stored()


def exactly_once(chain: Chain, made: Produced, held: Stored) -> None:
    """Every uploaded block's readings are in the database (tables or quarantine) exactly once."""
    assert made.bad_mac == 0
    assert held.seqs() == sorted(made.uploaded), "the database's seq ranges are not what was uploaded"
    c = compare(made.keys(), held, seqs=made.uploaded)
    assert c.exact, (
        f"lost {c.lost}, duplicates {c.duplicates}, unexpected {c.unexpected},"
        f" quarantined {c.quarantined}, reasons {held.reasons}"
    )
    # what the van still holds alone is only what it sealed after its last upload
    assert all(s > max(made.uploaded) for s in set(made.seqs) - made.uploaded)


def track_seconds(run: DriveResult) -> int:
    return sum(int(b.stats.get("seconds", 0)) for b in run.boots)


def dated_right(
    database_url: str,
    device_id: str,
    start: dt.datetime,
    leap: dt.datetime | None = None,
    tolerance_s: float = 2.5,
) -> int:
    """Track rows whose UTC is not the world's time of their ticks (the world's clock starts at 0
    with ``start``, and the board's ticks are the world's milliseconds; after a leap second UTC
    counts one second less); returns how many are off by more than ``tolerance_s``.

    The tolerance covers the firmware's dating convention: a second's TRACK entry is stamped at the
    tick that closes the second with the UTC of that second's fix (measured: 1.0 s behind), and a
    TIME record taken while the depot upload holds the clock in 100-ms busy steps can lag one more
    second on a loaded machine (seen once: 14 rows 2 s behind after such a sync)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM time), ticks FROM track WHERE device_id = %s", (device_id,)
        ).fetchall()
    utc = np.array([float(r[0]) for r in rows])
    ticks = np.array([int(r[1]) for r in rows], dtype=np.float64)
    assert len(rows) > 0
    world = start.timestamp() + ticks / 1000.0
    if leap is not None:
        world = world - (world >= leap.timestamp())
    return int((np.abs(utc - world) > tolerance_s).sum())


# -- power cuts -------------------------------------------------------------------------------------


def power_cut_sweep(chain_factory: ChainFactory, cuts: int, laps: int, seed: int) -> None:
    rng = random.Random(seed)
    van = block_van(laps, tail_s=300.0, seed=seed)
    end = van.traj.duration + van.tail_s
    at = sorted(rng.uniform(5.0, end - 120.0) for _ in range(cuts))
    with chain_factory() as chain:
        run, made, held = drive_and_read(chain, van, cuts=at, seed=seed)
        metrics = chain.gateway_metrics()
    assert run.cuts == cuts and len(run.boots) == cuts + 1
    assert run.errors() == []
    final = run.last.stats
    # Every boot that got as far as saving the log's state counted itself (a cut during the first
    # moments of a boot may come before that), and every boot that sealed a block did.
    boot_ids = {b.boot_id for b in made.blocks.values()}
    assert len(boot_ids) <= final["boot_count"] <= cuts + 1
    assert max(boot_ids) == final["boot_count"]
    # Durable blocks are never lost: the log's seqs have no hole, and a cut never reuses a seq
    # for other bytes (checked while collecting).
    assert made.seqs == list(range(len(made.seqs)))
    exactly_once(chain, made, held)
    # What a cut loses is the block still in RAM: at most 10 s of track per cut.
    readings = made.readings()
    assert run.sim_seconds - len(readings.track) <= 11 * cuts + 2
    # One boot id per boot that lived long enough to write its BOOT block
    assert len(boot_ids) >= cuts + 1 - sum(1 for a, b in itertools.pairwise(at) if b - a < 10.0)
    stored_ok = metrics.get('facteur_gateway_uploads_total{outcome="stored"}', 0.0)
    assert stored_ok >= 1
    compared = compare(made.keys(), held, seqs=made.uploaded).total_compared
    print(
        f"\npower cuts: {run.cuts} cuts survived over {run.sim_seconds:.0f} s simulated, "
        f"{len(made.seqs)} blocks, readings compared {compared}, "
        f"lost 0, duplicates 0; track seconds not made durable {run.sim_seconds - len(readings.track):.0f}"
    )


def test_power_cuts(chain_factory: ChainFactory) -> None:
    power_cut_sweep(chain_factory, cuts=10, laps=3, seed=8)


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_power_cuts_sweep(chain_factory: ChainFactory) -> None:
    power_cut_sweep(chain_factory, cuts=100, laps=16, seed=9)


# -- flash full -------------------------------------------------------------------------------------


def test_flash_full_drops_oldest_and_says_so(chain_factory: ChainFactory) -> None:
    """A 28 KiB flash and no depot on the round: the log drops its oldest segments; the next
    morning at the depot it uploads what is left. The blocks missing from the database are exactly
    the oldest ones, as many as the drop-oldest counter says."""
    van = block_van(6, tail_s=60.0)
    image = {"image_blocks": 7, "image_block_size": 4096}
    with chain_factory() as chain:
        round_run = chain.drive(chain.world(van), depot_ssids=False, image=True, flash_blocks=7)
        dropped_on_the_round = round_run.last.stats["dropped"]
        x0, y0 = van.traj.path_xy[0]
        park = parked_van(HELSINKI, x0, y0, 300.0, START + dt.timedelta(hours=20))
        park_run = chain.drive(chain.world(park), image=True, flash_blocks=7)
        chain.settle()
        made = chain.produced(park_run, **image)
        held = chain.stored()
        with psycopg.connect(chain.ingest.database_url) as conn:
            health = conn.execute(
                "SELECT max(dropped_blocks) FROM device_health WHERE device_id = %s", (chain.device_id,)
            ).fetchone()
    assert round_run.errors() == [] and park_run.errors() == []
    # the next boot may drop more to make room before its upload frees whole segments
    dropped = park_run.last.stats["dropped"]
    assert 0 < dropped_on_the_round <= dropped
    seqs = made.seqs
    missing = seqs[0]
    assert seqs == list(range(missing, missing + len(seqs))), "missing blocks other than the oldest"
    exactly_once(chain, made, held)
    # The counter counts every block the log dropped: the missing ones, and those the morning's
    # upload had already sent when an append dropped their segment (acknowledged right after).
    assert missing <= dropped
    assert set(range(missing, dropped)) <= made.uploaded
    # Every second is one TRACK entry and every dropped block was a full 10-s block: the missing
    # blocks explain the missing readings exactly.
    # (seq 0, the first block of the boot, holds the BOOT record alone: FORMAT.md, kind 0x80)
    seconds = track_seconds(round_run) + track_seconds(park_run)
    assert len(made.readings().track) + 10 * (missing - 1) == seconds
    assert health is not None and health[0] is not None and 0 < health[0] <= dropped
    print(
        f"\nflash full: {missing} oldest blocks missing, drop-oldest counter {dropped} (the rest were"
        f" uploaded while being dropped), {len(seqs)} blocks stored, lost 0, duplicates 0"
    )


# -- the depot Wi-Fi lost mid upload ----------------------------------------------------------------


def wifi_cuts(chain_factory: ChainFactory, plan: list[tuple[str, int]], laps: int, tail_s: float) -> int:
    """Returns how many uploads were cut (a planned cut past the end of a request is no cut)."""
    van = block_van(laps, tail_s=tail_s)
    with chain_factory(plan=plan) as chain:
        before = chain.ingest_metrics()
        run, made, held = drive_and_read(chain, van)
        metrics = chain.gateway_metrics()
        after = chain.ingest_metrics()
        tap = chain.tap
    assert tap is not None
    assert run.errors() == []
    cuts = tap.counts.cut_requests + tap.counts.cut_replies
    # the firmware counted each interrupted upload as a failure, and uploaded everything after all
    assert run.last.stats["upload_failures"] == cuts, tap.counts
    assert made.seqs == list(range(len(made.seqs)))
    exactly_once(chain, made, held)
    # The replies cut after storing made the van resend blocks the gateway already held (with the
    # blocks sealed since: the gateway stores such an overlapping chunk whole, ingest trims it).
    key = 'facteur_ingest_blocks_total{outcome="duplicate"}'
    resent = after.get(key, 0.0) - before.get(key, 0.0)
    uploads = sum(
        metrics.get(f'facteur_gateway_uploads_total{{outcome="{o}"}}', 0.0)
        for o in ("stored", "retransmission")
    )
    assert resent >= 1 and uploads >= tap.counts.cut_replies + 1
    print(f"\nwifi lost: {cuts} uploads cut, {len(made.uploaded)} blocks stored once, lost 0, duplicates 0")
    return cuts


def test_wifi_lost_mid_upload(chain_factory: ChainFactory) -> None:
    """The radio drops at chosen bytes of the request (the gateway never sees the chunk) and of the
    reply (the gateway stored it, the van did not hear the ack and sends it again)."""
    plan = [("cut_request", k) for k in (0, 40, 200, 600, 1500)]
    plan += [("cut_reply", k) for k in (0, 12, 90)]
    assert wifi_cuts(chain_factory, plan, laps=3, tail_s=400.0) == len(plan)


@pytest.mark.long
def test_wifi_lost_sweep(chain_factory: ChainFactory) -> None:
    """Cuts through the headers, the chunk header, blocks and the MAC of a ~13 KiB first chunk,
    and through every part of the reply."""
    rng = random.Random(3)
    plan = [("cut_request", k) for k in sorted(rng.sample(range(1, 12000), 40))]
    plan += [("cut_reply", k) for k in range(0, 200, 10)]
    rng.shuffle(plan)
    assert wifi_cuts(chain_factory, [("cut_request", 0), *plan], laps=4, tail_s=1500.0) >= 25


# -- clock faults ------------------------------------------------------------------------------------


def test_readings_before_the_first_fix_get_utc_from_the_boot_anchor(chain_factory: ChainFactory) -> None:
    """A cold start of 4 minutes (a long TTFF): the first 240 s have no fix and no GNSS time; they
    are dated from the boot's anchor (the first TIME record) and stored, not quarantined."""
    van = block_van(2, ttff_s=240.0)
    with chain_factory() as chain:
        run, made, held = drive_and_read(chain, van)
        off = dated_right(chain.ingest.database_url, chain.device_id, START)
    assert run.errors() == []
    track = made.readings().track
    before_fix = int(np.argmax(track["fix"]))
    assert before_fix >= 200
    exactly_once(chain, made, held)
    assert sum(held.quarantined["track"].values()) == 0
    assert off == 0


def test_gps_week_rollover(chain_factory: ChainFactory) -> None:
    """A receiver with the week-rollover bug dates everything 1024 weeks early (2006): ingest
    refuses to file those readings under 2006; every one is quarantined with its reason, none lost."""
    van = block_van(1, tail_s=240.0, week_rollover_bug=True)
    with chain_factory() as chain:
        run, made, held = drive_and_read(chain, van)
    assert run.errors() == []
    exactly_once(chain, made, held)
    c = compare(made.keys(), held, seqs=made.uploaded)
    produced = c.total_compared - c.produced["boots"]
    # BOOT records are kept whatever their date (device_boots, time null until anchored)
    assert all(sum(n.values()) == 0 for kind, n in held.tables.items() if kind != "boots")
    assert sum(n for (kind, reason), n in held.reasons.items() if reason == "before_2020") == produced, (
        held.reasons
    )
    print(f"\nweek rollover: {produced} readings quarantined as before_2020, lost 0, duplicates 0")


def test_leap_second_and_time_sync(chain_factory: ChainFactory) -> None:
    """A leap second in the middle of the round (GNSS UTC steps back by one second against the
    board's ticks): readings stay dated within a second and a half of the world's time, none lost."""
    start = dt.datetime(2025, 12, 31, 23, 50, tzinfo=dt.UTC)
    leap = dt.datetime(2026, 1, 1, 0, 0, tzinfo=dt.UTC)
    van = block_van(2, start_utc=start, leap_second_at=leap)
    with chain_factory() as chain:
        run, made, held = drive_and_read(chain, van)
        off = dated_right(chain.ingest.database_url, chain.device_id, start, leap)
    assert run.errors() == []
    exactly_once(chain, made, held)
    assert sum(held.quarantined["track"].values()) == 0
    assert off == 0


# -- NMEA garbage -------------------------------------------------------------------------------------


def garbage_burst(n: int, rng: random.Random) -> Callable[[World], None]:
    def inject(world: World) -> None:
        noise = bytes(rng.randrange(256) for _ in range(n))
        # binary junk, a torn sentence, a checksum that lies, and a sentence too long for the buffer
        world.ptys["gnss"].write(
            noise
            + b"$GPRMC,1200"
            + b"\r\n$GPGGA,120000.00,6010.2,N,02456.4,E,1,12,0.9,12.0,M,18.0,M,,*00\r\n"
            + b"$GP"
            + b"9" * 300
            + b"\r\n"
        )

    return inject


def test_time_jump(chain_factory: ChainFactory) -> None:
    """The receiver reports UTC an hour ahead for 200 s, across one of the firmware's 10-minute TIME
    records: ingest refuses that record as a glitch (``time_outlier``, counted) and dates every
    reading from the records that agree; none lost, none misdated."""
    van = block_van(10, time_jump=(1100.0, 200.0, 3600.0))
    with chain_factory() as chain:
        run, made, held = drive_and_read(chain, van)
        off = dated_right(chain.ingest.database_url, chain.device_id, START)
    assert run.errors() == []
    assert len(made.readings().time) >= 4
    exactly_once(chain, made, held)
    assert held.reasons[("decode", "time_outlier")] == 1, held.reasons
    assert sum(held.quarantined["track"].values()) == 0
    assert off == 0
    print(f"\ntime jump: 1 TIME record refused, {len(made.readings().track)} track rows dated right")


def test_nmea_garbage_bursts(chain_factory: ChainFactory) -> None:
    rng = random.Random(5)
    van = block_van(2, corrupt_prob=0.02)
    events = [(float(t), garbage_burst(rng.randrange(50, 2000), rng)) for t in range(60, 600, 37)]
    with chain_factory() as chain:
        run, made, held = drive_and_read(chain, van, events=events)
        traj = van.traj
    assert run.errors() == []
    exactly_once(chain, made, held)
    counters = run.last.stats["counters"]
    clean, crc_fails, garbage = counters[0], counters[1], counters[2]
    assert crc_fails > 0 and garbage > 0 and clean > 0
    # Garbage never becomes a position: every fix is on the block (within 60 m of the truth).
    track = made.readings().track
    fixed = track[track["fix"]]
    t = fixed["ticks"] / 1000.0
    x, y = HELSINKI.to_xy(fixed["lon"], fixed["lat"])
    tx, ty = traj.xy_at(traj.distance_at(t))
    assert float(np.max(np.hypot(x - tx, y - ty))) < 60.0
    assert len(fixed) > 0.8 * len(track)
    print(
        f"\nnmea garbage: {len(events)} bursts, crc fails {crc_fails}, garbage {garbage},"
        " lost 0, duplicates 0"
    )
