"""On-board road features from >= 100 Hz acceleration: per-second roughness and pothole events.

Raw samples never leave this module: each second of x/z samples (mg) is reduced to
  - rms_mg: RMS of high-passed vertical acceleration,
  - peak_mg: largest |high-passed z|,
  - norm: speed-normalised roughness 1000 * rms[m/s2] / v[m/s]**1.5 (None below 2 m/s),
and at most one pothole event, found with the Pothole Patrol filter chain (Eriksson et al., 2008):
speed, high-pass, z-peak, xz-ratio and speed-vs-z thresholds.

    f = RoadFeatures()
    f.second(xs, zs, n, speed_cms)      # after which f.rms_mg, f.peak_mg, f.norm, f.event
"""

from math import sqrt

from micropython import const

# First-order high-pass, y[k] = a (y[k-1] + x[k] - x[k-1]), a = 241/256 (fc ~ 1 Hz at 100 Hz):
# removes gravity, braking and cornering, keeps the wheel/body response to the road.
_A_Q8 = const(241)

_MIN_SPEED_CMS = const(250)  # speed filter: no events below 9 km/h (door slams, kerbs at a stop)
_Z_PEAK_MG = const(450)  # z-peak filter
_XZ_RATIO_10 = const(15)  # xz-ratio filter: |z| peak >= 1.5 |x| peak (rejects braking jolts, joints)
_SPEED_Z_MG_PER_MS = const(25)  # speed-vs-z filter: peak >= 25 mg per m/s of speed
_MIN_NORM_SPEED_CMS = const(200)


class RoadFeatures:
    def __init__(self):
        self.zprev = None
        self.xprev = 0
        self.zy = 0
        self.xy = 0
        self.rms_mg = None
        self.peak_mg = None
        self.norm = None
        self.event = None  # (peak_mg, xz10, severity) or None
        self.events = 0
        self.seconds = 0

    def second(self, xs, zs, n, speed_cms):
        self.event = None
        if n <= 0:
            self.rms_mg = self.peak_mg = self.norm = None
            return
        zp = self.zprev
        if zp is None:
            zp = zs[0]
            self.xprev = xs[0]
        xp = self.xprev
        zy = self.zy
        xy = self.xy
        acc = 0
        peak = 0
        ipeak = 0
        for i in range(n):
            z = zs[i]
            x = xs[i]
            zy = (_A_Q8 * (zy + z - zp)) >> 8
            xy = (_A_Q8 * (xy + x - xp)) >> 8
            zp = z
            xp = x
            acc += zy * zy
            a = zy if zy >= 0 else -zy
            if a > peak:
                peak = a
                ipeak = i
        self.zprev = zp
        self.xprev = xp
        self.zy = zy
        self.xy = xy
        rms = sqrt(acc / n)
        self.rms_mg = int(rms + 0.5)
        self.peak_mg = peak
        self.seconds += 1
        if speed_cms is not None and speed_cms >= _MIN_NORM_SPEED_CMS:
            v = speed_cms / 100
            self.norm = int(9.80665 * rms / (v * sqrt(v)) + 0.5)
        else:
            self.norm = None
        # Pothole Patrol chain on this second's peak.
        if speed_cms is None or speed_cms < _MIN_SPEED_CMS or peak < _Z_PEAK_MG:
            return
        if peak * 100 < _SPEED_Z_MG_PER_MS * speed_cms:
            return
        # x peak in a +-10-sample window around the z peak, high-passed the same way (recomputed
        # only when the cheaper filters passed, so the hot loop stays two filters wide).
        xpk = self._x_peak(xs, n, ipeak)
        xz10 = (peak * 10) // xpk if xpk > 0 else 254
        if xz10 < _XZ_RATIO_10:
            return
        sev = 1 if peak < 1000 else (2 if peak < 2000 else 3)
        self.event = (peak, xz10 if xz10 < 254 else 254, sev)
        self.events += 1

    def _x_peak(self, xs, n, at):
        lo = at - 10 if at >= 10 else 0
        hi = at + 10 if at + 10 < n else n
        y = 0
        prev = xs[lo]
        best = 0
        for i in range(lo, hi):
            x = xs[i]
            y = (_A_Q8 * (y + x - prev)) >> 8
            prev = x
            a = y if y >= 0 else -y
            if a > best:
                best = a
        return best
