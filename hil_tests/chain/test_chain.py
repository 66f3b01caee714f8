"""A short round through the whole chain: firmware -> real gateway -> real ingest -> TimescaleDB.

Every reading the firmware made durable (what it uploaded, as the depot Wi-Fi saw it, and what is
left on its flash) is in the database exactly once, per table, per (seq, ticks).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hil_tests.chain.harness import Chain, compare
from simulators.gnss import GnssConfig
from simulators.loops import block_loop
from simulators.scenario import make_van

pytestmark = pytest.mark.timeout(300)


def test_short_round_lands_in_the_database_exactly_once(chain_factory: Callable[..., Chain]) -> None:
    with chain_factory() as chain:
        van, _ = make_van(block_loop(laps=2), seed=11, gnss=GnssConfig(ttff_s=20.0), tail_s=180.0)
        run = chain.drive(chain.world(van))
        assert run.errors() == []
        assert run.summary["finished"]
        status = chain.settle()
        made = chain.produced(run)
        held = chain.stored()
    # The van uploaded at the depot it passes each lap; at most the blocks sealed after its last
    # upload stay on flash (and are not in the database yet).
    assert made.bad_mac == 0 and made.uploaded
    assert made.seqs == list(range(len(made.seqs)))
    uploaded = made.uploaded
    assert held.seqs() == sorted(uploaded)
    result = compare(made.keys(), held, seqs=uploaded)
    assert result.exact, result
    assert result.produced["track"] >= 0.9 * min(uploaded.__len__() * 10, run.last.stats["seconds"])
    assert sum(result.quarantined.values()) == 0
    van_status = next(v for v in status["vans"] if v["device_id"] == chain.device_id)
    assert van_status["acked_seq"] == max(uploaded)
    assert chain.tap is not None and chain.tap.counts.statuses == {200: len(chain.tap.bodies)}
