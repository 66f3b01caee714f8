"""Unsigned, forged, truncated and altered chunks are refused at EACH hop, and nothing is written.

The good chunk is encoded and signed by the firmware's own code on the MicroPython unix port; every
spoiled variant of it (``hil_tests/security/tamper.py``) goes to the depot gateway (the van's hop)
and straight to ingest with a valid gateway token (the gateway's hop: ingest does not trust the
gateway), alone and inside a batch with a good chunk. Row counts of every table are compared
before and after; the refusal counters of both services must account for every refusal.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from hil_tests.faults_server.support import metric, readings_stored, row_counts, scrape
from hil_tests.security.conftest import Depots
from hil_tests.security.tamper import spoiled
from ingest.chunks.batch import BATCH_MEDIA_TYPE, CHUNK_MEDIA_TYPE, join_batch
from ingest.records.envelope import parse_chunk

pytestmark = pytest.mark.timeout(180)


def post_ingest(url: str, token: str, body: bytes, media: str = CHUNK_MEDIA_TYPE) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/chunks",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": media},
        timeout=30,
    )


def test_spoiled_chunks_are_refused_at_both_hops_with_nothing_written(
    depots: Depots, tally: Counter[str]
) -> None:
    ingest, gw = depots.ingest, depots.a.gateway
    (van, key), (other_van, _) = depots.a.vans[:2]
    good = depots.chunks((van, key), first_seq=0)[0]
    cases = spoiled(good, key, other_van=other_van)
    gw.wait_drained()
    counts = row_counts(ingest.database_url)
    gw_before, ingest_before = scrape(gw.url), scrape(ingest.url)
    reasons: Counter[str] = Counter()
    errors: list[str] = []
    for name, bad, (status, reason) in cases:
        at_gateway = gw.upload(bad)
        at_ingest = post_ingest(ingest.url, depots.a.token, bad)
        for hop, r in (("gateway", at_gateway), ("ingest", at_ingest)):
            assert r.status_code == status, (hop, name, r.text)
            error = r.json()["error"]
            assert reason is None or error == reason, (hop, name, error)
            tally[f"{hop} POST /v1/chunks: {name.split(':')[0].split(' at ')[0]}"] += 1
        assert at_gateway.json()["error"] == at_ingest.json()["error"], name  # one verdict, both hops
        reasons[at_gateway.json()["error"]] += 1
        errors.append(at_gateway.json()["error"])
    # A batch framing an empty chunk is refused whole (before any chunk is looked at).
    everything = join_batch([b for _, b, _ in cases] + [good])
    r = post_ingest(ingest.url, depots.a.token, everything, BATCH_MEDIA_TYPE)
    assert (r.status_code, r.json()["error"]) == (400, "batch_bad_length"), r.text
    tally["ingest POST /v1/chunks (batch): bad framing"] += 1
    # The other bad chunks inside one batch with the good one: refused one by one, the good one stored.
    framed = [(b, e) for (_, b, _), e in zip(cases, errors, strict=True) if b]
    r = post_ingest(ingest.url, depots.a.token, join_batch([b for b, _ in framed] + [good]), BATCH_MEDIA_TYPE)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == ["rejected"] * len(framed) + ["stored"]
    assert [x["error"] for x in results[:-1]] == [e for _, e in framed]
    assert (results[-1]["accepted"], r.json()["rejected"]) == (8, len(framed))
    tally["ingest POST /v1/chunks (batch): spoiled chunk"] += len(framed)

    # Nothing of any refused chunk was written anywhere: the only new rows are the good chunk's.
    after = row_counts(ingest.database_url)
    good_rows = readings_stored(ingest.database_url, van)
    expected = dict(counts, chunk_ranges=counts["chunk_ranges"] + 1, raw_runs=counts["raw_runs"] + 1)
    for table in ("track", "air", "co2", "coverage", "potholes", "quarantine"):
        expected[table] = counts[table] + good_rows[table]
    expected["boot_anchors"] = after["boot_anchors"]  # the good chunk's boot anchor (one or none)
    expected["device_health"] = after["device_health"]
    assert after == expected
    assert good_rows["track"] == 80 and good_rows["quarantine"] == 0
    assert gw.status()["backlog_chunks"] == 0
    assert van not in {v["device_id"] for v in gw.status()["vans"]}  # type: ignore[attr-defined]

    # Every refusal is counted with its reason, at each hop.
    gw_after, ingest_after = scrape(gw.url), scrape(ingest.url)
    for reason, n in reasons.items():
        name = "facteur_gateway_upload_rejections_total"
        assert metric(gw_after, name, reason=reason) - metric(gw_before, name, reason=reason) == n, reason
        name = "facteur_ingest_chunk_rejections_total"
        in_batch = sum(1 for _, e in framed if e == reason)
        assert (
            metric(ingest_after, name, reason=reason) - metric(ingest_before, name, reason=reason)
            == n + in_batch
        )
    for status in ("400", "401"):
        name = "facteur_ingest_chunk_requests_total"
        # Plus the batch refused whole for its framing.
        expected_n = sum(1 for _, _, (s, _) in cases if str(s) == status) + (status == "400")
        assert (
            metric(ingest_after, name, status=status) - metric(ingest_before, name, status=status)
            == expected_n
        )


def test_replays_are_acknowledged_and_write_nothing_at_either_hop(
    depots: Depots, tally: Counter[str]
) -> None:
    ingest, gw = depots.ingest, depots.a.gateway
    van = depots.a.vans[1]
    first, second = depots.chunks(van, first_seq=0, blocks=16)
    for body in (first, second):
        assert gw.upload(body).status_code == 200
    gw.wait_drained()
    counts = row_counts(ingest.database_url)
    gw_before, ingest_before = scrape(gw.url), scrape(ingest.url)

    # At the gateway: a retransmission is acknowledged (the van may have missed the reply), not stored.
    r = gw.upload(first)
    assert r.status_code == 200 and r.json()["acked_seq"] == 15
    assert gw.status()["backlog_chunks"] == 0
    tally["gateway POST /v1/chunks: replayed"] += 1
    # At ingest: single replays and a batch replaying both (and one twice) are no-ops.
    for body in (first, second):
        r = post_ingest(ingest.url, depots.a.token, body)
        assert (r.status_code, r.json()["accepted"], r.json()["duplicate"]) == (200, 0, 8)
    r = post_ingest(ingest.url, depots.a.token, join_batch([first, second, first]), BATCH_MEDIA_TYPE)
    assert (r.status_code, r.json()["accepted"], r.json()["duplicate"]) == (200, 0, 24)
    tally["ingest POST /v1/chunks: replayed"] += 5

    assert row_counts(ingest.database_url) == counts
    gw_after, ingest_after = scrape(gw.url), scrape(ingest.url)
    name = "facteur_gateway_uploads_total"
    assert (
        metric(gw_after, name, outcome="retransmission") - metric(gw_before, name, outcome="retransmission")
        == 1
    )
    assert metric(gw_after, name, outcome="stored") == metric(gw_before, name, outcome="stored")
    name = "facteur_ingest_blocks_total"
    assert (
        metric(ingest_after, name, outcome="duplicate") - metric(ingest_before, name, outcome="duplicate")
        == 40
    )
    assert metric(ingest_after, name, outcome="accepted") == metric(ingest_before, name, outcome="accepted")
    assert parse_chunk(first).device_id == van[0]
