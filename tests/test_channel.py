"""Channel models against values worked out by hand from the papers."""

from __future__ import annotations

import math

import pytest
import torch

from hmasd.env import channel
from hmasd.errors import ConfigError

ENVIRONMENTS = ("suburban", "urban", "dense_urban", "highrise_urban")


def test_fspl_known_value() -> None:
    """Friis: 20 log10(4 pi d f / c) at 2.4 GHz, 100 m.

    20 log10(100) = 40; 20 log10(2.4e9) = 187.604; 20 log10(4 pi / c) = -147.552
    -> 80.05 dB.
    """
    assert channel.fspl_db(100.0, 2.4e9) == pytest.approx(80.05, abs=0.01)
    # +6.02 dB per doubling of distance.
    assert channel.fspl_db(200.0, 2.4e9) - channel.fspl_db(100.0, 2.4e9) == pytest.approx(
        20 * math.log10(2), abs=1e-9
    )


def test_al_hourani_los_probability_values() -> None:
    """Al-Hourani et al., IEEE WCL 2014, eq. (4): P = 1 / (1 + a exp(-b (theta - a))).

    Urban (a, b) = (9.61, 0.16): at theta = 90 deg, a exp(-0.16 * 80.39) = 2.49e-5, so
    P = 0.999975; at theta = a the exponent is 0 and P = 1 / (1 + a) = 0.094206.
    Suburban (4.88, 0.43) at 10 deg: 4.88 exp(-0.43 * 5.12) = 0.5398 -> P = 0.64943.
    """
    assert channel.al_hourani_los_probability(90.0, "urban") == pytest.approx(0.999975, abs=1e-6)
    assert channel.al_hourani_los_probability(9.61, "urban") == pytest.approx(1 / 10.61, rel=1e-9)
    assert channel.al_hourani_los_probability(10.0, "suburban") == pytest.approx(0.64943, abs=1e-4)


def test_al_hourani_path_loss_is_fspl_plus_mixture() -> None:
    """Eq. (5): PL = FSPL + P eta_LoS + (1 - P) eta_NLoS; dense urban, r = h = 100 m.

    theta = 45 deg; 12.08 exp(-0.11 * 32.92) = 0.32312, so P = 1 / 1.32312 = 0.75579;
    d = 141.42 m, FSPL(2 GHz) = 81.47 dB; excess = 0.75579 * 1.6 + 0.24421 * 23 = 6.826 dB.
    """
    pl = channel.al_hourani_path_loss_db(100.0, 100.0, "dense_urban", 2e9)
    fspl = channel.fspl_db(math.hypot(100.0, 100.0), 2e9)
    assert fspl == pytest.approx(81.47, abs=0.01)
    assert pl - fspl == pytest.approx(6.826, abs=0.01)


@pytest.mark.parametrize(
    ("environment", "paper_deg"),
    [("suburban", 20.34), ("urban", 42.44), ("dense_urban", 54.62), ("highrise_urban", 75.52)],
)
def test_al_hourani_optimal_elevation_matches_paper(environment: str, paper_deg: float) -> None:
    """Optimal elevation angles reported by Al-Hourani et al. (2014), Table I / Fig. 3."""
    theta = channel.al_hourani_optimal_elevation_deg(environment)
    assert theta == pytest.approx(paper_deg, abs=0.5)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_optimal_elevation_maximises_coverage_radius(environment: str) -> None:
    """Numerically: at a fixed path-loss budget, R(theta) peaks at the returned angle.

    R(theta) is found by bisection on r of PL(r, r tan theta) = budget at a few angles
    around the optimum; the optimum's radius must be the largest.
    """
    budget, f = 110.0, 2e9
    theta_opt = channel.al_hourani_optimal_elevation_deg(environment)

    def radius(theta: float) -> float:
        lo, hi = 1.0, 1e6
        for _ in range(200):
            mid = math.sqrt(lo * hi)
            h = mid * math.tan(math.radians(theta))
            if channel.al_hourani_path_loss_db(mid, h, environment, f) < budget:
                lo = mid
            else:
                hi = mid
        return lo

    r_opt = radius(theta_opt)
    for delta in (-5.0, -1.0, 1.0, 5.0):
        assert radius(theta_opt + delta) < r_opt


def test_tr36777_los_probability() -> None:
    """TR 36.777 Table B-1 UMa-AV at h = 50 m, d2D = 100 m.

    d1 = max(460 log10 50 - 700, 18) = 81.54; p1 = 4300 log10 50 - 3800 = 3505.5;
    P = d1/d + exp(-d/p1)(1 - d1/d) = 0.8154 + 0.97188 * 0.1846 = 0.99480.
    Inside d1 and above 100 m the probability is 1.
    """
    assert channel.tr36777_uma_av_los_probability(100.0, 50.0) == pytest.approx(0.99480, abs=1e-4)
    assert channel.tr36777_uma_av_los_probability(50.0, 50.0) == 1.0
    assert channel.tr36777_uma_av_los_probability(5000.0, 150.0) == 1.0


def test_tr36777_path_loss_formulas() -> None:
    """TR 36.777 Table B-2 UMa-AV at fc = 2 GHz, d3D = 200 m, h = 60 m.

    LoS: 28 + 22 log10 200 + 20 log10 2 = 28 + 50.62 + 6.02 = 84.64 dB.
    NLoS: -17.5 + (46 - 7 log10 60) log10 200 + 20 log10(40 pi 2 / 3)
        = -17.5 + 33.553 * 2.30103 + 38.459 = 98.17 dB.
    """
    assert channel.tr36777_uma_av_los_path_loss_db(200.0, 2e9) == pytest.approx(84.64, abs=0.01)
    assert channel.tr36777_uma_av_nlos_path_loss_db(200.0, 60.0, 2e9) == pytest.approx(
        98.17, abs=0.01
    )
    # The mean model mixes the two with the LoS probability.
    r, h = math.sqrt(200.0**2 - 60.0**2), 60.0
    p = channel.tr36777_uma_av_los_probability(r, h)
    mean = channel.tr36777_uma_av_path_loss_db(r, h, 2e9)
    assert mean == pytest.approx(p * 84.64 + (1 - p) * 98.17, abs=0.02)


@pytest.mark.parametrize("model", channel.CHANNEL_MODELS)
def test_tensor_and_float_inputs_agree(model: str) -> None:
    r = torch.tensor([0.0, 10.0, 150.0, 700.0, 1400.0])
    h = torch.tensor([50.0, 80.0, 100.0, 120.0, 150.0])
    out = channel.path_loss_db(model, r, h, 2.4e9, "urban")
    assert out.shape == r.shape and out.dtype == torch.float32
    for i in range(len(r)):
        ref = channel.path_loss_db(model, float(r[i]), float(h[i]), 2.4e9, "urban")
        assert isinstance(ref, float)
        assert float(out[i]) == pytest.approx(ref, abs=1e-3)


def test_path_loss_grows_with_distance() -> None:
    r = torch.linspace(0.0, 1400.0, 50)
    for model in channel.CHANNEL_MODELS:
        pl = channel.path_loss_db(model, r, torch.full_like(r, 100.0), 2.4e9, "urban")
        assert bool((pl[1:] >= pl[:-1]).all()), model


def test_unknown_names_raise_config_error_listing_allowed() -> None:
    with pytest.raises(ConfigError, match="suburban, urban, dense_urban, highrise_urban"):
        channel.al_hourani_los_probability(30.0, "jungle")
    with pytest.raises(ConfigError, match="jungle"):
        channel.al_hourani_optimal_elevation_deg("jungle")
    with pytest.raises(ConfigError, match="free_space, 3gpp_36777, al_hourani"):
        channel.path_loss_db("two_ray", 1.0, 1.0, 2.4e9)
