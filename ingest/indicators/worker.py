"""The indicator worker: after each sync, match the new tracks and bring the indicators up to date.

The ingest service runs :func:`indicators_loop` in the background when ``FACTEUR_ROAD_NETWORK``
names the network its vans drive on (``helsinki``, ``monaco`` or a path to an OSM PBF; ``facteur
run`` sets ``helsinki``). Every ``FACTEUR_INDICATORS_INTERVAL`` seconds (default 10) it looks for
devices whose ``track`` grew since the last run (a sync committed new chunks), matches them
(:mod:`.matching_job`) and recomputes the passes and indicators they touch (:mod:`.job`), in a
worker thread with its own connection, so the event loop keeps serving requests.

    FACTEUR_ROAD_NETWORK=helsinki uvicorn --factory ingest.app:create_app
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from pathlib import Path

import psycopg

from ingest.indicators.job import JobReport, recompute
from ingest.indicators.matching_job import MatchReport, ensure_segments, match_pending
from ingest.mapmatch import MapMatcher
from ingest.roadnet import helsinki_pbf, load_network, monaco_pbf

log = logging.getLogger("facteur.indicators")


def network_path(name: str) -> Path:
    if name == "helsinki":
        return helsinki_pbf()
    if name == "monaco":
        return monaco_pbf()
    return Path(name)


def run_once(url: str, matcher: MapMatcher) -> tuple[MatchReport, JobReport]:
    """One round of work: segments stored, pending tracks matched, indicators recomputed."""
    with psycopg.connect(url) as conn:
        ensure_segments(conn, matcher.net)
        conn.commit()
        matched = match_pending(conn, matcher)
        conn.commit()
        return matched, recompute(conn)


async def indicators_loop(url: str, network: str, interval: float) -> None:
    matcher = await asyncio.to_thread(lambda: MapMatcher(load_network(network_path(network))))
    while True:
        try:
            matched, job = await asyncio.to_thread(run_once, url, matcher)
            if matched.points or job.devices:
                log.info("indicators: matched %d points of %d devices; %d passes, %d indicator rows",
                         matched.points, matched.devices, job.passes, job.indicator_rows)  # fmt: skip
        except (psycopg.Error, OSError) as exc:
            log.warning("indicators: %s: %s (retrying)", type(exc).__name__, exc)
        await asyncio.sleep(interval)


def start(url: str) -> asyncio.Task[None] | None:
    """Start the loop if ``FACTEUR_ROAD_NETWORK`` is set; returns its task (or None)."""
    network = os.environ.get("FACTEUR_ROAD_NETWORK")
    if not network:
        return None
    interval = float(os.environ.get("FACTEUR_INDICATORS_INTERVAL", "10"))
    return asyncio.create_task(indicators_loop(url, network, interval))


async def stop(task: asyncio.Task[None] | None) -> None:
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
