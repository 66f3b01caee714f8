"""Longitudinal road profile along a route: ISO 8608 roughness per section, potholes, speed bumps.

ISO 8608 gives the displacement PSD of a road as ``Gd(n) = Gd(n0) · (n / n0)^-w`` with
``n0 = 0.1 cycle/m`` and ``w = 2``; classes A–H are octave bands of ``Gd(n0)`` (the class's
geometric mean is used for synthesis). A unit profile is synthesised once by FFT with random
phases and scaled per section by ``sqrt(Gd(n0))``, so a change of class is a change of amplitude
over a short cross-fade, not a step. Potholes (dips) and speed bumps (humps) are added at known
positions; they are the truth a detector is scored against.

    >>> profile = RoadProfile.synthesize(2_000.0, sections=[(0.0, "B"), (1_000.0, "D")],
    ...                                  features=[Feature("pothole", 420.0, 0.6, 0.05)])
    >>> profile.height_at(np.array([420.3]))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from simulators.geo import FloatArray

N0 = 0.1  # cycle/m, ISO 8608 reference spatial frequency
# Gd(n0) class limits, m³ (lower, upper); the lower limit of A is open and taken as half its mean.
ISO8608_CLASSES: dict[str, tuple[float, float]] = {
    "A": (8e-6, 32e-6),
    "B": (32e-6, 128e-6),
    "C": (128e-6, 512e-6),
    "D": (512e-6, 2048e-6),
    "E": (2048e-6, 8192e-6),
    "F": (8192e-6, 32768e-6),
    "G": (32768e-6, 131072e-6),
    "H": (131072e-6, 524288e-6),
}


def class_mean_gd(name: str) -> float:
    """Geometric mean of a class's ``Gd(n0)`` (16e-6 m³ for A, 64e-6 for B, ...)."""
    lo, hi = ISO8608_CLASSES[name]
    return float(np.sqrt(lo * hi))


@dataclass(frozen=True, slots=True)
class Feature:
    """A pothole (``depth`` > 0 is a dip) or a speed bump (``depth`` is its height) at ``s``."""

    kind: str  # "pothole" | "bump"
    s: float  # centre, metres along the route
    length: float  # metres
    depth: float  # metres


@dataclass(slots=True)
class RoadProfile:
    """Heights (m) every ``dx`` metres from ``s = 0``; sections of ISO class; features."""

    dx: float
    heights: FloatArray
    section_start: FloatArray
    section_class: list[str]
    features: list[Feature]

    @property
    def length(self) -> float:
        return float((len(self.heights) - 1) * self.dx)

    @classmethod
    def synthesize(
        cls,
        length: float,
        sections: list[tuple[float, str]],
        features: list[Feature] | None = None,
        *,
        dx: float = 0.05,
        n_min: float = 0.011,
        n_max: float = 2.83,
        waviness: float = 2.0,
        fade_m: float = 5.0,
        rng: np.random.Generator | None = None,
    ) -> RoadProfile:
        """A profile of ``length`` m whose section starting at ``s`` has the given ISO class.

        The band ``n_min``–``n_max`` (cycle/m) is ISO 8608's; ``waviness`` is ``w``.
        """
        rng = rng or np.random.default_rng(0)
        n = int(np.ceil(length / dx)) + 1
        n_fft = 1 << int(np.ceil(np.log2(max(n, 16))))
        freqs = np.fft.rfftfreq(n_fft, d=dx)
        dn = 1.0 / (n_fft * dx)
        band = (freqs >= n_min) & (freqs <= n_max)
        psd_unit = np.where(band, (np.maximum(freqs, 1e-12) / N0) ** (-waviness), 0.0)  # Gd(n0) = 1
        coeff = (rng.normal(size=len(freqs)) + 1j * rng.normal(size=len(freqs))) * np.sqrt(psd_unit * dn)
        unit = np.fft.irfft(coeff * n_fft / 2.0, n=n_fft)[:n]

        starts = np.array([s for s, _ in sections], dtype=np.float64)
        names = [c for _, c in sections]
        amp = np.sqrt(np.array([class_mean_gd(c) for c in names]))
        s = np.arange(n, dtype=np.float64) * dx
        idx = np.clip(np.searchsorted(starts, s, side="right") - 1, 0, len(starts) - 1)
        scale = amp[idx]
        if fade_m > 0 and len(starts) > 1:
            k = max(1, int(fade_m / dx))
            scale = np.convolve(np.pad(scale, (k // 2, k - 1 - k // 2), mode="edge"), np.ones(k) / k, "valid")
        heights = unit * scale
        feats = sorted(features or [], key=lambda f: f.s)
        for f in feats:
            heights += feature_shape(f, s)
        return cls(dx, heights, starts, names, feats)

    def height_at(self, s: npt.ArrayLike) -> FloatArray:
        x = np.asarray(s, dtype=np.float64) / self.dx
        i = np.clip(np.floor(x).astype(np.int64), 0, len(self.heights) - 2)
        frac = np.clip(x - i, 0.0, 1.0)
        return np.asarray(self.heights[i] * (1.0 - frac) + self.heights[i + 1] * frac, dtype=np.float64)

    def class_at(self, s: float) -> str:
        i = int(
            np.clip(np.searchsorted(self.section_start, s, side="right") - 1, 0, len(self.section_class) - 1)
        )
        return self.section_class[i]


def feature_shape(f: Feature, s: FloatArray) -> FloatArray:
    """Height added by one feature: a raised-cosine dip (pothole) or hump (bump)."""
    u = (s - (f.s - f.length / 2.0)) / f.length
    inside = (u >= 0.0) & (u <= 1.0)
    bump = np.where(inside, np.sin(np.pi * np.clip(u, 0.0, 1.0)) ** 2, 0.0)
    sign = -1.0 if f.kind == "pothole" else 1.0
    return np.asarray(sign * f.depth * bump, dtype=np.float64)


def random_features(
    length: float,
    rng: np.random.Generator,
    potholes_per_km: float = 1.0,
    bumps_per_km: float = 0.3,
    margin: float = 30.0,
) -> list[Feature]:
    """Potholes (3–10 cm deep, 0.3–1.2 m long) and bumps (7 cm, 3.7 m) scattered along a route."""
    out: list[Feature] = []
    usable = max(length - 2 * margin, 0.0)
    for kind, rate in (("pothole", potholes_per_km), ("bump", bumps_per_km)):
        for s in rng.uniform(margin, margin + usable, rng.poisson(rate * usable / 1000.0)):
            if kind == "pothole":
                out.append(
                    Feature(kind, float(s), float(rng.uniform(0.3, 1.2)), float(rng.uniform(0.03, 0.10)))
                )
            else:
                out.append(Feature(kind, float(s), 3.7, 0.07))
    out.sort(key=lambda f: f.s)
    kept: list[Feature] = []
    for f in out:  # keep features apart so each is its own event
        if not kept or f.s - kept[-1].s > 15.0:
            kept.append(f)
    return kept
