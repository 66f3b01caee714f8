"""A demo fleet: simulated postal rounds on a real OSM network, sent through the real pipeline.

    >>> summary = send_fleet("http://127.0.0.1:8400", admin_token, vans=3, days=5)   # doctest: +SKIP

Each van-day is a round planned by :func:`simulators.rounds.plan_round` (depot → delivery stops →
depot on legal routes, with the simulator's speed law and stops), seen through a GNSS with 3 m
noise. The van's readings are those the firmware would record (FORMAT.md records: TIME, TRACK,
POTHOLE, AIR, CO2, COVERAGE) from a city whose truth is fixed for the whole demo:

- roughness per OSM way (an IRI class; the firmware feature ``norm`` from it by the calibration
  of :mod:`.roughness`, with noise), potholes on the roughest ways (hit with probability 0.85 on
  each pass) and rare one-off jolts anywhere;
- air and CO2 from :class:`simulators.fields.AirField` (main roads and junctions, rush hours, day to
  day), coverage from :class:`simulators.fields.CoverageField`.

The blocks are signed into chunks with the device's key and posted to ``/v1/chunks`` with a
gateway's token, exactly as a depot gateway forwards them; the ingest service decodes, stores, and
its indicator worker matches and recomputes. The on-board feature extraction from accelerometer
samples is not run here (``hil_tests`` runs the real firmware); ``norm`` comes from the city's truth.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import psycopg

from ingest.indicators.params import IndicatorParams
from ingest.records.decode import (
    EPOCH_2000,
    K_AIR,
    K_CO2,
    K_COVERAGE,
    K_POTHOLE,
    K_TIME,
    K_TRACK,
    TRACK_HEADER,
)
from ingest.records.envelope import FLAG_FIRST_AFTER_BOOT, build_block, build_chunk
from ingest.roadnet import RoadNetwork, helsinki_pbf, load_network
from simulators.fields import AirField, CoverageField, UrbanLayout
from simulators.modem import rsrp_index
from simulators.rounds import Round, plan_round

_TIME = struct.Struct("<BIIH")
_ENTRY = struct.Struct("<bbBBB")
_POTHOLE = struct.Struct("<BIiiBBBB")
_AIR = struct.Struct("<BIBHHH")
_CO2 = struct.Struct("<BIHhB")
_COVERAGE = struct.Struct("<BIBBBhI")
MAIN_CLASSES = ("primary", "secondary", "tertiary", "trunk", "primary_link", "secondary_link")
IRI_CLASSES = np.array([1.5, 2.5, 3.5, 5.0, 7.0, 10.0])
IRI_WEIGHTS = np.array([0.25, 0.3, 0.2, 0.12, 0.08, 0.05])
GNSS_SIGMA_M = 3.0
CHUNK_BLOCKS = 360  # one hour of driving per upload


def _u8(v: float, step: float) -> int:
    return max(0, min(254, round(v / step)))


@dataclass
class City:
    """The demo city's truth, shared by every van and day."""

    net: RoadNetwork
    iri: np.ndarray  # (E,) m/km per directed edge (both directions of a way alike)
    pothole_offset: np.ndarray  # (E,) metres along the edge, NaN = no pothole
    air: AirField
    coverage: CoverageField
    iri_per_norm: float = IndicatorParams().iri_per_norm

    @classmethod
    def build(cls, net: RoadNetwork, seed: int = 11) -> City:
        rng = np.random.default_rng(seed)
        # Per way, from a hash of its id: deterministic whatever the edge order.
        h = np.array(
            [int(hashlib.blake2b(str(int(w)).encode(), digest_size=4).hexdigest(), 16) for w in net.edge_way]
        )
        u = (h % 10_000) / 10_000.0
        iri = IRI_CLASSES[
            np.searchsorted(np.cumsum(IRI_WEIGHTS), u, side="right").clip(0, len(IRI_CLASSES) - 1)
        ]
        holes = np.full(net.n_edges, np.nan)
        frac = ((h // 10_000) % 1000) / 1000.0
        for e in np.flatnonzero((iri >= 7.0) & (net.edge_length >= 40.0)):
            r = int(net.reverse_edge[e])
            if r >= 0 and not np.isnan(holes[r]):
                holes[e] = net.edge_length[e] - holes[r]
            else:
                holes[e] = 15.0 + frac[e] * (net.edge_length[e] - 30.0)
        classes = np.array(net.class_names)[net.edge_class]
        main = np.isin(classes, MAIN_CLASSES)
        mid = np.array([net.point_at(e, net.edge_length[e] / 2)[0] for e in np.flatnonzero(main)]).reshape(
            -1, 2
        )
        degree = np.diff(net.out_offsets)
        junctions = net.node_xy[degree >= 4]
        air = AirField(UrbanLayout.from_points(mid, junctions), seed=seed)
        coverage = CoverageField.around(net.node_xy, rng)
        return cls(net, iri.astype(np.float64), holes, air, coverage)


@dataclass
class VanDay:
    blocks: list[bytes]
    next_seq: int
    seconds: int
    potholes: int
    truth_edges: set[int] = field(default_factory=set)


@dataclass
class Roughness:
    """What the board's feature extraction gives per second of a round (``firmware/features.py``)."""

    norm: np.ndarray  # NaN when the firmware reports none (slow)
    rms_mg: np.ndarray
    event_peak_mg: np.ndarray  # NaN = no pothole event that second
    event_severity: np.ndarray


RoughnessFn = Callable[[Round, int], Roughness]


def van_day(
    city: City,
    *,
    rnd: Round,
    seed: int,
    start_utc: dt.datetime,
    first_seq: int,
    boot_id: int,
    roughness: Roughness | None = None,
) -> VanDay:
    """One van's round on one day as blocks (one boot: ignition on at the depot). Roughness and
    pothole events come from ``roughness`` when given, else from the city's truth."""
    net = city.net
    rng = np.random.default_rng(seed)
    tt = np.arange(0.0, rnd.traj.duration, 1.0)
    truth = rnd.traj.sample(tt)
    x = truth.x + rng.normal(0, GNSS_SIGMA_M, len(tt))
    y = truth.y + rng.normal(0, GNSS_SIGMA_M, len(tt))
    lon, lat = net.to_lonlat(x, y)
    lat_e6 = np.round(np.asarray(lat) * 1e6).astype(np.int64)
    lon_e6 = np.round(np.asarray(lon) * 1e6).astype(np.int64)
    speed = truth.speed
    edge = truth.edge
    on_net = edge >= 0
    iri = np.where(on_net, city.iri[np.maximum(edge, 0)], 2.0)
    p = IndicatorParams()
    at_speed = np.power(np.maximum(speed, 0.5) / p.iri_ref_speed, p.iri_speed_exponent)
    norm = iri / (city.iri_per_norm * at_speed) * rng.lognormal(0.0, 0.25, len(tt))
    rms_mg = norm * np.power(np.maximum(speed, 0.0), 1.5) / 9.80665
    # Potholes: the truth offset crosses the hole during the second.
    hole = np.where(on_net, city.pothole_offset[np.maximum(edge, 0)], np.nan)
    prev_off = np.concatenate([[np.inf], truth.offset[:-1]])
    same = np.concatenate([[False], edge[1:] == edge[:-1]])
    crossed = same & (prev_off <= hole) & (truth.offset > hole) & (speed > 2.5)
    hit = crossed & (rng.random(len(tt)) < 0.85)
    jolt = (speed > 3.0) & (rng.random(len(tt)) < 0.0005) & ~hit
    severity = np.where(hit, 2, 1)
    peak_mg = np.where(hit, 2500.0, 1200.0)
    if roughness is not None:
        n = len(tt)
        norm = roughness.norm[:n]
        rms_mg = roughness.rms_mg[:n]
        hit = np.isfinite(roughness.event_peak_mg[:n])
        jolt = np.zeros(n, dtype=np.bool_)
        severity = roughness.event_severity[:n]
        peak_mg = np.nan_to_num(roughness.event_peak_mg[:n])
    t_utc = start_utc.timestamp() + tt
    boot_ticks = 5_000
    ticks = (boot_ticks + 1000 * tt).astype(np.int64)
    blocks = []
    seq = first_seq
    n_holes = 0
    for b0 in range(0, len(tt), 10):
        idx = np.arange(b0, min(b0 + 10, len(tt)))
        parts = []
        if b0 == 0:
            utc0 = t_utc[0]
            parts.append(_TIME.pack(K_TIME, int(ticks[0]), int(utc0) - EPOCH_2000, int((utc0 % 1) * 1000)))
        parts.append(
            _track(idx, ticks=ticks, lat_e6=lat_e6, lon_e6=lon_e6, speed=speed, rms_mg=rms_mg, norm=norm)
        )
        for i in idx:
            if hit[i] or jolt[i]:
                parts.append(
                    _POTHOLE.pack(
                        K_POTHOLE,
                        int(ticks[i]),
                        int(lat_e6[i]),
                        int(lon_e6[i]),
                        _u8(speed[i], 0.25),
                        _u8(float(peak_mg[i]), 50),
                        30,
                        int(severity[i]),
                    )
                )
                n_holes += 1
            if i % 30 == 29:
                w = idx[idx <= i][-1]
                wx, wy = truth.x[max(0, w - 29) : w + 1], truth.y[max(0, w - 29) : w + 1]
                pm1, pm25, pm10 = city.air.pm(wx, wy, float(t_utc[i]))
                parts.append(
                    _AIR.pack(
                        K_AIR,
                        int(ticks[i]),
                        30,
                        round(float(np.mean(pm1))),
                        round(float(np.mean(pm25))),
                        round(float(np.mean(pm10))),
                    )
                )
                co2 = float(city.air.co2(truth.x[i], truth.y[i], float(t_utc[i])))
                temp, rh = city.air.weather(float(t_utc[i]))
                parts.append(_CO2.pack(K_CO2, int(ticks[i]), round(co2), round(temp * 100), _u8(rh, 0.5)))
            if i % 60 == 59:
                radio = city.coverage.radio(float(truth.x[i]), float(truth.y[i]))
                if radio is None:
                    parts.append(_COVERAGE.pack(K_COVERAGE, int(ticks[i]), 255, 255, 255, -32768, 0))
                else:
                    parts.append(
                        _COVERAGE.pack(
                            K_COVERAGE,
                            int(ticks[i]),
                            7,
                            rsrp_index(radio.rsrp),
                            max(0, min(34, round((radio.rsrq + 20) * 2))),
                            round((radio.sinr + 20) * 5),
                            24491,
                        )
                    )
        flags = FLAG_FIRST_AFTER_BOOT if b0 == 0 else 0
        blocks.append(build_block(seq=seq, boot_id=boot_id, payload=b"".join(parts), flags=flags))
        seq += 1
    return VanDay(blocks, seq, len(tt), n_holes, {int(e) for e in edge[on_net]})


def _track(
    idx: np.ndarray,
    *,
    ticks: np.ndarray,
    lat_e6: np.ndarray,
    lon_e6: np.ndarray,
    speed: np.ndarray,
    rms_mg: np.ndarray,
    norm: np.ndarray,
) -> bytes:
    """TRACK records for the seconds ``idx`` (a new record when a delta does not fit in an i8)."""
    out = []
    start = 0
    while start < len(idx):
        i0 = int(idx[start])
        base_lat, base_lon = int(lat_e6[i0]), int(lon_e6[i0])
        plat, plon = base_lat, base_lon
        entries = []
        k = start
        while k < len(idx):
            i = int(idx[k])
            dlat = round((int(lat_e6[i]) - plat) / 10)
            dlon = round((int(lon_e6[i]) - plon) / 10)
            if not (-127 <= dlat <= 127 and -127 <= dlon <= 127):
                break
            plat += dlat * 10
            plon += dlon * 10
            v = float(speed[i])
            nv = float(norm[i])
            entries.append(
                _ENTRY.pack(
                    dlat,
                    dlon,
                    _u8(v, 0.25),
                    _u8(float(rms_mg[i]), 5),
                    _u8(nv, 1) if v >= 2 and np.isfinite(nv) else 255,
                )
            )
            k += 1
        sel = idx[start:k]
        peak = float(np.max(rms_mg[sel])) * 3 if len(sel) else 0.0
        out.append(
            TRACK_HEADER.pack(
                K_TRACK, len(entries), int(ticks[i0]) % (1 << 32), 10, _u8(peak, 50), base_lat, base_lon
            )
        )
        out.extend(entries)
        start = k
    return b"".join(out)


def send_fleet(
    base_url: str,
    admin_token: str,
    *,
    net: RoadNetwork,
    vans: int = 3,
    days: int = 5,
    stops: int = 20,
    depot: str = "depot-demo",
    end_day: dt.date | None = None,
    seed: int = 1,
    city: City | None = None,
    roughness_fn: RoughnessFn | None = None,
) -> dict[str, Any]:
    """Register a gateway and ``vans`` devices, then post ``days`` days of rounds for each (oldest
    day first, as vans upload; every round from the same depot). Returns counts."""
    city = city or City.build(net, seed=seed)
    depot_xy = plan_round(net, stops=2, seed=seed).depot_xy
    depot_pt = (float(depot_xy[0]), float(depot_xy[1]))
    admin = {"Authorization": f"Bearer {admin_token}"}
    end_day = end_day or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1))
    driven: set[int] = set()
    summary: dict[str, Any] = {
        "vans": vans,
        "days": days,
        "chunks": 0,
        "blocks": 0,
        "seconds": 0,
        "potholes": 0,
    }
    with httpx.Client(base_url=base_url, timeout=60) as client:
        gw_id = f"gw-{depot}"
        r = client.post("/v1/registry/gateways", json={"gateway_id": gw_id, "depot": depot}, headers=admin)
        r.raise_for_status()
        gateway = {
            "Authorization": f"Bearer {r.json()['token']}",
            "Content-Type": "application/vnd.facteur.chunk",
        }
        keys: dict[str, bytes] = {}
        for v in range(vans):
            device_id = f"demo-{v + 1:02d}-{seed}"
            r = client.post(
                "/v1/registry/devices",
                json={"device_id": device_id, "depot": depot, "vehicle": f"DEMO-{v + 1:03d}"},
                headers=admin,
            )
            r.raise_for_status()
            keys[device_id] = bytes.fromhex(r.json()["key_hex"])
        seqs = dict.fromkeys(keys, 0)
        for d in range(days):
            day = end_day - dt.timedelta(days=days - 1 - d)
            for v, device_id in enumerate(keys):
                start = dt.datetime.combine(day, dt.time(6, 30), dt.UTC) + dt.timedelta(minutes=9 * v)
                round_seed = seed * 10_000 + d * 100 + v
                rnd = plan_round(net, stops=stops, seed=round_seed, depot_xy=depot_pt)
                vd = van_day(
                    city,
                    rnd=rnd,
                    seed=round_seed,
                    start_utc=start,
                    first_seq=seqs[device_id],
                    boot_id=d + 1,
                    roughness=roughness_fn(rnd, round_seed) if roughness_fn else None,
                )
                seqs[device_id] = vd.next_seq
                for c0 in range(0, len(vd.blocks), CHUNK_BLOCKS):
                    body = build_chunk(device_id, keys[device_id], vd.blocks[c0 : c0 + CHUNK_BLOCKS])
                    r = client.post("/v1/chunks", content=body, headers=gateway)
                    r.raise_for_status()
                    summary["chunks"] += 1
                summary["blocks"] += len(vd.blocks)
                summary["seconds"] += vd.seconds
                summary["potholes"] += vd.potholes
                driven |= vd.truth_edges
    summary["truth_segments"] = sorted(int(net.edge_id[e]) for e in driven)
    return summary


DEMO_DEPOT = "depot-demo-fleet"


def start_in_background(
    base_url: str, admin_token: str, database_url: str, *, vans: int = 4, days: int = 6, stops: int = 20
) -> threading.Thread:
    """For ``facteur run``: once the service answers, send the demo fleet unless this database has
    it already (its gateway is registered). Prints one line when done."""

    def work() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        with psycopg.connect(database_url) as conn:
            row = conn.execute(
                "SELECT 1 FROM gateways WHERE gateway_id = %s", (f"gw-{DEMO_DEPOT}",)
            ).fetchone()
        if row is not None:
            print(
                f"facteur: demo fleet already in the database; dashboard: {base_url}/dashboard/", flush=True
            )
            return
        net = load_network(helsinki_pbf())
        try:
            s = send_fleet(
                base_url, admin_token, net=net, vans=vans, days=days, stops=stops, depot=DEMO_DEPOT
            )
        except httpx.HTTPError as exc:
            print(f"facteur: demo fleet not sent: {exc}", flush=True)
            return
        print(
            f"facteur: demo fleet sent ({s['vans']} vans x {s['days']} days, {s['chunks']} chunks) through"
            f" the chunk API; indicators follow in seconds: {base_url}/dashboard/",
            flush=True,
        )

    thread = threading.Thread(target=work, name="demo-fleet", daemon=True)
    thread.start()
    return thread
