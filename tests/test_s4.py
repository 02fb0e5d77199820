"""S4D layer: kernel, FFT convolution vs recurrence, bidirectional composition, kernel cache."""

from __future__ import annotations

import math

import pytest
import torch

from neurodiff.nn import S4D, fft_conv, s4d_eigenvalues


def make_layer(channels: int = 3, d_state: int = 8, bidirectional: bool = False) -> S4D:
    """A small double-precision layer with a step size large enough for a visible kernel."""
    torch.manual_seed(0)
    layer = S4D(channels, d_state, bidirectional=bidirectional).double()
    with torch.no_grad():
        layer.log_dt.uniform_(math.log(0.1), math.log(0.5))
    return layer


def run_recurrence(layer: S4D, x: torch.Tensor) -> torch.Tensor:
    """Apply a causal layer step by step: the reference the FFT path must match.

    s_t = Ā s_{t−1} + B̄ x_t and y_t = 2·Re(C·s_t) + D x_t, from a zero state (B, H, N/2).
    """
    assert not layer.bidirectional, "the recurrence is that of a causal layer"
    with torch.no_grad():
        dt_A, B_bar, C = layer.discretized()
        state = torch.zeros(x.shape[0], *B_bar.shape, dtype=B_bar.dtype)
        outputs = []
        for t in range(x.shape[-1]):
            state = dt_A.exp() * state + B_bar * x[..., t].unsqueeze(-1)
            outputs.append(2 * (C[0] * state).sum(-1).real + layer.D * x[..., t])
    return torch.stack(outputs, dim=-1)


def causal_copy(layer: S4D, direction: int, with_skip: bool) -> S4D:
    """A causal layer with one output vector C of a bidirectional layer (D kept or zeroed)."""
    copy = S4D(layer.channels, layer.d_state).double()
    state = dict(layer.state_dict())
    state["C"] = state["C"][direction : direction + 1]
    if not with_skip:
        state["D"] = torch.zeros_like(state["D"])
    copy.load_state_dict(state)
    return copy


@pytest.mark.parametrize("bidirectional", [False, True])
def test_shapes(bidirectional: bool) -> None:
    layer = S4D(4, 6, bidirectional=bidirectional)
    x = torch.randn(2, 4, 10)
    assert layer(x).shape == (2, 4, 10)
    assert layer.kernel(10).shape == (2 if bidirectional else 1, 4, 10)
    assert layer.circular_kernel(10).shape == (4, 20)


def test_init_values() -> None:
    lin = s4d_eigenvalues(3, 6, "lin")
    assert torch.allclose(
        lin,
        torch.tensor([-0.5 + 0j, -0.5 + math.pi * 1j, -0.5 + 2 * math.pi * 1j], dtype=lin.dtype),
    )
    inv = s4d_eigenvalues(2, 4, "inv")
    assert torch.allclose(
        inv.imag, torch.tensor([4 / math.pi * 3, 4 / math.pi * (4 / 3 - 1)], dtype=inv.real.dtype)
    )
    layer = S4D(500, 4)
    dt = layer.log_dt.exp()
    assert dt.min() >= 1e-3 and dt.max() <= 0.1
    with pytest.raises(ValueError, match="d_state"):
        S4D(2, 5)
    with pytest.raises(ValueError, match="init"):
        S4D(2, 4, init="legs")


def test_fft_convolution_equals_recurrence() -> None:
    layer = make_layer()
    x = torch.randn(2, 3, 24, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(layer(x), run_recurrence(layer, x), atol=1e-10)


def test_step_input_matches_the_exact_continuous_response() -> None:
    # Zero-order hold is exact for piecewise-constant input: after n steps of u = 1 the state
    # is the continuous solution s(nΔ) = (exp(A·nΔ) − 1)/A · B.
    layer = make_layer()
    length = 30
    with torch.no_grad():
        y = layer(torch.ones(1, 3, length, dtype=torch.float64))[0]
        A = torch.complex(-layer.log_neg_A_real.exp(), layer.A_imag)
        B, C = torch.view_as_complex(layer.B), torch.view_as_complex(layer.C)[0]
        times = layer.log_dt.exp()[:, None, None] * torch.arange(1, length + 1)  # (H, 1, L)
        states = (torch.exp(A[..., None] * times) - 1) / A[..., None] * B[..., None]
        expected = 2 * (C[..., None] * states).sum(1).real + layer.D[:, None]
    assert torch.allclose(y, expected, atol=1e-10)


def test_causal_layer_ignores_the_future() -> None:
    layer = make_layer()
    x = torch.randn(1, 3, 16, dtype=torch.float64)
    changed = x.clone()
    changed[..., 10:] += 1.0
    with torch.no_grad():
        assert torch.allclose(layer(x)[..., :10], layer(changed)[..., :10], atol=1e-12)
        assert not torch.allclose(layer(x)[..., 10:], layer(changed)[..., 10:])


def test_bidirectional_is_causal_plus_flipped_anticausal() -> None:
    layer = make_layer(bidirectional=True)
    forward = causal_copy(layer, 0, with_skip=True)
    backward = causal_copy(layer, 1, with_skip=False)
    x = torch.randn(2, 3, 20, dtype=torch.float64)
    with torch.no_grad():
        expected = forward(x) + backward(x.flip(-1)).flip(-1)
        assert torch.allclose(layer(x), expected, atol=1e-10)
        # And through the recurrence, to tie both directions to the state-space equations.
        expected_steps = run_recurrence(forward, x) + run_recurrence(backward, x.flip(-1)).flip(-1)
        assert torch.allclose(layer(x), expected_steps, atol=1e-10)


def test_fft_conv_backward_matches_autograd_check() -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 3, 7, dtype=torch.float64, requires_grad=True)
    kernel = torch.randn(3, 14, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fft_conv, (x, kernel))
    with pytest.raises(ValueError, match="twice"):
        fft_conv(x, kernel[:, :10])


@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradients_reach_every_parameter(bidirectional: bool) -> None:
    layer = make_layer(bidirectional=bidirectional)
    x = torch.randn(2, 3, 12, dtype=torch.float64)
    (layer(x) * torch.randn_like(x)).sum().backward()
    for name, param in layer.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_kernel_cache_reused_without_grad_and_invalidated_by_a_step(monkeypatch) -> None:
    layer = S4D(4, 8, bidirectional=True)
    builds = []
    original = S4D.circular_kernel

    def counting(self: S4D, length: int) -> torch.Tensor:
        builds.append(length)
        return original(self, length)

    monkeypatch.setattr(S4D, "circular_kernel", counting)
    x = torch.randn(2, 4, 16)
    layer.eval()
    with torch.no_grad():
        first = layer(x)
        for _ in range(3):
            assert torch.equal(layer(x), first)
        assert builds == [16]
        layer(torch.randn(2, 4, 8))  # a new length needs a new kernel
        assert builds == [16, 8]
    # With gradients the kernel is rebuilt on every call (it must carry the graph).
    layer.train()
    optimizer = torch.optim.AdamW(layer.parameters(), lr=0.1, fused=True)
    layer(x).square().sum().backward()
    layer(x)
    assert builds == [16, 8, 16, 16]
    optimizer.step()  # fused: updates values without bumping tensor version counters
    layer.eval()
    with torch.no_grad():
        after = layer(x)
        layer(x)
        assert builds == [16, 8, 16, 16, 16]
        assert not torch.allclose(after, first)
        # An in-place edit through .data (as EMA code often does) also invalidates it.
        layer.C.data.mul_(2.0)
        assert not torch.allclose(layer(x), after)
        assert builds == [16, 8, 16, 16, 16, 16]


def test_kernel_cache_can_be_switched_off(monkeypatch) -> None:
    # cache_kernel = False rebuilds the kernel on every call, with the same output.
    layer = S4D(4, 8, bidirectional=True).eval()
    builds = []
    original = S4D.circular_kernel

    def counting(self: S4D, length: int) -> torch.Tensor:
        builds.append(length)
        return original(self, length)

    monkeypatch.setattr(S4D, "circular_kernel", counting)
    x = torch.randn(2, 4, 16)
    with torch.no_grad():
        cached = layer(x)
        layer.cache_kernel = False
        for _ in range(2):
            assert torch.equal(layer(x), cached)
        assert builds == [16, 16, 16] and layer._cache is None
        layer.cache_kernel = True
        layer(x)
        layer(x)
        assert builds == [16, 16, 16, 16]


def test_rejects_wrong_input_shape() -> None:
    with pytest.raises(ValueError, match="batch, 4, length"):
        S4D(4)(torch.randn(2, 3, 10))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_kernel_cutoff_zeroes_the_lags_at_and_beyond_it(bidirectional: bool) -> None:
    layer = make_layer(bidirectional=bidirectional)
    x = torch.randn(2, 3, 40, dtype=torch.float64)
    with torch.no_grad():
        full = layer(x)
        layer.kernel_cutoff = 40  # no lag reaches 40: the same map
        assert torch.allclose(layer(x), full)
        layer.kernel_cutoff = 5
        cut = layer(x)
        # Reference: the layer's own per-direction kernels with lags ≥ 5 zeroed, applied as sums.
        kernels = layer.kernel(40)
        kernels[..., 5:] = 0
        expected = layer.D[:, None] * x
        for lag in range(5):
            shifted = torch.nn.functional.pad(x, (lag, 0))[..., :40]
            expected = expected + kernels[0, :, lag, None] * shifted
            if bidirectional:
                ahead = torch.nn.functional.pad(x, (0, lag))[..., lag:]
                expected = expected + kernels[1, :, lag, None] * ahead
    assert torch.allclose(cut, expected, atol=1e-10)
    assert not torch.allclose(cut, full)


def test_kernel_cache_follows_the_cutoff() -> None:
    layer = make_layer()
    x = torch.randn(1, 3, 30, dtype=torch.float64)
    with torch.no_grad():
        full = layer(x)  # cached for (30, no cutoff)
        layer.kernel_cutoff = 3
        cut = layer(x)
        layer.kernel_cutoff = None
        again = layer(x)
    assert not torch.allclose(cut, full)
    assert torch.equal(again, full)
