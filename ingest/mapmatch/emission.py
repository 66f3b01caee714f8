"""Emission model: how likely a fix is, given the van is at a candidate point on a road.

A Gaussian on the fix-to-road distance (Newson & Krumm 2009, eq. 1), as a log-probability up to
a constant shared by all candidates: ``-0.5 (d / sigma_z)^2``.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def emission_logp(distance: npt.NDArray[np.float64], sigma_z: float) -> npt.NDArray[np.float64]:
    """Log emission probability of fixes at ``distance`` metres from their candidates (NaN → -inf)."""
    if sigma_z <= 0:
        raise ValueError("sigma_z must be > 0")
    z = distance / sigma_z
    out: npt.NDArray[np.float64] = np.where(np.isfinite(z), -0.5 * z * z, -np.inf)
    return out


def distance_pvalue(distance: npt.NDArray[np.float64], sigma_z: float) -> npt.NDArray[np.float64]:
    """Probability of a fix at least this far from the true position (Rayleigh tail), in [0, 1]."""
    z = distance / sigma_z
    out: npt.NDArray[np.float64] = np.exp(-0.5 * z * z)
    return out
