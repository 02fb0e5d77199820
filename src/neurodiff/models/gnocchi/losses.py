"""Prior-matching terms of InfoDiffusion: MMD with a once-normalised kernel, and the Gaussian KL.

Kernels for codes in ℝ^D, scaled for the prior N(0, I) (where E‖x − y‖² = 2D):
- "rbf": k(x, y) = exp(−‖x − y‖² / (2D)), a Gaussian kernel of bandwidth² = D;
- "imq": k(x, y) = C / (C + ‖x − y‖²) with C = 2D (inverse multiquadric, as in WAE).
The squared distance is divided by D once. (InfoDiffusion's public code takes the mean over
dimensions and then divides by D again, i.e. ‖x − y‖² / D², a kernel that widens with D².)

MMD² is the unbiased U-statistic of Gretton et al. (2012): the diagonal terms k(x_i, x_i) are
left out of the within-sample means, so two samples of one distribution give 0 in expectation.
"""

from __future__ import annotations

import torch

MMD_KERNELS = ("rbf", "imq")


def _squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """‖x_i − y_j‖² (n, m) for x (n, D) and y (m, D)."""
    return (x.unsqueeze(1) - y.unsqueeze(0)).pow(2).sum(dim=-1)


def kernel_matrix(x: torch.Tensor, y: torch.Tensor, kernel: str = "rbf") -> torch.Tensor:
    """k(x_i, y_j) (n, m) with the D-normalised kernel named `kernel` (module docstring)."""
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(
            f"kernel inputs must be (n, D) and (m, D), got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    dim = x.shape[1]
    distances = _squared_distances(x, y)
    if kernel == "rbf":
        return torch.exp(-distances / (2.0 * dim))
    if kernel == "imq":
        scale = 2.0 * dim
        return scale / (scale + distances)
    raise ValueError(f"kernel={kernel!r} is not one of {MMD_KERNELS}")


def _off_diagonal_mean(k: torch.Tensor) -> torch.Tensor:
    """Mean of a square kernel matrix without its diagonal."""
    n = k.shape[0]
    return (k.sum() - k.diagonal().sum()) / (n * (n - 1))


def mmd(x: torch.Tensor, y: torch.Tensor, kernel: str = "rbf") -> torch.Tensor:
    """Unbiased MMD² between samples x (n, D) and y (m, D), n, m ≥ 2."""
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError(
            f"MMD needs at least 2 samples on each side, got {x.shape[0]} and {y.shape[0]}"
        )
    k_xx = _off_diagonal_mean(kernel_matrix(x, x, kernel))
    k_yy = _off_diagonal_mean(kernel_matrix(y, y, kernel))
    return k_xx + k_yy - 2.0 * kernel_matrix(x, y, kernel).mean()


def kl_to_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, e^logvar) ‖ N(0, I)) summed over code dimensions, averaged over the batch."""
    return 0.5 * (logvar.exp() + mean.pow(2) - 1.0 - logvar).sum(dim=-1).mean()
