"""One depot's gateway token cannot write (or read the keys of) another depot's vans.

Van A belongs to depot A. Depot B's gateway, and anyone holding depot B's token, try to push van
A's genuine, correctly signed chunk (a stolen upload replayed elsewhere): ingest refuses it as
``foreign_device``, gateway B as ``unknown_device`` (its key cache only holds its own depot's vans),
and depot B's key sync never returns van A's key. Nothing of van A is written until its own depot's
gateway relays it.
"""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from hil_tests.faults_server.support import metric, readings_stored, row_counts, scrape, seqs_stored
from hil_tests.security.conftest import Depots
from hil_tests.security.test_bad_chunks import post_ingest
from ingest.chunks.batch import BATCH_MEDIA_TYPE, join_batch

pytestmark = pytest.mark.timeout(120)


def test_another_depots_token_cannot_write_a_van(depots: Depots, tally: Counter[str]) -> None:
    ingest = depots.ingest
    van_a, van_b = depots.a.vans[2], depots.b.vans[0]
    stolen = depots.chunks(van_a, first_seq=100)[0]
    own = depots.chunks(van_b, first_seq=0)[0]
    depots.a.gateway.wait_drained()
    depots.b.gateway.wait_drained()
    counts = row_counts(ingest.database_url)
    a_before = seqs_stored(ingest.database_url, van_a[0])
    before = scrape(ingest.url)

    r = post_ingest(ingest.url, depots.b.token, stolen)
    assert (r.status_code, r.json()["error"]) == (403, "foreign_device"), r.text
    r = post_ingest(ingest.url, depots.b.token, join_batch([stolen, own]), BATCH_MEDIA_TYPE)
    assert r.status_code == 200, r.text
    assert [(x["status"], x["error"]) for x in r.json()["results"]] == [
        ("rejected", "foreign_device"),
        ("stored", None),
    ]
    r = depots.b.gateway.upload(stolen)
    assert (r.status_code, r.json()["error"]) == (403, "unknown_device"), r.text
    tally["ingest POST /v1/chunks: another depot's van"] += 2
    tally["gateway POST /v1/chunks: another depot's van"] += 1

    # Depot B's key sync lists depot B's vans only: no key of van A ever reaches gateway B.
    r = httpx.get(
        f"{ingest.url}/v1/gateway/devices", headers={"Authorization": f"Bearer {depots.b.token}"}, timeout=10
    )
    assert r.status_code == 200
    listed = {d["device_id"] for d in r.json()["devices"]}
    assert listed == {v for v, _ in depots.b.vans}

    assert seqs_stored(ingest.database_url, van_a[0]) == a_before
    after = row_counts(ingest.database_url)
    assert (after["raw_runs"], after["chunk_ranges"]) == (counts["raw_runs"] + 1, counts["chunk_ranges"] + 1)
    assert readings_stored(ingest.database_url, van_b[0])["track"] == 80
    name = "facteur_ingest_chunk_rejections_total"
    assert (
        metric(scrape(ingest.url), name, reason="foreign_device")
        - metric(before, name, reason="foreign_device")
        == 2
    )

    # The same bytes through van A's own depot: stored (the chunk itself was never the problem).
    assert depots.a.gateway.upload(stolen).status_code == 200
    depots.a.gateway.wait_drained()
    assert seqs_stored(ingest.database_url, van_a[0]) == (a_before[0] + 8, a_before[1] + 8)
