"""Real gateway processes, the real ingest service, the real TimescaleDB: nothing lost, nothing twice."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.testing import GatewayProcess, open_spool
from ingest.app import create_app
from ingest.chunks.synthetic import DEFAULT_START_UTC, synthetic_blocks
from ingest.records.envelope import build_block, build_chunk, parse_chunk
from ingest.testing import IngestService, LiveServer, free_port, ingest_settings

pytestmark = pytest.mark.timeout(180)


#: A window that is never now (one minute, twelve hours away): the gateway holds its spool.
def closed_window() -> str:
    t = time.localtime(time.time() + 12 * 3600)
    return f"{t.tm_hour:02d}:{t.tm_min:02d}-{t.tm_hour:02d}:{(t.tm_min + 1) % 60:02d}"


def stored(database_url: str, device_id: str) -> tuple[int, int, int]:
    """(raw blocks, distinct seqs, track rows) at ingest for one device."""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*), count(DISTINCT s), (SELECT count(*) FROM track WHERE device_id = %s) "
            "FROM raw_runs, generate_series(first_seq, last_seq) s WHERE device_id = %s",
            (device_id, device_id),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2])


def test_uploaded_twice_forwarded_twice_replayed_after_restart_is_stored_once(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-e2e"
    device, key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    _, token2 = ingest_service.add_gateway(depot)
    blocks = synthetic_blocks(0, 20)
    first, second = build_chunk(device, key, blocks[:10]), build_chunk(device, key, blocks[5:20])

    g = GatewayProcess(tmp_path / "spool", ingest_service.url, token).start()
    gateways.append(g)
    # Uploaded twice: the retransmission is acknowledged and not stored again.
    for _ in range(2):
        r = g.upload(first)
        assert r.status_code == 200, r.text
        assert r.json() == {"device_id": device, "acked_seq": 9}
    g.wait_drained()
    assert stored(ingest_service.database_url, device) == (10, 10, 100)

    # Forwarded twice: the gateway dies after ingest committed but before it recorded that
    # (simulated by clearing forwarded_at while it is down); on restart it forwards again.
    g.kill()
    with open_spool(tmp_path / "spool") as db:
        assert db.execute("UPDATE chunks SET forwarded_at = NULL").rowcount == 1
    g.start()
    status = g.wait_drained()
    # And a second gateway of the depot receives and forwards the same chunk.
    g2 = GatewayProcess(tmp_path / "spool2", ingest_service.url, token2).start()
    gateways.append(g2)
    assert g2.upload(first).json()["acked_seq"] == 9
    g2.wait_drained()
    assert stored(ingest_service.database_url, device) == (10, 10, 100)

    # Replayed after the restart: the old chunk again (acknowledged, not stored), then an
    # overlapping one (stored whole at the gateway, trimmed at ingest).
    assert g.upload(first).json()["acked_seq"] == 9
    r = g.upload(second)
    assert r.json() == {"device_id": device, "acked_seq": 19}
    status = g.wait_drained()
    assert stored(ingest_service.database_url, device) == (20, 20, 200)
    van = next(v for v in status["vans"] if v["device_id"] == device)  # type: ignore[attr-defined]
    assert van["acked_seq"] == 19 and van["backlog_chunks"] == 0 and van["last_sync"] is not None
    assert van["newest_reading_utc"] == pytest.approx(DEFAULT_START_UTC + 199, abs=1)


def test_forged_or_altered_chunks_are_rejected_at_both_hops(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-forgery"
    device, key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    blocks = synthetic_blocks(0, 4)
    good = build_chunk(device, key, blocks)
    g = GatewayProcess(
        tmp_path / "spool", ingest_service.url, token, FACTEUR_GATEWAY_FORWARD_WINDOW=closed_window()
    )
    gateways.append(g.start())

    # First hop: the gateway refuses what the van's key did not sign, or what changed on the way.
    altered = bytearray(good)
    altered[40] ^= 0x01
    cases = [
        (build_chunk(device, bytes(32), blocks), 401, "bad_mac"),
        (good[:-1] + bytes([good[-1] ^ 0x80]), 401, "bad_mac"),
        (bytes(altered), 400, "bad_crc"),
        (build_chunk("van-stranger", key, blocks), 403, "unknown_device"),
        (good[:30], 400, "truncated"),
    ]
    for body, status, error in cases:
        r = g.upload(body)
        assert (r.status_code, r.json()["error"]) == (status, error)
    assert g.upload(good).json()["acked_seq"] == 3
    metrics = httpx.get(f"{g.url}/metrics", timeout=10).text
    assert 'facteur_gateway_upload_rejections_total{reason="bad_mac"} 2.0' in metrics

    # Second hop: the spooled copy is altered on the gateway's disk; ingest refuses it.
    g.kill()
    with open_spool(tmp_path / "spool") as db:
        (body,) = db.execute("SELECT body FROM chunks").fetchone()
        # Change a reading and fix up the block's CRC: only the device's HMAC can tell.
        last = parse_chunk(body).blocks[-1]
        payload = bytearray(last.payload)
        payload[-1] ^= 0x01
        block = build_block(seq=last.seq, boot_id=last.boot_id, flags=last.flags, payload=bytes(payload))
        db.execute("UPDATE chunks SET body = ?", (body[: -32 - len(block)] + block + body[-32:],))
    g.start(FACTEUR_GATEWAY_FORWARD_WINDOW="")
    deadline = time.monotonic() + 30
    while (van := g.status()["vans"][0])["rejected_chunks"] != 1:  # type: ignore[index]
        assert time.monotonic() < deadline, van
        time.sleep(0.1)
    assert stored(ingest_service.database_url, device) == (0, 0, 0)
    metrics = httpx.get(f"{g.url}/metrics", timeout=10).text
    assert 'facteur_gateway_forward_rejected_total{reason="bad_mac"} 1.0' in metrics


def test_an_ingest_outage_delays_but_loses_nothing(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-outage"
    device, key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    port = free_port()
    ingest_url = f"http://127.0.0.1:{port}"
    settings = ingest_settings(ingest_service.database_url)
    with LiveServer(create_app(settings), port=port):
        g = GatewayProcess(tmp_path / "spool", ingest_url, token).start()
        gateways.append(g)
        assert g.upload(build_chunk(device, key, synthetic_blocks(0, 5))).status_code == 200
        g.wait_drained()
    # Ingest is down: the vans keep uploading, the gateway keeps everything and keeps trying.
    blocks = synthetic_blocks(5, 30, boot_block=5)
    for i in range(0, 30, 10):
        r = g.upload(build_chunk(device, key, blocks[i : i + 10]))
        assert r.json()["acked_seq"] == 5 + i + 9
    time.sleep(1.0)
    status = g.status()
    assert status["backlog_chunks"] == 3
    assert status["forwarder"]["consecutive_failures"] >= 1  # type: ignore[index]
    # A gateway restart during the outage changes nothing.
    g.kill()
    g.start()
    assert g.status()["backlog_chunks"] == 3
    with LiveServer(create_app(settings), port=port):
        g.wait_drained()
    assert stored(ingest_service.database_url, device) == (35, 35, 350)


def test_gaps_garbage_and_the_forwarding_window(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-gap"
    device, key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    g = GatewayProcess(
        tmp_path / "spool", ingest_service.url, token, FACTEUR_GATEWAY_FORWARD_WINDOW=closed_window()
    )
    gateways.append(g.start())
    blocks = synthetic_blocks(50, 10)
    assert g.upload(build_chunk(device, key, blocks[:3])).json()["acked_seq"] == 52
    # Blocks 53..54 went to another depot (or the van dropped them): 55..59 are stored anyway.
    assert g.upload(build_chunk(device, key, blocks[5:])).json()["acked_seq"] == 59
    # If 53..54 turn up after all, the runs join.
    assert g.upload(build_chunk(device, key, blocks[3:5])).json()["acked_seq"] == 59
    r = g.upload(b"FCH1 not really")
    assert r.status_code == 400
    r = httpx.post(f"{g.url}/v1/chunks", content=b"x", headers={"Content-Type": "text/plain"}, timeout=10)
    assert r.status_code == 415
    r = httpx.post(
        f"{g.url}/v1/chunks",
        content=b"x" * (4 * 1024 * 1024 + 1),
        headers={"Content-Type": "application/vnd.facteur.chunk"},
        timeout=10,
    )
    assert r.status_code == 413
    status = g.status()
    assert status["backlog_chunks"] == 3
    assert status["forwarder"]["in_window"] is False  # type: ignore[index]


@pytest.mark.long
def test_the_bandwidth_cap_spaces_batches_out(
    ingest_service: IngestService, gateways: list[GatewayProcess], tmp_path: Path
) -> None:
    depot = "depot-slow-link"
    device, key = ingest_service.add_device(depot)
    _, token = ingest_service.add_gateway(depot)
    chunks = [build_chunk(device, key, synthetic_blocks(10 * i, 10, boot_block=10 * i)) for i in range(4)]
    rate = 2 * len(chunks[0])  # bytes/s: two chunks a second
    g = GatewayProcess(
        tmp_path / "spool",
        ingest_service.url,
        token,
        FACTEUR_GATEWAY_FORWARD_WINDOW=closed_window(),
        FACTEUR_GATEWAY_BATCH_MAX_CHUNKS="1",
        FACTEUR_GATEWAY_BANDWIDTH_BYTES_PER_SECOND=str(rate),
    )
    gateways.append(g.start())
    for body in chunks:
        assert g.upload(body).status_code == 200
    g.stop()
    started = time.monotonic()
    g.start(FACTEUR_GATEWAY_FORWARD_WINDOW="")
    g.wait_drained()
    # Four sends of one chunk each, spaced by len/rate: at least 1.5 s after the first.
    assert time.monotonic() - started >= 1.4
    assert stored(ingest_service.database_url, device) == (40, 40, 400)
