"""The whole firmware on the unix port against the simulators: a short round, uploaded at the depot.

The long variant drives an 8-hour round under a 64 KiB heap (``make test-long``), the firmware
frozen into the unix port (``harness.frozen_micropython``); the figures
(bytes per second, CPU per simulated second, heap) are measured by ``bench/bench_firmware.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hil_tests.firmware.harness import frozen_source_ready, run_round
from ingest.records import parse_blocks


@pytest.fixture(scope="module")
def short_round(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    return run_round(tmp_path_factory.mktemp("round"), laps=1, heap="128k", timeout=300)


def test_round_runs_to_the_end(short_round) -> None:  # type: ignore[no-untyped-def]
    r = short_round
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.fw["task_errors"] == 0 and r.fw["init_errors"] == 0
    assert r.summary["finished"]
    assert r.summary["accel_lost"] == 0  # the FIFO is drained in time
    assert r.fw["seconds"] >= int(r.sim_seconds) - 2


def test_few_link_requests_per_simulated_second(short_round) -> None:  # type: ignore[no-untyped-def]
    """Issue 4: the host link is the lockstep round's cost. One wake per accelerometer FIFO drain (4 a
    second, the other tasks on the same wakes), each drain one FIFO_SRC read and one burst read.
    Counts, not timings: the simulator tallies every request by op."""
    r = short_round
    req = r.summary["requests"]
    sim = r.sim_seconds
    assert req.get("0x03", 0) / sim <= 5.0  # SLEEP_UNTIL (4 a second; 10 during the depot upload)
    assert req.get("0x12", 0) / sim <= 8.1  # I2C_READ_MEM: 2 per drain
    assert sum(req.values()) / sim <= 15.0  # was 21.8 with 9 wakes a second
    assert r.fw["counters"][11] == 0  # no FIFO overrun seen by the driver


def test_every_block_reaches_the_gateway_in_order(short_round) -> None:  # type: ignore[no-untyped-def]
    r = short_round
    blocks = parse_blocks(r.blocks)
    seqs = [b.seq for b in blocks]
    assert seqs == list(range(len(seqs)))
    assert blocks[0].first_after_boot and not any(b.first_after_boot for b in blocks[1:])
    # Uploaded at the depot; only what was sealed after the last upload (at shutdown) stays on flash.
    assert len(blocks) - 2 <= r.gateway_blocks <= len(blocks)
    assert r.fw["acked"] == r.gateway_blocks - 1


def test_readings_decode_with_utc_for_every_second(short_round) -> None:  # type: ignore[no-untyped-def]
    r = short_round
    rd = r.readings
    assert rd.errors == []
    t = rd.track
    assert len(t) == r.fw["seconds"]
    assert t["fix"].mean() > 0.8
    assert not t["fix"][0]  # cold start: no fix in the first second
    assert np.isfinite(t["utc"]).all()  # readings before the first fix got their UTC afterwards
    assert np.all(np.diff(t["utc"]) > 0.5)
    assert np.isfinite(t["rms"]).mean() > 0.99
    assert len(rd.air) >= int(r.sim_seconds // 30) - 2
    assert len(rd.co2) >= int(r.sim_seconds // 30) - 2
    assert len(rd.coverage) >= int(r.sim_seconds // 60) - 2
    lat = t["lat"][t["fix"]]
    assert np.all(np.abs(lat - 60.17) < 0.02)  # the simulators' Helsinki block


@pytest.mark.long
def test_eight_hour_round(tmp_path: Path) -> None:
    """A whole 8-h round (108 laps) under a 64 KiB heap, the firmware frozen into the binary as on a
    production board: no task error, every second decoded, the upload at the depot under way."""
    r = run_round(tmp_path, laps=108, heap="64k", frozen=True, timeout=3000)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "MemoryError" not in r.stdout + r.stderr
    assert r.fw["task_errors"] == 0 and r.fw["init_errors"] == 0
    blocks = parse_blocks(r.blocks)
    assert [b.seq for b in blocks] == list(range(len(blocks)))
    # The depot upload ran under the same heap: it starts when the van parks at the depot at the end
    # and goes on until the simulation stops (how far it gets depends on the machine's speed, as the
    # clock keeps advancing while the socket works): several chunks, acked only once stored.
    assert r.fw["uploaded_chunks"] >= 2 and r.gateway_blocks >= 90
    assert 0 <= r.fw["acked"] < r.gateway_blocks
    assert r.sim_seconds > 7.5 * 3600
    assert len(r.readings.track) == r.fw["seconds"]
    assert r.readings.errors == []
    assert len(r.readings.health) >= 40
    assert r.fw["bytes"] / r.sim_seconds <= 10.0


def test_short_round_frozen_in_64k(tmp_path: Path) -> None:
    """The build the 8-h round uses (firmware frozen in), on a short round under the 64 KiB budget."""
    if not frozen_source_ready():
        pytest.skip("the frozen build's source is not in the cache yet: make firmware-frozen")
    r = run_round(tmp_path, laps=1, heap="64k", frozen=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.fw["task_errors"] == 0 and r.fw["init_errors"] == 0
    blocks = parse_blocks(r.blocks)
    assert [b.seq for b in blocks] == list(range(len(blocks)))
    assert r.fw["acked"] == r.gateway_blocks - 1 and r.gateway_blocks >= len(blocks) - 2


def test_round_on_a_littlefs_image(tmp_path: Path) -> None:
    """The host's flash as the ESP32 has it: VfsLfs2 on a 2 MiB file-backed block device."""
    r = run_round(tmp_path, laps=1, heap="128k", image=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert (tmp_path / "flash.img").stat().st_size == 2 * 1024 * 1024
    assert r.fw["task_errors"] == 0
    blocks = parse_blocks(r.blocks)
    assert [b.seq for b in blocks] == list(range(len(blocks)))
    assert r.fw["acked"] == len(blocks) - 1
