"""Simulated GNSS receiver: truth trajectory → NMEA 0183 bytes with a known error model.

Error model (per horizontal axis, metres), fixed by :class:`GnssConfig`:

* white noise ``N(0, sigma_noise_m²)`` each epoch;
* a slowly varying bias (multipath, atmosphere): first-order Gauss–Markov with stationary
  deviation ``sigma_bias_m`` and correlation time ``bias_tau_s``;
* both scaled by ``1 + canyon_gain · canyon`` where the path runs through narrow streets;
* satellites are hidden below an elevation mask that rises in canyons; with fewer than four
  left (deep canyons, tunnels) there is no fix, and a fix needs ``reacquire_s`` to come back;
* a cold start: no fix and no time for ``ttff_s``;
* with probability ``corrupt_prob`` a sentence is damaged (a changed byte, a wrong checksum or a
  truncated line), and the truth says which;
* time edge cases on demand: the GPS week-rollover bug (dates 1024 weeks early), a leap
  second (``23:59:60``) and a time jump (UTC reported off by a given amount for a while).

Every epoch's truth (true and reported position, error components, fix, satellites used, which
sentences were damaged) is kept, so tests and benchmarks can score what the firmware made of it.

    >>> rx = GnssReceiver(traj, GnssConfig(sigma_noise_m=2.0))
    >>> burst = rx.epoch(0)        # bytes of the first 1 Hz burst, and rx.truth(0)
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.signal import lfilter  # type: ignore[import-untyped,unused-ignore]

from simulators.geo import FloatArray
from simulators.nmea import corrupt, fmt_lat, fmt_lon, sentence
from simulators.trajectory import Trajectory

KNOTS_PER_MS = 3600.0 / 1852.0
GPS_WEEK_ROLLOVER = dt.timedelta(weeks=1024)
N_SATS = 31
ORBIT_PERIOD_S = 43_082.0  # half a sidereal day


@dataclass(frozen=True, slots=True)
class GnssConfig:
    sigma_noise_m: float = 1.5
    sigma_bias_m: float = 2.0
    bias_tau_s: float = 60.0
    vertical_factor: float = 1.7
    canyon_gain: float = 2.0
    canyon_mask_deg: float = 55.0  # mask elevation added at canyon = 1
    mask_deg: float = 5.0
    sigma_speed_ms: float = 0.08
    ttff_s: float = 30.0
    reacquire_s: float = 2.0
    corrupt_prob: float = 0.0
    rate_hz: float = 1.0
    talker: str = "GP"
    sentences: tuple[str, ...] = ("RMC", "VTG", "GGA", "GSA", "GSV")
    start_utc: dt.datetime = dt.datetime(2026, 6, 15, 6, 0, 0, tzinfo=dt.UTC)
    week_rollover_bug: bool = False
    leap_second_at: dt.datetime | None = None  # the instant 23:59:60 begins (continuous UTC)
    # (from_s, for_s, by_s): the receiver reports UTC off by by_s during [from_s, from_s + for_s)
    time_jump: tuple[float, float, float] | None = None
    altitude_m: float = 20.0
    geoid_sep_m: float = 18.0
    seed: int = 1


@dataclass(slots=True)
class EpochTruth:
    t: float
    utc: str  # as reported, hhmmss.ss
    lat: float
    lon: float
    rep_lat: float | None
    rep_lon: float | None
    fix: bool
    sats_used: int
    hdop: float
    corrupted: list[tuple[int, str]] = field(default_factory=list)  # (sentence index, damage)


class GnssReceiver:
    """Precomputes the errors for the whole trajectory, then formats one burst per epoch."""

    def __init__(self, traj: Trajectory, config: GnssConfig | None = None, tail_s: float = 600.0) -> None:
        self.cfg = cfg = config or GnssConfig()
        self.traj = traj
        rng = np.random.default_rng(cfg.seed)
        self._rng = np.random.default_rng(cfg.seed + 7_777)
        n = math.ceil((traj.duration + tail_s) * cfg.rate_hz) + 1
        self._n = n
        t = np.arange(n) / cfg.rate_hz
        self.t = t
        tr = traj.sample(t)
        self.true_lat, self.true_lon = tr.lat, tr.lon
        canyon = traj.seg_canyon[tr.segment] if len(traj.seg_canyon) else np.zeros(n)
        tunnel = traj.seg_tunnel[tr.segment] if len(traj.seg_tunnel) else np.zeros(n, bool)
        scale = 1.0 + cfg.canyon_gain * canyon
        self.noise = rng.normal(0.0, cfg.sigma_noise_m, size=(n, 3))
        self.noise[:, 2] *= cfg.vertical_factor
        phi = math.exp(-1.0 / (cfg.rate_hz * cfg.bias_tau_s))
        drive = rng.normal(0.0, cfg.sigma_bias_m * math.sqrt(1 - phi * phi), size=(n, 3))
        drive[0] = rng.normal(0.0, cfg.sigma_bias_m, size=3)  # start in the stationary state
        self.bias = np.asarray(lfilter([1.0], [1.0, -phi], drive, axis=0), dtype=np.float64)
        self.bias[:, 2] *= cfg.vertical_factor
        self.error = (self.noise + self.bias) * scale[:, None]  # east, north, up
        vel_true = np.stack([tr.speed * np.sin(tr.heading), tr.speed * np.cos(tr.heading)], axis=1)
        self.vel = vel_true + rng.normal(0.0, cfg.sigma_speed_ms, size=(n, 2))

        self._sat_geometry(t, canyon, tunnel, rng)
        self.hdop, self.vdop, self.pdop = _dops(self.el, self.az, self.used)
        enough = self.used.sum(axis=1) >= 4
        # A fix needs enough satellites for reacquire_s in a row, and never before the cold start ends.
        run = np.zeros(n)
        count = 0.0
        for i, ok in enumerate(enough.tolist()):
            count = count + 1.0 / cfg.rate_hz if ok else 0.0
            run[i] = count
        self.fix = (run >= cfg.reacquire_s) & (t >= cfg.ttff_s)
        self.time_known = t >= cfg.ttff_s * 0.5
        m_lat = traj.frame.metres_per_deg_lat
        m_lon = traj.frame.metres_per_deg_lon
        self.rep_lat = self.true_lat + self.error[:, 1] / m_lat
        self.rep_lon = self.true_lon + self.error[:, 0] / m_lon
        self.corrupted: dict[int, list[tuple[int, str]]] = {}

    def _sat_geometry(
        self, t: FloatArray, canyon: FloatArray, tunnel: npt.NDArray[np.bool_], rng: np.random.Generator
    ) -> None:
        cfg = self.cfg
        phase = rng.uniform(0, 2 * np.pi, N_SATS)
        az0 = rng.uniform(0, 360, N_SATS)
        spin = rng.choice([-1.0, 1.0], N_SATS) * rng.uniform(20, 60, N_SATS)
        wt = 2 * np.pi * (cfg.start_utc.timestamp() % ORBIT_PERIOD_S + t[:, None]) / ORBIT_PERIOD_S
        self.el = np.degrees(np.arcsin(np.clip(np.sin(wt + phase) * 1.25 - 0.25, -1, 1)))
        self.az = (az0 + spin * np.sin(wt + phase)) % 360.0
        self.prn = np.arange(1, N_SATS + 1)
        self.in_view = self.el > 0.0
        mask = cfg.mask_deg + cfg.canyon_mask_deg * canyon
        self.used = (self.el > mask[:, None]) & ~tunnel[:, None]
        # the receiver tracks at most 12 channels: keep the highest
        for i in np.flatnonzero(self.used.sum(axis=1) > 12):
            order = np.argsort(-np.where(self.used[i], self.el[i], -99.0))
            self.used[i, order[12:]] = False
        self.snr = np.clip(
            22 + 0.3 * self.el - 12 * canyon[:, None] + rng.normal(0, 2, self.el.shape), 10, 52
        )

    @property
    def start_utc(self) -> dt.datetime:
        return self.cfg.start_utc

    # ------------------------------------------------------------------ time
    def utc_at(self, t: float) -> tuple[str, str]:
        """Reported ``(hhmmss.ss, ddmmyy)`` for simulated time ``t``."""
        cfg = self.cfg
        when = cfg.start_utc + dt.timedelta(seconds=t)
        if cfg.time_jump is not None and cfg.time_jump[0] <= t < cfg.time_jump[0] + cfg.time_jump[1]:
            when += dt.timedelta(seconds=cfg.time_jump[2])
        leap = cfg.leap_second_at
        if leap is not None and when >= leap:
            if when < leap + dt.timedelta(seconds=1):
                before = leap - dt.timedelta(seconds=1)
                frac = (when - leap).total_seconds()
                date = before - GPS_WEEK_ROLLOVER if cfg.week_rollover_bug else before
                return f"{before:%H%M}{60 + frac:05.2f}", f"{date:%d%m%y}"
            when -= dt.timedelta(seconds=1)
        date = when - GPS_WEEK_ROLLOVER if cfg.week_rollover_bug else when
        sec = when.second + when.microsecond / 1e6
        return f"{when:%H%M}{sec:05.2f}", f"{date:%d%m%y}"

    # ------------------------------------------------------------------ output
    @property
    def n_epochs(self) -> int:
        return self._n

    def epoch_time(self, k: int) -> float:
        return float(self.t[min(k, self._n - 1)])

    def epoch(self, k: int) -> bytes:
        """The burst of sentences for epoch ``k`` (ASCII bytes, CR LF terminated)."""
        k = min(k, self.n_epochs - 1)
        lines = self.sentences(k)
        damaged: list[tuple[int, str]] = []
        if self.cfg.corrupt_prob > 0:
            for i in range(len(lines)):
                if self._rng.random() < self.cfg.corrupt_prob:
                    lines[i], kind = corrupt(lines[i], self._rng)
                    damaged.append((i, kind))
        self.corrupted[k] = damaged
        return "".join(lines).encode("ascii")

    def truth(self, k: int) -> EpochTruth:
        k = min(k, self.n_epochs - 1)
        fix = bool(self.fix[k])
        return EpochTruth(
            t=float(self.t[k]),
            utc=self.utc_at(float(self.t[k]))[0] if self.time_known[k] else "",
            lat=float(self.true_lat[k]),
            lon=float(self.true_lon[k]),
            rep_lat=float(self.rep_lat[k]) if fix else None,
            rep_lon=float(self.rep_lon[k]) if fix else None,
            fix=fix,
            sats_used=int(self.used[k].sum()) if fix else 0,
            hdop=float(self.hdop[k]),
            corrupted=self.corrupted.get(k, []),
        )

    def sentences(self, k: int) -> list[str]:
        cfg = self.cfg
        tk = cfg.talker
        fix = bool(self.fix[k])
        known = bool(self.time_known[k])
        hms, dmy = self.utc_at(float(self.t[k])) if known else ("", "")
        lat, ns = fmt_lat(float(self.rep_lat[k])) if fix else ("", "")
        lon, ew = fmt_lon(float(self.rep_lon[k])) if fix else ("", "")
        ve, vn = (float(v) for v in self.vel[k])
        speed = math.hypot(ve, vn)
        course = math.degrees(math.atan2(ve, vn)) % 360.0
        kn = f"{speed * KNOTS_PER_MS:.3f}" if fix else ""
        kmh = f"{speed * 3.6:.3f}" if fix else ""
        crs = f"{course:.2f}" if fix else ""
        mode = "A" if fix else "N"
        used = self.prn[self.used[k]] if fix else np.zeros(0, np.int64)
        n_used = len(used)
        out: list[str] = []
        for kind in cfg.sentences:
            if kind == "RMC":
                out.append(
                    sentence(
                        tk, "RMC", [hms, "A" if fix else "V", lat, ns, lon, ew, kn, crs, dmy, "", "", mode]
                    )
                )
            elif kind == "VTG":
                out.append(sentence(tk, "VTG", [crs, "T", "", "M", kn, "N", kmh, "K", mode]))
            elif kind == "GGA":
                alt = f"{cfg.altitude_m + self.error[k, 2]:.1f}" if fix else ""
                sep = f"{cfg.geoid_sep_m:.1f}" if fix else ""
                hd = f"{self.hdop[k]:.2f}" if fix else "99.99"
                out.append(
                    sentence(
                        tk,
                        "GGA",
                        [
                            hms,
                            lat,
                            ns,
                            lon,
                            ew,
                            "1" if fix else "0",
                            f"{n_used:02d}",
                            hd,
                            alt,
                            "M",
                            sep,
                            "M",
                            "",
                            "",
                        ],
                    )
                )
            elif kind == "GSA":
                ids = [f"{p:02d}" for p in used[:12]] + [""] * (12 - min(n_used, 12))
                if fix:
                    dops = [f"{self.pdop[k]:.2f}", f"{self.hdop[k]:.2f}", f"{self.vdop[k]:.2f}"]
                else:
                    dops = ["99.99", "99.99", "99.99"]
                out.append(sentence(tk, "GSA", ["A", "3" if fix else "1", *ids, *dops]))
            elif kind == "GSV":
                out.extend(self._gsv(k))
            elif kind == "GLL":
                out.append(sentence(tk, "GLL", [lat, ns, lon, ew, hms, "A" if fix else "V", mode]))
        return out

    def _gsv(self, k: int) -> list[str]:
        tk = self.cfg.talker
        if not self.time_known[k]:
            return [sentence(tk, "GSV", ["1", "1", "00"])]
        view = np.flatnonzero(self.in_view[k])
        n = len(view)
        n_msg = max(1, math.ceil(n / 4))
        out = []
        for m in range(n_msg):
            fields = [str(n_msg), str(m + 1), f"{n:02d}"]
            for i in view[4 * m : 4 * m + 4]:
                tracked = self.used[k, i] and self.t[k] >= self.cfg.ttff_s
                snr = f"{round(float(self.snr[k, i])):02d}" if tracked else ""
                fields += [
                    f"{self.prn[i]:02d}",
                    f"{round(float(self.el[k, i])):02d}",
                    f"{round(float(self.az[k, i])) % 360:03d}",
                    snr,
                ]
            out.append(sentence(tk, "GSV", fields))
        return out


def _dops(
    el: FloatArray, az: FloatArray, used: npt.NDArray[np.bool_]
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """HDOP, VDOP, PDOP of the satellites in use, per epoch (99.99 when fewer than four)."""
    e, a = np.radians(el), np.radians(az)
    g = np.stack([np.cos(e) * np.sin(a), np.cos(e) * np.cos(a), np.sin(e), np.ones_like(e)], axis=-1)
    w = used[..., None].astype(np.float64)
    normal = np.einsum("nsi,nsj->nij", g * w, g)
    ok = used.sum(axis=1) >= 4
    normal[~ok] = np.eye(4)
    cov = np.linalg.inv(normal)
    hdop = np.sqrt(cov[:, 0, 0] + cov[:, 1, 1])
    vdop = np.sqrt(cov[:, 2, 2])
    pdop = np.sqrt(cov[:, 0, 0] + cov[:, 1, 1] + cov[:, 2, 2])
    bad = ~ok | ~np.isfinite(pdop)
    return (
        np.where(bad, 99.99, np.minimum(hdop, 99.99)),
        np.where(bad, 99.99, np.minimum(vdop, 99.99)),
        np.where(bad, 99.99, np.minimum(pdop, 99.99)),
    )
