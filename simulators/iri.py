"""International Roughness Index of a profile: the golden quarter-car at 80 km/h (ASTM E1926).

The reference ("golden") quarter-car has, per unit sprung mass, tyre stiffness ``k1 = 653``,
suspension stiffness ``k2 = 63.3``, damping ``c = 6.0`` and unsprung mass ratio ``mu = 0.15``
(s⁻², s⁻¹). It is driven over the profile's slope at 80 km/h after a 250 mm moving average; IRI
is the mean absolute suspension-stroke rate per distance travelled (m/km). The simulation uses
the exact zero-order-hold discretisation of the state space, and starts in the steady state for
the mean slope of the first 11 m, as the standard does.

This is also the analytic check: :func:`iri_expected` integrates the squared frequency response
against an ISO 8608 PSD, which for a Gaussian profile gives the expected IRI of a class.

    >>> iri_per_section(profile.heights, profile.dx, section_m=100.0)   # m/km per 100 m
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy.linalg import expm  # type: ignore[import-untyped,unused-ignore]
from scipy.signal import lfilter, lfilter_zi, ss2tf  # type: ignore[import-untyped,unused-ignore]

from simulators.geo import FloatArray

K1, K2, C, MU = 653.0, 63.3, 6.0, 0.15
SPEED_MS = 80.0 / 3.6
BASE_M = 0.25
INIT_M = 11.0


def _golden_matrices() -> tuple[FloatArray, FloatArray]:
    a = np.array(
        [
            [0.0, 1.0, 0.0, 0.0],
            [-K2, -C, K2, C],
            [0.0, 0.0, 0.0, 1.0],
            [K2 / MU, C / MU, -(K1 + K2) / MU, -C / MU],
        ]
    )
    b = np.array([[0.0], [0.0], [0.0], [K1 / MU]])
    return a, b


def _golden_filter(dx: float) -> tuple[FloatArray, FloatArray]:
    """Discrete transfer function: profile slope (held over dx) → sprung − unsprung slope."""
    a, b = _golden_matrices()
    dt = dx / SPEED_MS
    big = np.zeros((5, 5))
    big[:4, :4] = a * dt
    big[:4, 4:] = b * dt
    e = expm(big)
    phi, gamma = e[:4, :4], e[:4, 4:]
    c = np.array([[1.0, 0.0, -1.0, 0.0]])
    num, den = ss2tf(phi, gamma, c, np.zeros((1, 1)))
    return np.asarray(num[0], dtype=np.float64), np.asarray(den, dtype=np.float64)


def moving_average(heights: npt.ArrayLike, dx: float, base_m: float = BASE_M) -> FloatArray:
    h = np.asarray(heights, dtype=np.float64)
    k = max(1, round(base_m / dx))
    if k == 1:
        return h
    c: FloatArray = np.concatenate([[0.0], np.cumsum(h)])
    return np.asarray((c[k:] - c[:-k]) / k, dtype=np.float64)


def rectified_slope(heights: npt.ArrayLike, dx: float) -> FloatArray:
    """|suspension stroke rate| / speed (m/m) at each step of the golden car along the profile."""
    h = moving_average(heights, dx)
    slope = np.diff(h) / dx
    k_init = max(1, min(len(h) - 1, round(INIT_M / dx)))
    y0 = (h[k_init] - h[0]) / (k_init * dx)
    num, den = _golden_filter(dx)
    zi = lfilter_zi(num, den) * y0
    out, _ = lfilter(num, den, slope, zi=zi)
    return np.abs(np.asarray(out, dtype=np.float64))


def iri(heights: npt.ArrayLike, dx: float) -> float:
    """IRI (m/km) of a whole profile."""
    return float(rectified_slope(heights, dx).mean() * 1000.0)


def iri_per_section(heights: npt.ArrayLike, dx: float, section_m: float = 100.0) -> FloatArray:
    """IRI (m/km) of each ``section_m`` of the profile (the last, partial one included if ≥ half)."""
    rs = rectified_slope(heights, dx)
    per = max(1, round(section_m / dx))
    n_full = len(rs) // per
    out = [rs[i * per : (i + 1) * per].mean() for i in range(n_full)]
    if len(rs) - n_full * per >= per // 2:
        out.append(rs[n_full * per :].mean())
    return np.asarray(out, dtype=np.float64) * 1000.0


def iri_expected(gd_n0: float, waviness: float = 2.0, n_min: float = 0.011, n_max: float = 2.83) -> float:
    """Expected IRI (m/km) of a Gaussian profile with ISO 8608 PSD ``gd_n0 · (n/0.1)^-w``.

    E|X| = sqrt(2/π)·σ for a zero-mean Gaussian; σ² = ∫ |H(n)|² Gd(n) dn, with H the golden
    car's response from profile height to stroke rate / speed, and the moving average's response.
    """
    a, b = _golden_matrices()
    n = np.geomspace(n_min, n_max, 20_000)
    omega = 2 * np.pi * n * SPEED_MS
    c = np.array([1.0, 0.0, -1.0, 0.0])
    system = 1j * omega[:, None, None] * np.eye(4) - a
    rhs = np.broadcast_to(b, (len(n), 4, 1)).astype(np.complex128)
    h = np.linalg.solve(system, rhs)[:, :, 0] @ c  # (zs − zu) / y
    slope_gain = np.abs(h) * 2 * np.pi * n  # stroke rate / speed = jω·H / v = 2πn·H
    ma = np.abs(np.sinc(n * BASE_M))
    psd = gd_n0 * (n / 0.1) ** (-waviness)
    sigma2 = np.trapezoid((slope_gain * ma) ** 2 * psd, n)
    return float(np.sqrt(2.0 / np.pi) * np.sqrt(sigma2) * 1000.0)
