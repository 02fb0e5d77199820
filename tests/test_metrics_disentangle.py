"""Disentanglement metrics on codes whose answer is known.

Factors: two continuous (uniform on [−1, 1]) and one discrete (8 classes), independent.
- *disentangled*: a permutation of the factors, each axis through a different monotone map;
- *rotated*: the z-scored factors mixed by a Haar-random rotation with no entry above 0.75
  in magnitude (so every code axis carries at least two factors);
- *noise*: Gaussian codes independent of the factors.

Tolerances for the disentangled code:
- MIG: the plug-in MI of two independent variables with B_z and B_v bins has a positive bias
  ≈ (B_z − 1)(B_v − 1) / (2N) nats: with N = 1500 and 20 bins that is 0.12 nats against
  H(v) = ln 20 ≈ 3.0 (continuous) and 0.044 against ln 8 ≈ 2.1 (discrete), so the second-
  largest MI eats ≤ 0.04 of each normalised gap: MIG > 0.93. The best MI is exact, since
  equal-frequency bins of a monotone transform are the bins of the factor.
- DCI (GBT): trees split only on the axis that orders the factor perfectly; D, C > 0.95.
- DCI (Lasso): the linear fit of a monotone map leaves a residual that irrelevant axes cannot
  explain, so their coefficients stay at 0 up to sampling noise; D, C > 0.95.
- SAP uses the R² of a 1-D *linear* fit, so a monotone nonlinear map caps it at the squared
  correlation ρ² between factor and code: SAP ≈ mean_k ρ_k² (ρ² = 1 for the discrete factor,
  whose tree classifier is exact); we check it within 0.03.
"""

from __future__ import annotations

import numpy as np
import pytest

from neurodiff.metrics.disentangle import (
    dci,
    dci_from_importance,
    infer_discrete,
    linear_decoding_r2,
    mig,
    mutual_information_matrix,
    sap,
    traversal_selectivity,
)

N = 1500
DISCRETE = np.array([False, False, True])


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    rng = np.random.default_rng(0)
    return np.column_stack([rng.uniform(-1, 1, N), rng.uniform(-1, 1, N), rng.integers(0, 8, N)])


@pytest.fixture(scope="module")
def disentangled(factors: np.ndarray) -> np.ndarray:
    """Permuted factors, each through its own monotone map."""
    return np.column_stack(
        [(factors[:, 2] + 1) ** 2, np.exp(2 * factors[:, 0]), np.arctan(3 * factors[:, 1])]
    )


@pytest.fixture(scope="module")
def rotated(factors: np.ndarray) -> np.ndarray:
    rotation, _ = np.linalg.qr(np.random.default_rng(120).normal(size=(3, 3)))
    assert np.abs(rotation).max() < 0.75  # a rotation that really mixes the axes
    return (factors - factors.mean(0)) / factors.std(0) @ rotation


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(N, 3))


def expected_sap(factors: np.ndarray, codes: np.ndarray) -> float:
    """mean_k ρ_k² for the disentangled code (1 for the discrete factor)."""
    rho_0 = np.corrcoef(factors[:, 0], codes[:, 1])[0, 1]
    rho_1 = np.corrcoef(factors[:, 1], codes[:, 2])[0, 1]
    return float((rho_0**2 + rho_1**2 + 1.0) / 3)


def all_scores(codes: np.ndarray, factors: np.ndarray) -> dict[str, float]:
    gbt = dci(codes, factors, model="gbt", discrete=DISCRETE)
    lasso = dci(codes, factors, model="lasso", discrete=DISCRETE)
    return {
        "mig": mig(codes, factors, discrete=DISCRETE),
        "dci_d_gbt": gbt.disentanglement,
        "dci_c_gbt": gbt.completeness,
        "dci_i_gbt": gbt.informativeness,
        "dci_d_lasso": lasso.disentanglement,
        "dci_c_lasso": lasso.completeness,
        "dci_i_lasso": lasso.informativeness,
        "sap": sap(codes, factors, discrete=DISCRETE),
    }


@pytest.fixture(scope="module")
def scores(factors, disentangled, rotated, noise) -> dict[str, dict[str, float]]:
    return {
        "disentangled": all_scores(disentangled, factors),
        "rotated": all_scores(rotated, factors),
        "noise": all_scores(noise, factors),
    }


def test_disentangled_code_scores_near_one(scores, factors, disentangled):
    s = scores["disentangled"]
    assert s["mig"] > 0.93
    for key in ("dci_d_gbt", "dci_c_gbt", "dci_i_gbt", "dci_d_lasso", "dci_c_lasso"):
        assert s[key] > 0.95, key
    assert s["sap"] == pytest.approx(expected_sap(factors, disentangled), abs=0.03)
    assert s["sap"] > 0.85


def test_rotation_scores_clearly_lower(scores):
    for key in ("mig", "dci_d_gbt", "dci_c_gbt", "dci_d_lasso", "dci_c_lasso", "sap"):
        assert scores["rotated"][key] < 0.5, key
        assert scores["rotated"][key] < scores["disentangled"][key] - 0.4, key
    # a rotation loses no information: the factors remain predictable from all axes together
    assert scores["rotated"]["dci_i_gbt"] > 0.8


def test_noise_scores_near_zero(scores):
    s = scores["noise"]
    assert s["mig"] < 0.05
    assert s["sap"] < 0.05
    assert s["dci_d_gbt"] < 0.1 and s["dci_c_gbt"] < 0.1
    assert abs(s["dci_i_gbt"]) < 0.1 and abs(s["dci_i_lasso"]) < 0.1


def test_mig_is_invariant_to_monotone_maps_and_exact_for_the_best_axis(factors, disentangled):
    mi = mutual_information_matrix(disentangled, factors, discrete=DISCRETE)
    same = mutual_information_matrix(
        np.column_stack([factors[:, 2], factors[:, 0], factors[:, 1]]), factors, discrete=DISCRETE
    )
    np.testing.assert_allclose(mi, same)
    np.testing.assert_allclose(
        mi[[1, 2, 0], [0, 1, 2]], [np.log(20), np.log(20), np.log(8)], rtol=1e-3
    )


def test_dci_from_importance_known_matrices():
    assert dci_from_importance(np.eye(3)) == pytest.approx((1.0, 1.0))
    assert dci_from_importance(np.ones((3, 3))) == pytest.approx((0.0, 0.0), abs=1e-12)
    # one code carries both factors, the other nothing: D = 0, C = 1
    assert dci_from_importance(np.array([[1.0, 1.0], [0.0, 0.0]])) == pytest.approx((0.0, 1.0))


def test_linear_decoding_r2(factors, noise):
    train, test = np.arange(1000), np.arange(1000, N)
    identity = linear_decoding_r2(factors, factors, train, test)
    np.testing.assert_allclose(identity, 1.0, atol=1e-6)
    assert np.all(np.abs(linear_decoding_r2(noise, factors, train, test)) < 0.05)


def test_traversal_selectivity_identity_and_mixing():
    identity = traversal_selectivity(np.eye(3))
    assert identity.selective.all() and identity.score == pytest.approx(1.0)
    np.testing.assert_array_equal(identity.matched_factor, [0, 1, 2])
    # every axis moves factor 0 most: only the axis matched to factor 0 is selective
    mixing = traversal_selectivity(np.array([[1.0, 0.6, 0.6], [0.9, 0.6, 0.5], [1.0, 0.7, 0.6]]))
    assert not mixing.selective.all() and mixing.selective.sum() == 1
    assert mixing.score < 0
    equal = traversal_selectivity(np.array([[1.0, 1.0], [1.0, -1.0]]))
    assert not equal.selective.any() and equal.score == 0.0
    permuted = traversal_selectivity(np.array([[0.1, 2.0], [-3.0, 0.2]]))
    np.testing.assert_array_equal(permuted.matched_factor, [1, 0])
    assert permuted.selective.all()


def test_discrete_inference_and_bad_input(factors):
    np.testing.assert_array_equal(infer_discrete(factors), DISCRETE)
    with pytest.raises(ValueError, match="constant"):
        mig(factors, np.column_stack([factors[:, 0], np.ones(N)]))
    with pytest.raises(ValueError, match="samples"):
        dci(factors[:10], factors[:11])
    with pytest.raises(ValueError, match="one per factor"):
        sap(factors, factors, discrete=[True])


def test_mig_binning_is_named_and_equal_width_differs_from_equal_frequency():
    from neurodiff.metrics.disentangle import discretise

    x = np.array([0.0, 0.1, 0.2, 0.3, 10.0])
    # equal width: four values share the first of two bins; equal frequency splits them
    assert discretise(x, 2, "equal_width").tolist() == [0, 0, 0, 0, 1]
    assert discretise(x, 2, "equal_frequency").tolist() == [0, 0, 1, 1, 1]
    assert discretise(np.ones(4), 3, "equal_width").tolist() == [0, 0, 0, 0]
    with pytest.raises(ValueError, match="binning='quantile'"):
        discretise(x, 2, "quantile")
    rng = np.random.default_rng(0)
    factor = rng.integers(0, 4, 400)
    codes = np.stack([factor + 0.01 * rng.normal(size=400), rng.normal(size=400)], 1)
    for binning in ("equal_width", "equal_frequency"):
        assert mig(codes, factor[:, None], 10, [True], binning) > 0.8


def test_factor_subspace_r2_is_rotation_invariant_and_finds_orthogonal_subspaces():
    from neurodiff.metrics.disentangle import factor_subspace_r2

    rng = np.random.default_rng(1)
    angle = rng.uniform(0, 2 * np.pi, 500)
    speed = rng.normal(size=500)
    factors = np.stack([np.cos(angle), np.sin(angle), speed], 1)
    codes = factors + 0.05 * rng.normal(size=(500, 3))
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    train, test = np.arange(400), np.arange(400, 500)
    r2, angles = factor_subspace_r2(codes, factors, train, test, [[0, 1], [2]])
    r2_rot, angles_rot = factor_subspace_r2(codes @ rotation, factors, train, test, [[0, 1], [2]])
    assert np.all(r2 > 0.98)
    np.testing.assert_allclose(r2, r2_rot, atol=1e-3)
    # the angle is measured in the z-scored code space, so a rotation changes it a little
    assert angles[0, 1] > 85 and angles_rot[0, 1] > 75 and angles[0, 0] < 1e-3
    # a code that mixes speed into the angle directions: the subspaces are no longer orthogonal
    mixed = np.stack([factors[:, 0] + factors[:, 2], factors[:, 1], factors[:, 2]], 1)
    _, angles_mixed = factor_subspace_r2(mixed, factors, train, test, [[0, 1], [2]])
    assert angles_mixed[0, 1] < 60
