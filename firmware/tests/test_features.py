"""Roughness features and the Pothole Patrol filter chain on synthetic 100 Hz signals."""

from array import array
from math import pi, sin

from features import RoadFeatures
from harness import check, done

N = 100


def second(f, z_fn, x_fn, speed_cms, seconds=3):
    xs = array("h", [0] * N)
    zs = array("h", [0] * N)
    for s in range(seconds):
        for i in range(N):
            t = s * N + i
            zs[i] = int(z_fn(t))
            xs[i] = int(x_fn(t))
        f.second(xs, zs, N, speed_cms)
    return f


def flat(t):
    return 1000


def rough(t):
    return 1000 + 150 * sin(2 * pi * 12 * t / 100)


def pothole(t):
    # a sharp 2.2 g dip-and-bump at t = 250 (third second)
    return 1000 + (2200 if t == 250 else (-1800 if t == 251 else 0))


def joint(t):
    # longitudinal jolt: large x too (an expansion joint / braking jolt)
    return 1000 + (900 if t == 250 else 0)


def zero(t):
    return 0


def xjolt(t):
    return 1500 if t == 250 else 0


# (name, z, x, speed cm/s, expected rms band, expected event severity or None)
CASES = [
    ("smooth road", flat, zero, 1400, (0, 2), None),
    ("rough road 12 Hz", rough, zero, 1400, (90, 115), None),
    ("pothole at speed", pothole, zero, 1400, (200, 400), 3),
    ("pothole while parked", pothole, zero, 100, (200, 400), None),
    ("pothole without speed", pothole, zero, None, (200, 400), None),
    ("joint with x jolt", joint, xjolt, 1400, (50, 250), None),
]
for name, z, x, v, band, sev in CASES:
    f = second(RoadFeatures(), z, x, v)
    check(name + " rms in band", band[0] <= f.rms_mg <= band[1], True)
    check(name + " event", f.event[2] if f.event else None, sev)

f = second(RoadFeatures(), rough, zero, 1400)
check("norm defined at speed", f.norm is not None and 10 < f.norm < 60, True)
f = second(RoadFeatures(), rough, zero, 100)
check("norm undefined when slow", f.norm, None)
f = RoadFeatures()
f.second(array("h"), array("h"), 0, 1000)
check("no samples", (f.rms_mg, f.peak_mg, f.norm, f.event), (None, None, None, None))
# a rougher road at the same speed gives a larger norm; the same road faster keeps norm comparable
a = second(RoadFeatures(), rough, zero, 1000).norm
b = second(RoadFeatures(), lambda t: 1000 + 300 * sin(2 * pi * 12 * t / 100), zero, 1000).norm
check("norm grows with roughness", b > a, True)
done()
