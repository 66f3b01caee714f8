"""The chunk API over real HTTP on the real database: dedup, trimming, end-to-end HMAC, errors."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE, join_batch
from ingest.chunks.synthetic import DEFAULT_START_UTC, synthetic_blocks
from ingest.records.envelope import build_chunk
from ingest.testing import IngestService

pytestmark = pytest.mark.timeout(120)


def post(svc: IngestService, token: str, body: bytes, media: str = BATCH_MEDIA_TYPE) -> httpx.Response:
    return httpx.post(
        f"{svc.url}/v1/chunks",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": media},
        timeout=30,
    )


def stored(svc: IngestService, device_id: str) -> tuple[int, int, int, list[tuple[int, int]]]:
    """(raw blocks, distinct seqs, track rows, recorded ranges) for one device."""
    with psycopg.connect(svc.database_url) as conn:
        blocks, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT s) FROM raw_runs, generate_series(first_seq, last_seq) s "
            "WHERE device_id = %s",
            (device_id,),
        ).fetchone() or (0, 0)
        track = conn.execute("SELECT count(*) FROM track WHERE device_id = %s", (device_id,)).fetchone()
        ranges = conn.execute(
            "SELECT first_seq, last_seq FROM chunk_ranges WHERE device_id = %s ORDER BY first_seq",
            (device_id,),
        ).fetchall()
    return int(blocks), int(distinct), int(track[0]) if track else 0, [(int(a), int(b)) for a, b in ranges]


def test_replays_are_noops_and_overlaps_are_trimmed(ingest_service: IngestService) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    blocks = synthetic_blocks(0, 30)
    first = build_chunk(device, key, blocks[:20])
    r = post(ingest_service, token, first, CHUNK_MEDIA_TYPE)
    assert r.status_code == 200, r.text
    assert (r.json()["accepted"], r.json()["duplicate"]) == (20, 0)
    r = post(ingest_service, token, first, CHUNK_MEDIA_TYPE)
    assert (r.json()["accepted"], r.json()["duplicate"]) == (0, 20)
    # Overlap 10..29 and, in the same batch, an exact replay of it.
    overlap = build_chunk(device, key, blocks[10:30])
    r = post(ingest_service, token, join_batch([overlap, overlap]))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["status"], x["accepted"], x["duplicate"]) for x in results] == [
        ("stored", 10, 10),
        ("stored", 0, 20),
    ]
    assert stored(ingest_service, device) == (30, 30, 300, [(0, 19), (20, 29)])


def test_a_gap_is_filled_later(ingest_service: IngestService) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    blocks = synthetic_blocks(100, 9)
    post(ingest_service, token, build_chunk(device, key, blocks[6:9]), CHUNK_MEDIA_TYPE)
    post(ingest_service, token, build_chunk(device, key, blocks[0:2]), CHUNK_MEDIA_TYPE)
    r = post(ingest_service, token, build_chunk(device, key, blocks), CHUNK_MEDIA_TYPE)
    assert (r.json()["accepted"], r.json()["duplicate"]) == (4, 5)
    # Blocks 6..8 came before the boot's time anchor (block 0): quarantined as undated until it
    # arrived, then dated and stored.
    assert stored(ingest_service, device)[:3] == (9, 9, 90)
    with psycopg.connect(ingest_service.database_url) as conn:
        q = conn.execute("SELECT count(*) FROM quarantine WHERE device_id = %s", (device,)).fetchone()
        times = conn.execute(
            "SELECT extract(epoch FROM time)::float8 FROM track WHERE device_id = %s ORDER BY time", (device,)
        ).fetchall()
    assert q == (0,)
    assert [t - times[0][0] for (t,) in times] == [float(i) for i in range(90)]


def test_readings_are_decoded_dated_and_copied(ingest_service: IngestService) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    # The anchor rides in block 0; blocks 5..9 arrive in a later chunk and are dated from it.
    post(ingest_service, token, build_chunk(device, key, synthetic_blocks(0, 5)), CHUNK_MEDIA_TYPE)
    post(
        ingest_service,
        token,
        build_chunk(device, key, synthetic_blocks(5, 5, boot_block=5)),
        CHUNK_MEDIA_TYPE,
    )
    with psycopg.connect(ingest_service.database_url) as conn:
        rows = conn.execute(
            "SELECT extract(epoch FROM time)::float8, lat, lon FROM track WHERE device_id = %s ORDER BY time",
            (device,),
        ).fetchall()
        air = conn.execute("SELECT count(*) FROM air WHERE device_id = %s", (device,)).fetchone()
        hourly = conn.execute(
            "SELECT readings, fixes, rms_n, round(peak_max::numeric, 2), "
            "round((rms_sum - (SELECT sum(rms) FROM track WHERE device_id = %s))::numeric, 6) "
            "FROM track_hourly WHERE device_id = %s",
            (device, device),
        ).fetchall()
    assert len(rows) == 100
    assert [round(r[0] - rows[0][0]) for r in rows] == list(range(100))
    assert rows[0][0] == DEFAULT_START_UTC
    assert rows[0][1] == pytest.approx(43.738)
    assert air is not None and air[0] == 1
    # The rollup the service keeps itself (no continuous aggregates in the Apache build).
    assert [tuple(float(x) for x in row) for row in hourly] == [(100, 100, 100, 0.2, 0)]


@pytest.mark.parametrize(
    ("start_utc", "reason"),
    [(1_500_000_000.0, "before_2020"), (4_000_000_000.0, "future")],
)
def test_implausible_times_are_quarantined_not_dropped(
    ingest_service: IngestService, start_utc: float, reason: str
) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    r = post(
        ingest_service,
        token,
        build_chunk(device, key, synthetic_blocks(0, 3, start_utc=start_utc)),
        CHUNK_MEDIA_TYPE,
    )
    assert r.status_code == 200
    with psycopg.connect(ingest_service.database_url) as conn:
        q = conn.execute(
            "SELECT kind, reason, count(*) FROM quarantine WHERE device_id = %s GROUP BY 1, 2 ORDER BY 1",
            (device,),
        ).fetchall()
        track = conn.execute("SELECT count(*) FROM track WHERE device_id = %s", (device,)).fetchone()
        # Each quarantined reading is kept whole, as a JSON object one can query field by field.
        kept = conn.execute(
            "SELECT jsonb_typeof(reading), (reading->>'seq')::int, reading ? 'ticks' FROM quarantine "
            "WHERE device_id = %s ORDER BY seq, (reading->>'ticks')::bigint",
            (device,),
        ).fetchall()
    assert q == [("track", reason, 30)]
    assert {k[0] for k in kept} == {"object"}
    assert sorted({k[1] for k in kept}) == [0, 1, 2]
    assert all(k[2] for k in kept)
    assert track == (0,)
    metrics = httpx.get(f"{ingest_service.url}/metrics", timeout=10).text
    assert f'facteur_ingest_quarantined_total{{kind="track",reason="{reason}"}}' in metrics


def test_undated_readings_are_quarantined(ingest_service: IngestService) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    post(
        ingest_service,
        token,
        build_chunk(device, key, synthetic_blocks(3, 2, boot_block=3)),
        CHUNK_MEDIA_TYPE,
    )
    with psycopg.connect(ingest_service.database_url) as conn:
        q = conn.execute(
            "SELECT reason, count(*) FROM quarantine WHERE device_id = %s GROUP BY 1", (device,)
        ).fetchall()
    assert q == [("no_time", 20)]


def test_forged_and_altered_chunks_are_rejected(ingest_service: IngestService) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    blocks = synthetic_blocks(0, 3)
    good = build_chunk(device, key, blocks)
    forged = build_chunk(device, bytes(32), blocks)
    altered_mac = good[:-1] + bytes([good[-1] ^ 1])
    altered_payload = bytearray(good)
    altered_payload[60] ^= 0x10
    unknown = build_chunk("van-nobody", key, blocks)
    cases = [
        (forged, 401, "bad_mac"),
        (altered_mac, 401, "bad_mac"),
        (bytes(altered_payload), 400, "bad_crc"),
        (unknown, 403, "unknown_device"),
        (b"garbage", 400, "bad_magic"),
    ]
    for body, status, error in cases:
        r = post(ingest_service, token, body, CHUNK_MEDIA_TYPE)
        assert (r.status_code, r.json()["error"]) == (status, error)
    # In a batch, the bad ones are reported one by one and the good one is stored.
    r = post(ingest_service, token, join_batch([forged, good, bytes(altered_payload)]))
    assert r.status_code == 200
    assert [(x["status"], x["error"]) for x in r.json()["results"]] == [
        ("rejected", "bad_mac"),
        ("stored", None),
        ("rejected", "bad_crc"),
    ]
    assert stored(ingest_service, device)[:2] == (3, 3)
    metrics = httpx.get(f"{ingest_service.url}/metrics", timeout=10).text
    assert 'facteur_ingest_chunk_rejections_total{reason="bad_mac"}' in metrics
    assert 'facteur_ingest_chunk_requests_total{status="401"}' in metrics


def test_requests_without_a_valid_token_or_body_are_refused(ingest_service: IngestService) -> None:
    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    body = build_chunk(device, key, synthetic_blocks(0, 1))
    assert post(ingest_service, "wrong", body).status_code == 401
    r = httpx.post(f"{ingest_service.url}/v1/chunks", content=body, timeout=10)
    assert (r.status_code, r.json()["error"]) == (401, "unauthorized")
    assert post(ingest_service, token, body, "application/octet-stream").status_code == 415
    r = post(ingest_service, token, b"FBT1\xff\xff\x00\x00abc")
    assert (r.status_code, r.json()["error"]) == (400, "batch_bad_length")
    r = post(ingest_service, token, b"x" * (8 * 1024 * 1024 + 1))
    assert (r.status_code, r.json()["error"]) == (413, "too_large")


def test_retention_drops_whole_old_chunks_only(ingest_service: IngestService) -> None:
    import asyncio  # noqa: PLC0415
    from datetime import timedelta  # noqa: PLC0415

    from ingest.core.retention import drop_old_chunks  # noqa: PLC0415
    from ingest.db import open_pool  # noqa: PLC0415

    device, key = ingest_service.add_device()
    _, token = ingest_service.add_gateway()
    old = 1_610_000_000.0  # January 2021: older than any other test's data
    post(
        ingest_service,
        token,
        build_chunk(device, key, synthetic_blocks(0, 2, start_utc=old)),
        CHUNK_MEDIA_TYPE,
    )

    async def run() -> int:
        pool = await open_pool(ingest_service.database_url, 2)
        try:
            return await drop_old_chunks(pool, timedelta(days=4 * 365))
        finally:
            await pool.close()

    assert asyncio.run(run()) >= 1
    with psycopg.connect(ingest_service.database_url) as conn:
        assert conn.execute("SELECT count(*) FROM track WHERE device_id = %s", (device,)).fetchone() == (0,)
        # The record of what arrived stays: a replay of the old chunk is still a no-op.
        assert conn.execute(
            "SELECT count(*) FROM chunk_ranges WHERE device_id = %s", (device,)
        ).fetchone() == (1,)


def test_a_gateway_cannot_write_for_another_depots_device(ingest_service: IngestService) -> None:
    ours, our_key = ingest_service.add_device("depot-north")
    theirs, their_key = ingest_service.add_device("depot-south")
    _, token = ingest_service.add_gateway("depot-north")
    foreign = build_chunk(theirs, their_key, synthetic_blocks(0, 3))
    r = post(ingest_service, token, foreign, CHUNK_MEDIA_TYPE)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "foreign_device"
    # In a batch, the foreign chunk is rejected and explained; our own van's chunk is stored.
    own = build_chunk(ours, our_key, synthetic_blocks(0, 3))
    r = post(ingest_service, token, join_batch([foreign, own]))
    assert r.status_code == 200, r.text
    assert [(x["status"], x["error"]) for x in r.json()["results"]] == [
        ("rejected", "foreign_device"),
        ("stored", None),
    ]
    assert stored(ingest_service, theirs) == (0, 0, 0, [])
    assert stored(ingest_service, ours)[:3] == (3, 3, 30)
