"""The spool alone (a real SQLite file): acknowledgement rules, forwarding marks, retention."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from gateway.spool import Spool
from ingest.chunks.synthetic import synthetic_blocks
from ingest.records.envelope import Chunk, build_chunk, parse_chunk

KEY = secrets.token_bytes(32)
BLOCKS = synthetic_blocks(100, 30)


def chunk(first: int, last: int, device: str = "van-1") -> tuple[Chunk, bytes]:
    body = build_chunk(device, KEY, BLOCKS[first - 100 : last - 100 + 1])
    return parse_chunk(body), body


# (uploads as (first, last), expected (acked_seq, stored) after each)
CASES = [
    ([(100, 109)], [(109, True)]),
    ([(100, 109), (100, 109)], [(109, True), (109, False)]),  # retransmission
    ([(100, 109), (105, 119)], [(109, True), (119, True)]),  # overlap: stored whole, ingest trims
    ([(100, 109), (110, 119), (100, 104)], [(109, True), (119, True), (119, False)]),  # old part again
    # After a gap (blocks uploaded elsewhere, or dropped by the van): stored, acked to its end;
    # filling the gap later joins the runs.
    ([(100, 109), (112, 119), (110, 111)], [(109, True), (119, True), (119, True)]),
    ([(100, 109), (115, 119), (105, 112)], [(109, True), (119, True), (112, True)]),
    ([(110, 119)], [(119, True)]),
]


@pytest.mark.parametrize(("uploads", "acks"), CASES)
def test_acknowledgements(
    tmp_path: Path, uploads: list[tuple[int, int]], acks: list[tuple[int, bool]]
) -> None:
    spool = Spool(tmp_path)
    try:
        for (first, last), expected in zip(uploads, acks, strict=True):
            c, body = chunk(first, last)
            outcome = spool.put(c, body, None)
            assert (outcome.acked_seq, outcome.stored) == expected
    finally:
        spool.close()


def test_survives_reopening_and_keeps_forwarded_chunks_for_a_while(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for first, last in [(100, 109), (110, 119), (120, 129)]:
        c, body = chunk(first, last)
        spool.put(c, body, 1.7e9)
    spool.close()
    spool = Spool(tmp_path)  # a restart
    try:
        pending = spool.pending(max_chunks=10, max_bytes=1)
        assert [(p.first_seq, p.last_seq) for p in pending] == [(100, 109)]  # always one, even if large
        pending = spool.pending(max_chunks=2, max_bytes=1 << 20)
        spool.mark_forwarded(pending)
        assert [(p.first_seq, p.last_seq) for p in spool.pending(10, 1 << 20)] == [(120, 129)]
        assert spool.purge_forwarded(older_than_s=3600) == 0  # kept for the configured time
        assert spool.purge_forwarded(older_than_s=-1) == 2
        assert spool.backlog()[0] == 1
        (van,) = spool.vans()
        assert (van.acked_seq, van.backlog_chunks, van.backlog_blocks) == (129, 1, 10)
        assert van.last_sync is not None
    finally:
        spool.close()
