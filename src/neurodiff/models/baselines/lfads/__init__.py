"""LFADS: a sequential VAE whose generator RNN explains spike trains as an initial-value problem.

After the published architecture (Sussillo et al. 2016, arXiv 1608.06315; Pandarinath et al.
2018, Nature Methods 15:805), written from those descriptions. Data layout (B, T, N): trials,
time bins, neurons, as in the tidy dataset files.

    spikes ──► bidirectional GRU (IC encoder) ──► q(g0 | x) = N(μ, σ²) over the initial condition
           └─► bidirectional GRU (CI encoder) ──► controller GRU ◄── previous factors
                                                    └─► q(u_t | x) = N(μ_t, σ_t²) inferred inputs
    g0 ──► Linear ──► generator GRU (inputs u_t) ──► dropout ──► factors f_t (Linear, no bias)
                                                                  └─► Linear ──► log-rates ──► exp

Loss (per trial, averaged over the batch; `LFADS.loss`):
    Poisson NLL + w(step)·(KL(q(g0)‖p(g0)) + Σ_t KL(q(u_t)‖p(u))) + w(step)·L2(recurrent weights)
- p(g0) = N(μ_p, σ_p²) with a learned mean and fixed variance `ic_prior_var` (as in LFADS).
- p(u) = N(0, `co_prior_var`·I) i.i.d. over time. Deviation: LFADS uses an autoregressive
  (AR(1)) prior for the inferred inputs.
- w(step) ramps linearly from 0 to 1 over `ramp_steps` after `ramp_start` (KL and L2 alike).
- L2: scale · ½ · mean(W²) over the hidden-to-hidden weights of the generator and controller.
- Coordinated dropout (Keshtkaran & Pandarinath 2019): during training every input entry is
  zeroed with probability `cd_rate` (kept ones scaled by 1/(1 − p)); the Poisson NLL is scored
  only on the zeroed entries and rescaled by n_valid / n_dropped, so that it estimates the
  NLL of the whole trial and keeps its balance with the KL terms.
Not done: the controller input lag (`ci_lag`) and external inputs. The population-based
hyperparameter search of AutoLFADS (Keshtkaran et al. 2022) is `baselines.autolfads`.

Modules, split as lfads-torch splits its model: `config` (LFADSConfig), `encoder`
(BidirectionalEncoder), `recurrent` (ClippedGRUCell), `priors` (KL, sampling, warm-up ramp),
`reconstruction` (Poisson NLL, coordinated dropout) and `model` (LFADS). Every name stays
importable from `neurodiff.models.baselines.lfads`; TNDM and AutoLFADS build on these pieces.
"""

from neurodiff.models.baselines.lfads.config import LFADSConfig
from neurodiff.models.baselines.lfads.encoder import BidirectionalEncoder
from neurodiff.models.baselines.lfads.model import LFADS, lfads_from_config
from neurodiff.models.baselines.lfads.priors import kl_diag_gaussians, ramp_weight, reparameterise
from neurodiff.models.baselines.lfads.reconstruction import coordinated_dropout, poisson_nll
from neurodiff.models.baselines.lfads.recurrent import ClippedGRUCell

_reparameterise = reparameterise  # the name before the split

__all__ = [
    "LFADS",
    "BidirectionalEncoder",
    "ClippedGRUCell",
    "LFADSConfig",
    "coordinated_dropout",
    "kl_diag_gaussians",
    "lfads_from_config",
    "poisson_nll",
    "ramp_weight",
    "reparameterise",
]
