"""Air-to-ground channel models as plain functions of torch tensors or python floats.

Every function accepts tensors (any shape, broadcasting) or python floats: with floats it
computes in float64 and returns a python float, so the two agree to float precision.

Models (all return the *mean* path loss in dB, the LoS/NLoS mixture weighted by the LoS
probability, as in Al-Hourani et al.; no random shadowing):

- ``free_space``: Friis free-space path loss ``20 log10(4 pi d f / c)``.
- ``al_hourani``: A. Al-Hourani, S. Kandeepan, S. Lardner, "Optimal LAP Altitude for
  Maximum Coverage", IEEE Wireless Commun. Lett. 3(6), 2014.
  ``P_LoS(theta) = 1 / (1 + a exp(-b (theta - a)))`` with the elevation angle ``theta`` in
  degrees, and ``PL = FSPL + P_LoS eta_LoS + (1 - P_LoS) eta_NLoS``; (a, b, eta_LoS,
  eta_NLoS) per environment from the paper.
- ``3gpp_36777``: 3GPP TR 36.777 (Enhanced LTE support for aerial vehicles), Annex B,
  UMa-AV, aerial heights 22.5-300 m. Table B-1 LoS probability::

      22.5 < h <= 100 m:  d1 = max(460 log10 h - 700, 18),  p1 = 4300 log10 h - 3800
                          P = 1 if d2D <= d1 else d1/d2D + exp(-d2D/p1) (1 - d1/d2D)
      100 < h <= 300 m:   P = 1

  Table B-2 path loss (fc in GHz, d3D in m)::

      LoS:  28.0 + 22 log10 d3D + 20 log10 fc
      NLoS: -17.5 + (46 - 7 log10 h) log10 d3D + 20 log10(40 pi fc / 3)

  As in TR 38.901 the NLoS loss is floored at the LoS loss. Heights are clamped into
  [22.5, 300] m, the range the tables cover (the env refuses altitude bounds outside it).

For a UAV base station serving a ground user the UAV plays the aerial "UT" of TR 36.777
(links are reciprocal), so ``altitude_m`` is the UAV height above the (0 m) user.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from typing import TypeVar

import torch
from torch import Tensor

from hmasd.config import TR36777_MAX_HEIGHT_M, TR36777_MIN_HEIGHT_M, ChannelModel
from hmasd.errors import ConfigError

SPEED_OF_LIGHT = 299_792_458.0

Num = TypeVar("Num", float, Tensor)

CHANNEL_MODELS: tuple[str, ...] = typing.get_args(ChannelModel)

# (a, b, eta_LoS dB, eta_NLoS dB): Al-Hourani et al. 2014, Table I.
AL_HOURANI_PARAMS: dict[str, tuple[float, float, float, float]] = {
    "suburban": (4.88, 0.43, 0.1, 21.0),
    "urban": (9.61, 0.16, 1.0, 20.0),
    "dense_urban": (12.08, 0.11, 1.6, 23.0),
    "highrise_urban": (27.23, 0.08, 2.3, 34.0),
}



def _apply(fn: Callable[..., Tensor], *args: float | Tensor) -> float | Tensor:
    """Run a tensor formula on tensors, or on floats in float64 returning a float."""
    if any(isinstance(a, Tensor) for a in args):
        return fn(*args)
    out = fn(*(torch.tensor(float(a), dtype=torch.float64) for a in args))
    return float(out)


def al_hourani_params(environment: str) -> tuple[float, float, float, float]:
    """(a, b, eta_LoS, eta_NLoS) of an Al-Hourani environment; ConfigError if unknown."""
    try:
        return AL_HOURANI_PARAMS[environment]
    except KeyError:
        raise ConfigError(
            f"unknown al_hourani environment {environment!r} "
            f"(allowed: {', '.join(AL_HOURANI_PARAMS)})"
        ) from None


def fspl_db(distance_m: Num, carrier_hz: float) -> Num:
    """Free-space path loss ``20 log10(4 pi d f / c)`` in dB (``distance_m`` > 0)."""
    const = 20.0 * math.log10(4.0 * math.pi * carrier_hz / SPEED_OF_LIGHT)
    return _apply(lambda d: 20.0 * torch.log10(d) + const, distance_m)  # type: ignore[return-value]


def elevation_deg(horizontal_m: Num, altitude_m: Num) -> Num:
    """Elevation angle of the UAV seen from the user, degrees in [0, 90]."""
    return _apply(  # type: ignore[return-value]
        lambda r, h: torch.rad2deg(torch.atan2(h, r)), horizontal_m, altitude_m
    )


def al_hourani_los_probability(elevation_deg: Num, environment: str) -> Num:
    """LoS probability ``1 / (1 + a exp(-b (theta - a)))``, theta in degrees."""
    a, b, _, _ = al_hourani_params(environment)
    return _apply(  # type: ignore[return-value]
        lambda th: 1.0 / (1.0 + a * torch.exp(-b * (th - a))), elevation_deg
    )


def al_hourani_path_loss_db(
    horizontal_m: Num, altitude_m: Num, environment: str, carrier_hz: float
) -> Num:
    """Mean path loss ``FSPL + P_LoS eta_LoS + (1 - P_LoS) eta_NLoS`` in dB."""
    a, b, eta_los, eta_nlos = al_hourani_params(environment)
    const = 20.0 * math.log10(4.0 * math.pi * carrier_hz / SPEED_OF_LIGHT)

    def f(r: Tensor, h: Tensor) -> Tensor:
        theta = torch.rad2deg(torch.atan2(h, r))
        p = 1.0 / (1.0 + a * torch.exp(-b * (theta - a)))
        fspl = 10.0 * torch.log10(r * r + h * h) + const
        return fspl + p * eta_los + (1.0 - p) * eta_nlos

    return _apply(f, horizontal_m, altitude_m)  # type: ignore[return-value]


def _coverage_slope(theta_deg: float, environment: str) -> float:
    """d/dtheta of ``ln R(theta)`` (times a positive constant) at fixed path loss.

    At fixed PL, ``20 log10(R / cos theta) + (eta_LoS - eta_NLoS) P(theta) = const``, so
    ``d log10 R / d theta = -(pi/180) tan(theta) / ln 10 - A P'(theta) / 20`` with
    ``A = eta_LoS - eta_NLoS``; multiplied by -20 this is Al-Hourani's eq. (9):
    ``pi tan(theta) / (9 ln 10) + A a b exp(-b(theta-a)) / (a exp(-b(theta-a)) + 1)^2``.
    Returned with the sign of dR/dtheta.
    """
    a, b, eta_los, eta_nlos = al_hourani_params(environment)
    big_a = eta_los - eta_nlos
    e = math.exp(-b * (theta_deg - a))
    dp = a * b * e / (a * e + 1.0) ** 2
    return -(math.pi * math.tan(math.radians(theta_deg)) / (9.0 * math.log(10.0)) + big_a * dp)


def al_hourani_optimal_elevation_deg(environment: str) -> float:
    """Elevation angle (degrees) that maximises the coverage radius at a fixed path loss.

    Solves ``dR/dtheta = 0`` (:func:`_coverage_slope`) by bisection on (0, 90). The slope is
    positive at small angles (LoS gain wins) and negative near 90 degrees (distance wins).
    Where it changes sign more than once, the root with the largest radius is returned
    (found by scanning a 0.25-degree grid first). The angle does not depend on the carrier
    or on the path-loss budget.
    """
    grid = [0.25 * i for i in range(1, 360)]  # (0, 90) exclusive
    slopes = [_coverage_slope(t, environment) for t in grid]
    roots = []
    for lo, hi, s_lo, s_hi in zip(grid, grid[1:], slopes, slopes[1:], strict=False):
        if s_lo > 0.0 >= s_hi:  # a maximum of R lies in [lo, hi]
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if _coverage_slope(mid, environment) > 0.0:
                    lo = mid
                else:
                    hi = mid
            roots.append(0.5 * (lo + hi))
    if not roots:  # pragma: no cover - every published environment has a maximum
        raise ConfigError(f"no coverage-maximising elevation for {environment!r}")
    return max(roots, key=lambda t: _log_radius(t, environment))


def _log_radius(theta_deg: float, environment: str) -> float:
    """``log10 R(theta)`` up to an additive constant, at fixed path loss."""
    _, _, eta_los, eta_nlos = al_hourani_params(environment)
    p = al_hourani_los_probability(theta_deg, environment)
    return math.log10(math.cos(math.radians(theta_deg))) - (eta_los - eta_nlos) * p / 20.0


def tr36777_uma_av_los_probability(horizontal_m: Num, altitude_m: Num) -> Num:
    """TR 36.777 Table B-1, UMa-AV LoS probability (heights clamped to [22.5, 300] m)."""

    def f(r: Tensor, h: Tensor) -> Tensor:
        h = h.clamp(TR36777_MIN_HEIGHT_M, TR36777_MAX_HEIGHT_M)
        lh = torch.log10(h)
        d1 = (460.0 * lh - 700.0).clamp_min(18.0)
        p1 = 4300.0 * lh - 3800.0
        r = r.clamp_min(1e-6)
        ratio = d1 / r
        far = ratio + torch.exp(-r / p1) * (1.0 - ratio)
        p = torch.where(r <= d1, torch.ones_like(far), far)
        return torch.where(h > 100.0, torch.ones_like(p), p)

    return _apply(f, horizontal_m, altitude_m)  # type: ignore[return-value]


def tr36777_uma_av_los_path_loss_db(distance_3d_m: Num, carrier_hz: float) -> Num:
    """TR 36.777 Table B-2, UMa-AV LoS: ``28 + 22 log10 d3D + 20 log10 fc[GHz]``."""
    const = 28.0 + 20.0 * math.log10(carrier_hz / 1e9)
    return _apply(lambda d: 22.0 * torch.log10(d) + const, distance_3d_m)  # type: ignore[return-value]


def tr36777_uma_av_nlos_path_loss_db(distance_3d_m: Num, altitude_m: Num, carrier_hz: float) -> Num:
    """TR 36.777 Table B-2, UMa-AV NLoS, floored at the LoS loss (TR 38.901 convention)."""
    fc = carrier_hz / 1e9
    const = -17.5 + 20.0 * math.log10(40.0 * math.pi * fc / 3.0)
    los_const = 28.0 + 20.0 * math.log10(fc)

    def f(d: Tensor, h: Tensor) -> Tensor:
        h = h.clamp(TR36777_MIN_HEIGHT_M, TR36777_MAX_HEIGHT_M)
        ld = torch.log10(d)
        nlos = (46.0 - 7.0 * torch.log10(h)) * ld + const
        return torch.maximum(nlos, 22.0 * ld + los_const)

    return _apply(f, distance_3d_m, altitude_m)  # type: ignore[return-value]


def tr36777_uma_av_path_loss_db(horizontal_m: Num, altitude_m: Num, carrier_hz: float) -> Num:
    """Mean UMa-AV path loss ``P_LoS PL_LoS + (1 - P_LoS) PL_NLoS`` in dB."""

    def f(r: Tensor, h: Tensor) -> Tensor:
        d = torch.sqrt(r * r + h * h)
        p = tr36777_uma_av_los_probability(r, h)
        los = tr36777_uma_av_los_path_loss_db(d, carrier_hz)
        nlos = tr36777_uma_av_nlos_path_loss_db(d, h, carrier_hz)
        return nlos + p * (los - nlos)

    return _apply(f, horizontal_m, altitude_m)  # type: ignore[return-value]


def path_loss_db(
    model: str,
    horizontal_m: Num,
    altitude_m: Num,
    carrier_hz: float,
    environment: str = "urban",
) -> Num:
    """Mean air-to-ground path loss in dB of a named model (see module docstring)."""
    if model == "free_space":
        return _apply(  # type: ignore[return-value]
            lambda r, h: fspl_db(torch.sqrt(r * r + h * h), carrier_hz), horizontal_m, altitude_m
        )
    if model == "al_hourani":
        return al_hourani_path_loss_db(horizontal_m, altitude_m, environment, carrier_hz)
    if model == "3gpp_36777":
        return tr36777_uma_av_path_loss_db(horizontal_m, altitude_m, carrier_hz)
    raise ConfigError(f"unknown channel model {model!r} (allowed: {', '.join(CHANNEL_MODELS)})")


def db_to_linear(db: Num) -> Num:
    """``10^(db / 10)``."""
    return _apply(lambda x: torch.pow(10.0, x / 10.0), db)  # type: ignore[return-value]


def linear_to_db(x: Num) -> Num:
    """``10 log10(x)``."""
    return _apply(lambda v: 10.0 * torch.log10(v), x)  # type: ignore[return-value]
