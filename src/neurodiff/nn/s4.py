"""S4D: a diagonal structured state-space layer (Gu et al. 2022), applied by FFT convolution.

LDNS used the full S4 kernel of the same family (diagonal-plus-low-rank A, HiPPO-LegS init,
Cauchy kernel). This module is the diagonal variant, S4D, written from the S4D paper's
equations: per channel h a complex diagonal state matrix A (N/2 modes; their conjugates are
implied, so the state is N-dimensional and real), input vector B, output vector C, step size
Δ = exp(log_dt) and a skip term D. Zero-order hold gives

    Ā = exp(ΔA),   B̄ = (exp(ΔA) − 1) / A · B,   K[l] = 2·Re(Σ_n C_n B̄_n Ā_n^l),

a convolution kernel built by one Vandermonde product and applied to the input by FFT:
y = K * x + D·x. The same map, run as a recurrence, is s_t = Ā s_{t−1} + B̄ x_t,
y_t = 2·Re(C·s_t) + D x_t (the tests check the FFT path against it).

Bidirectional layers have two output vectors C (forward and backward) sharing A, B and Δ:
y = K_f * x + flip(K_b * flip(x)) + D·x, i.e. a causal and an anti-causal convolution summed
(both include lag 0; D is counted once).

The kernel depends only on the parameters and the length, so when no gradient is needed
(sampling: many forward passes with fixed weights) it is cached, keyed on the length and a
snapshot of the parameter values; any change of a value (optimizer step, `load_state_dict`,
an EMA update) invalidates it. Values are compared rather than tensor version counters
because fused optimizers and in-place edits through `.data` do not bump those counters.
Setting `cache_kernel = False` on a layer rebuilds the kernel on every call instead.

`kernel_cutoff` (default None: the global kernel, as LDNS) zeroes every lag at or beyond it,
in both directions. It exists for a diagnostic: a model trained on L bins and run on 16·L
applies kernel lags it was never trained at (`neurodiff.models.ldns.length_generalisation`).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.autograd.function import once_differentiable

INITS = ("lin", "inv")


def s4d_eigenvalues(num_modes: int, d_state: int, init: str) -> torch.Tensor:
    """Initial diagonal of A (complex, shape (num_modes,)): S4D-Lin or S4D-Inv."""
    n = torch.arange(num_modes, dtype=torch.float64)
    if init == "lin":
        imag = math.pi * n
    elif init == "inv":
        imag = d_state / math.pi * (d_state / (2 * n + 1) - 1)
    else:
        raise ValueError(f"init={init!r} is not one of {INITS}")
    return torch.complex(torch.full_like(n, -0.5), imag)


class _FFTConv(torch.autograd.Function):
    """y = (x ⊛ k)[:L]: x (B, H, L) zero-padded to 2L, circularly convolved with k (H, 2L).

    The backward pass is written out (circular correlations by FFT) because autograd's own
    route through rfft/irfft with padding costs about twice as many FFTs on CPU.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        n, length = kernel.shape[-1], x.shape[-1]
        kernel_fft = torch.fft.rfft(kernel)
        x_fft = torch.fft.rfft(x, n=n)
        ctx.save_for_backward(x_fft, kernel_fft)
        ctx.length = length
        return torch.fft.irfft(x_fft * kernel_fft, n=n)[..., :length]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_y: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        x_fft, kernel_fft = ctx.saved_tensors
        n = 2 * (kernel_fft.shape[-1] - 1)
        grad_fft = torch.fft.rfft(grad_y, n=n)
        grad_x = grad_kernel = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.fft.irfft(grad_fft * kernel_fft.conj(), n=n)[..., : ctx.length]
        if ctx.needs_input_grad[1]:
            cross = torch.einsum("bhf,bhf->hf", grad_fft, x_fft.conj())
            grad_kernel = torch.fft.irfft(cross, n=n)
        return grad_x, grad_kernel


def fft_conv(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Linear convolution y_t = Σ_j k[j]·x_{t−j} (j taken mod 2L) of x (B, H, L) with k (H, 2L).

    k[0 … L−1] are the causal lags 0 … L−1; k[2L−l] is the anti-causal lag −l.
    """
    if kernel.shape[-1] != 2 * x.shape[-1]:
        raise ValueError(
            f"kernel length {kernel.shape[-1]} must be twice the input length {x.shape[-1]}"
        )
    return _FFTConv.apply(x, kernel)


def circular_reverse(v: torch.Tensor) -> torch.Tensor:
    """v[j] → v[−j mod n] along the last axis: turns causal lags into anti-causal ones."""
    return torch.roll(v.flip(-1), 1, dims=-1)


class S4D(nn.Module):
    """Diagonal state-space layer mapping (B, H, L) → (B, H, L); causal or bidirectional."""

    def __init__(
        self,
        channels: int,
        d_state: int = 64,
        bidirectional: bool = False,
        init: str = "lin",
        dt_min: float = 1e-3,
        dt_max: float = 0.1,
    ) -> None:
        super().__init__()
        if d_state < 2 or d_state % 2:
            raise ValueError(f"d_state must be an even number ≥ 2, got {d_state}")
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < dt_min ≤ dt_max, got dt_min={dt_min}, dt_max={dt_max}")
        self.channels = channels
        self.d_state = d_state
        self.bidirectional = bidirectional
        modes = d_state // 2
        directions = 2 if bidirectional else 1
        # Δ log-uniform in [dt_min, dt_max], one per channel.
        log_dt = torch.rand(channels) * math.log(dt_max / dt_min) + math.log(dt_min)
        eigenvalues = s4d_eigenvalues(modes, d_state, init).repeat(channels, 1)
        self.log_dt = nn.Parameter(log_dt)
        self.log_neg_A_real = nn.Parameter((-eigenvalues.real).log().float())
        self.A_imag = nn.Parameter(eigenvalues.imag.float())
        self.B = nn.Parameter(torch.view_as_real(torch.ones(channels, modes, dtype=torch.cfloat)))
        self.C = nn.Parameter(
            torch.view_as_real(torch.randn(directions, channels, modes, dtype=torch.cfloat))
        )
        self.D = nn.Parameter(torch.randn(channels))
        # Set False to rebuild the kernel on every call (what a layer without a cache does).
        self.cache_kernel = True
        # Lags at or beyond this are zeroed (None: every lag up to the input length).
        self.kernel_cutoff: int | None = None
        self._cache: tuple[tuple[int, int | None], torch.Tensor, torch.Tensor] | None = None

    def discretized(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """ZOH discretisation: (ΔA, B̄, C) as complex tensors (H, N/2), (H, N/2), (dirs, H, N/2)."""
        A = torch.complex(-self.log_neg_A_real.exp(), self.A_imag)
        dt_A = self.log_dt.exp().unsqueeze(-1) * A
        B_bar = (dt_A.exp() - 1) / A * torch.view_as_complex(self.B)
        return dt_A, B_bar, torch.view_as_complex(self.C)

    def kernel(self, length: int) -> torch.Tensor:
        """Convolution kernels K (dirs, H, L): K[l] = 2·Re(Σ_n C_n B̄_n Ā_n^l).

        The Vandermonde product is split as l = a·M + b with M ≈ √L, so that
        K[aM + b] = Σ_n (C_n B̄_n Ā_n^{aM}) · Ā_n^b is one batched complex matrix product
        and only H·N/2·(L/M + M) complex exponentials are needed instead of H·N/2·L.
        """
        dt_A, B_bar, C = self.discretized()
        block = math.isqrt(max(length - 1, 0)) + 1  # ⌈√L⌉
        blocks = -(-length // block)
        offsets = torch.arange(block, device=dt_A.device, dtype=dt_A.real.dtype)
        starts = torch.arange(blocks, device=dt_A.device, dtype=dt_A.real.dtype) * block
        within = (dt_A.unsqueeze(-1) * offsets).exp()  # (H, N/2, M): Ā^b
        across = (dt_A.unsqueeze(-2) * starts.unsqueeze(-1)).exp()  # (H, L/M, N/2): Ā^{aM}
        weighted = (C * B_bar).unsqueeze(-2) * across  # (dirs, H, L/M, N/2)
        kernel = torch.matmul(weighted, within)  # (dirs, H, L/M, M)
        return 2 * kernel.real.flatten(-2)[..., :length]

    def circular_kernel(self, length: int) -> torch.Tensor:
        """The combined kernel over lags, D included, as a circular buffer (H, 2L)."""
        kernels = self.kernel(length)
        if self.kernel_cutoff is not None and self.kernel_cutoff < length:
            kept = torch.arange(length, device=kernels.device) < self.kernel_cutoff
            kernels = kernels * kept
        kernels = nn.functional.pad(kernels, (0, length))
        # The skip term D·x is lag 0 of the convolution; folding it in saves a pass over x.
        skip = nn.functional.pad(self.D.unsqueeze(-1), (0, 2 * length - 1))
        if not self.bidirectional:
            return kernels[0] + skip
        return kernels[0] + circular_reverse(kernels[1]) + skip

    def parameter_snapshot(self) -> torch.Tensor:
        """All parameters flattened into one detached vector (a few hundred kB at most)."""
        return torch.cat([p.detach().reshape(-1) for p in self.parameters()])

    def _needs_graph(self) -> bool:
        """Whether the kernel must be rebuilt to carry gradients to the parameters."""
        return torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())

    def _cache_hit(self, length: int, snapshot: torch.Tensor) -> bool:
        """Whether the cached kernel was built for this length, cutoff and parameter values."""
        if self._cache is None:
            return False
        cached_key, cached_snapshot, _ = self._cache
        return (
            cached_key == (length, self.kernel_cutoff)
            and cached_snapshot.dtype == snapshot.dtype
            and cached_snapshot.device == snapshot.device
            and torch.equal(cached_snapshot, snapshot)
        )

    def cached_circular_kernel(self, length: int) -> torch.Tensor:
        """`circular_kernel`, rebuilt only when the length or a parameter value changed.

        With gradients needed, or `cache_kernel` False, it is rebuilt on every call (and the
        cache is dropped).
        """
        if self._needs_graph() or not self.cache_kernel:
            self._cache = None
            return self.circular_kernel(length)
        snapshot = self.parameter_snapshot()
        if not self._cache_hit(length, snapshot):
            with torch.no_grad():
                key = (length, self.kernel_cutoff)
                self._cache = (key, snapshot, self.circular_kernel(length))
        return self._cache[2]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y = K * x (+ anti-causal part) + D·x for x of shape (B, H, L), by one FFT convolution."""
        if x.ndim != 3 or x.shape[1] != self.channels:
            raise ValueError(
                f"S4D expects input (batch, {self.channels}, length), got {tuple(x.shape)}"
            )
        kernel = self.cached_circular_kernel(x.shape[-1])
        dtype = torch.promote_types(x.dtype, kernel.dtype)  # FFTs need at least float32
        return fft_conv(x.to(dtype), kernel.to(dtype)).to(x.dtype)
