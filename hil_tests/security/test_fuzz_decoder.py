"""Fuzzing the chunk decoder with bytes mutated from real firmware chunks: no crash, no 5xx, and
either a clean refusal (nothing written) or the whole chunk stored (nothing partial).

Two kinds of mutants of chunks the firmware's own code encoded and signed on MicroPython:

- **raw**: bytes flipped, set, deleted, inserted, duplicated, or cut anywhere, the MAC left as it
  was. In process, :func:`parse_chunk` either raises :class:`ChunkError` or returns a chunk whose
  payloads :func:`decode_blocks` reads without raising. Over HTTP the real gateway refuses them
  (4xx) and its spool does not change.
- **re-signed**: payload bytes mutated inside blocks, CRCs recomputed and the chunk signed again
  with the van's key (what a buggy firmware would upload): they pass every envelope check and reach
  the record decoder at ingest, which must store all blocks (raw), count or quarantine what it cannot
  read, and never answer 5xx.

``make test`` draws a fixed sample; ``make test-long`` (FACTEUR_HYPOTHESIS=explore) ten times more.
"""

from __future__ import annotations

import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hil_tests.faults_server.support import row_counts, seqs_stored
from hil_tests.security.conftest import Depots
from hil_tests.security.test_bad_chunks import post_ingest
from ingest.records.decode import decode_blocks
from ingest.records.envelope import ChunkError, build_block, build_chunk, parse_chunk

pytestmark = pytest.mark.timeout(600)

SCALE = 10 if os.environ.get("FACTEUR_HYPOTHESIS") == "explore" else 1
OPS = ("flip", "set", "delete", "insert", "duplicate", "cut")


@st.composite
def raw_mutant(draw: st.DrawFn, bodies: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(bodies)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(OPS))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 40))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 60))]
        elif op == "cut":
            del data[at:]
    return bytes(data)


@st.composite
def payload_mutants(
    draw: st.DrawFn, blocks_of: list[list[tuple[int, int, bytes]]]
) -> list[tuple[int, int, bytes]]:
    """(boot_id, flags, payload) of a chunk's blocks, payload bytes mutated (CRC and MAC to be redone)."""
    blocks = [list(b) for b in draw(st.sampled_from(blocks_of))]
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(blocks) - 1))
        payload = bytearray(blocks[i][2])
        at = draw(st.integers(0, max(0, len(payload) - 1)))
        op = draw(st.sampled_from(OPS))
        if op in ("flip", "set") and payload:
            payload[at] = draw(st.integers(0, 255))
        elif op == "delete":
            del payload[at : at + draw(st.integers(1, 20))]
        elif op == "insert":
            payload[at:at] = draw(st.binary(min_size=1, max_size=30))
        elif op == "duplicate":
            payload[at:at] = payload[at : at + draw(st.integers(1, 40))]
        else:
            del payload[at:]
        blocks[i][2] = bytes(payload)
    return [(int(b[0]), int(b[1]), bytes(b[2])) for b in blocks]


def resign(device: str, key: bytes, first_seq: int, blocks: list[tuple[int, int, bytes]]) -> bytes:
    return build_chunk(
        device,
        key,
        [
            build_block(seq=first_seq + i, boot_id=boot, flags=flags, payload=p)
            for i, (boot, flags, p) in enumerate(blocks)
        ],
    )


def check_decodes(body: bytes, outcomes: Counter[str]) -> None:
    try:
        chunk = parse_chunk(body)
    except ChunkError as exc:
        outcomes[exc.reason] += 1
        return
    readings = decode_blocks(chunk.blocks)
    for table in (
        readings.track,
        readings.air,
        readings.co2,
        readings.coverage,
        readings.potholes,
        readings.health,
    ):
        assert set(table["seq"].tolist()) <= set(range(chunk.first_seq, chunk.last_seq + 1))
    outcomes["parsed, decode errors" if readings.errors else "parsed"] += 1


def test_decoder_never_crashes_on_mutated_firmware_chunks(depots: Depots, tally: Counter[str]) -> None:
    van = depots.a.vans[3]
    bodies = depots.chunks(van, first_seq=2000, blocks=24)
    blocks_of = [[(b.boot_id, b.flags, b.payload) for b in parse_chunk(c).blocks] for c in bodies]
    outcomes: Counter[str] = Counter()

    @given(raw_mutant(bodies))
    @settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
    def raw(body: bytes) -> None:
        check_decodes(body, outcomes)

    @given(payload_mutants(blocks_of))
    @settings(max_examples=200 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
    def resigned(blocks: list[tuple[int, int, bytes]]) -> None:
        body = resign(van[0], van[1], 7, blocks)
        assert parse_chunk(body).verify(van[1])
        check_decodes(body, outcomes)

    raw()
    resigned()
    tally["decoder (in process): mutated firmware chunk"] += sum(outcomes.values())
    # The mutants reached both the envelope checks and the record decoder.
    assert outcomes["parsed, decode errors"] > 0 and sum(outcomes.values()) > outcomes["parsed"], outcomes


def test_mutated_chunks_over_http_no_5xx_no_partial_write(depots: Depots, tally: Counter[str]) -> None:
    ingest, gw = depots.ingest, depots.a.gateway
    van = depots.a.vans[4]
    bodies = depots.chunks(van, first_seq=3000, blocks=16)
    blocks_of = [[(b.boot_id, b.flags, b.payload) for b in parse_chunk(c).blocks] for c in bodies]
    gw.wait_drained()
    counts = row_counts(ingest.database_url)
    statuses: Counter[int] = Counter()

    @given(raw_mutant(bodies))
    @settings(max_examples=20 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
    def at_gateway(body: bytes) -> None:
        if body in bodies:  # the mutations undid each other
            return
        r = gw.upload(body)
        statuses[r.status_code] += 1
        assert r.status_code in (400, 401, 403), r.text
        tally["gateway POST /v1/chunks: mutated firmware chunk"] += 1

    at_gateway()
    status: dict[str, Any] = gw.status()
    assert van[0] not in {v["device_id"] for v in status["vans"]} and status["backlog_chunks"] == 0
    assert row_counts(ingest.database_url) == counts  # nothing forwarded: nothing was spooled

    next_seq = [10_000]
    stored_blocks = [0]

    @given(payload_mutants(blocks_of))
    @settings(max_examples=20 * SCALE, deadline=None, suppress_health_check=list(HealthCheck))
    def at_ingest(blocks: list[tuple[int, int, bytes]]) -> None:
        body = resign(van[0], van[1], next_seq[0], blocks)
        next_seq[0] += len(blocks)
        r = post_ingest(ingest.url, depots.a.token, body)
        assert r.status_code == 200, r.text  # well formed and signed: stored whole, however odd inside
        assert (r.json()["accepted"], r.json()["duplicate"]) == (len(blocks), 0)
        stored_blocks[0] += len(blocks)
        tally["ingest POST /v1/chunks: re-signed mutated payloads"] += 1

    at_ingest()
    assert seqs_stored(ingest.database_url, van[0]) == (stored_blocks[0], stored_blocks[0])
