"""Deep Residual Mixture Model (Hämäläinen & Solin, "Deep Residual Mixture Models").

A stack of L mixture layers with K components each. Layer l sees data streams: the residual
of the real-valued input left by layers 1..l-1, and one categorical stream per earlier
layer carrying that layer's latent h as log(smooth(onehot(h))). Each layer samples h from
its posterior (the M-block), reconstructs its input with component h's mean (the M^-1 block)
and passes the residual on. The sum of the layers' reconstructions is a sample.

Trained once, the model samples any variables given any others (multipliers m, Eq. 11),
Gaussian priors and linear inequality constraints (Sec. 3.5), and estimates likelihoods
by importance sampling over latent paths (Eq. 9-10).

Choices where the paper leaves room, made so that its equations hold exactly:
- Categorical streams pass to later layers unchanged (their residual is the identity).
  Subtracting log p_h in log space and renormalising would turn the 1e-8 smoothing mass
  into the dominant category wherever a component gives a category near-zero probability.
  With the identity, Eq. 4's cross-entropy is an exact gather, O(NK) instead of O(NK^2),
  and Eq. 7-8 still hold (a zero shift has unit Jacobian).
- q(h) in Eq. 10 is the truncated, renormalised distribution h is actually drawn from
  (App. C.2), so every estimate is an importance-sampling estimate for that proposal.
- Every Gaussian normalising constant is included: Eq. 4's -N log sigma - N/2 log 2pi, and
  per variable -log sigma - 1/2 log 2pi in Eq. 11 (the paper prints "- log 2pi", which would
  not reduce to Eq. 4 at m = 1).
- The one-pass log-likelihood returned with each sample is the Eq. 10 estimate, along that
  sample's latent path, of what it was conditioned on: the known variables weighted by m and
  the prior and constraint factors. It ranks samples by how well their path explains the
  conditions; to score the samples themselves, call `log_likelihood(samples)`.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn

from motion.checkpoint import ModelMetadata, restore_model, save_model
from motion.models.conditions import Condition, ConditionTensors
from motion.models.ops import EXP_FLOOR, category_log_probabilities, gather_rows, inner_products

log = logging.getLogger(__name__)

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
INV_SQRT2 = 1 / math.sqrt(2)
LOG_2 = math.log(2)
# P(t) in log erfc(z) = log t - z^2 + P(t), t = 1 / (1 + z / 2), z >= 0: the Chebyshev fit of
# Press et al., Numerical Recipes, `erfcc`; lowest order first.
ERFC_COEFFICIENTS = (
    -1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
    0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277,
)  # fmt: skip
INIT_JITTER = 0.1  # of the input's sd, added to the picked initial means


@dataclass(frozen=True)
class DRMMConfig:
    """Architecture and sampling constants (DRMM paper, Sec. 3 and Table 1)."""

    dim: int  # D: real-valued variables per data vector
    layers: int = 4  # L
    components: int = 512  # K per layer
    smoothing: float = 1e-8  # Laplace smoothing of the one-hot latent streams
    train_truncation: float = 0.5  # alpha_t while training (App. C.2)
    sample_truncation: float = 0.05  # alpha_t at inference

    def __post_init__(self) -> None:
        for name in ("dim", "layers", "components"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_truncation", "sample_truncation"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> DRMMConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown DRMM config fields: {sorted(unknown)}")
        return cls(**data)


@dataclass(frozen=True)
class Objective:
    """Which terms the training pass includes (the curriculum of Sec. 3.4 sets these)."""

    latent_terms: bool = True  # the categorical streams' cross-entropy in Eq. 4
    weight_terms: bool = True  # log w_h
    detach_layers: bool = False  # gradient stops between layers
    regularization: float = 0.0  # alpha of the orphan-component term


class TrainingTerms(NamedTuple):
    layer_log_likelihood: Tensor  # (L,) batch means of L_l, the one-pass log-likelihood of layers 1..l, nats
    regularization: Tensor  # scalar to add to the loss: the orphan-component term


class Samples(NamedTuple):
    samples: Tensor  # (..., n, D) sum of the layers' reconstructions
    log_likelihood: Tensor  # (..., n) one-pass estimate of the conditions' log-likelihood, nats


def truncate_logits(logits: Tensor, truncation: float) -> Tensor:
    """Zero (in log space: -inf) every component whose probability is below truncation * max (App. C.2)."""
    if truncation <= 0.0:
        return logits
    threshold = logits.amax(-1, keepdim=True) + math.log(truncation)
    return logits.masked_fill(logits < threshold, -math.inf)


def logsumexp(x: Tensor, dim: int, keepdim: bool = False) -> Tensor:
    """log sum exp(x) over `dim`, as torch.logsumexp, with each term's exponent relative to the peak
    clamped at EXP_FLOOR (a term under e^EXP_FLOOR of the peak counts as that, and passes no gradient).

    The peak carries no gradient: d/dpeak of peak + log sum exp(x - peak) is exactly 0.
    A row of -inf gives -inf.
    """
    peak = x.detach().amax(dim, keepdim=True)
    finite_peak = torch.where(torch.isfinite(peak), peak, 0.0)
    total = (x - finite_peak).clamp_min(EXP_FLOOR).exp().sum(dim, keepdim=True).log() + finite_peak
    total = torch.where(torch.isfinite(peak), total, peak)
    return total if keepdim else total.squeeze(dim)


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    return x - logsumexp(x, dim, keepdim=True)


def log_normal_cdf(x: Tensor) -> Tensor:
    """log Phi(x), the standard normal log-CDF, from exp, log and a polynomial only.

    Phi(x) = erfc(z) / 2 with z = -x / sqrt(2), and log erfc(|z|) = log t - z^2 + P(t) with
    t = 1 / (1 + |z| / 2) and P the Chebyshev fit of Numerical Recipes' `erfcc` (fractional
    error < 1.2e-7). Working in log space, it never underflows; under torch.compile it is one
    vectorised loop. Within 3e-4 nats of torch.special.log_ndtr in float32.
    """
    z = x * -INV_SQRT2
    a = z.abs()
    t = 1 / (1 + 0.5 * a)
    poly = ERFC_COEFFICIENTS[-1]
    for coefficient in reversed(ERFC_COEFFICIENTS[:-1]):
        poly = coefficient + t * poly
    log_erfc = torch.log(t) - a * a + poly
    return torch.where(z >= 0, log_erfc - LOG_2, torch.log1p(-0.5 * torch.exp(log_erfc)))


def box_log_mass(
    bounded_reconstruction: Tensor, bounded_mean: Tensor, low: Tensor | None, high: Tensor | None,
    weight: Tensor, sigma: Tensor,
) -> Tensor:  # fmt: skip
    """sum_a weight_a log P(low_a < x_a < high_a) for x ~ N(mean_k + reconstruction, sigma^2), per component.

    Args:
        bounded_reconstruction: (G, N, A) the earlier layers' reconstruction of the bounded variables.
        bounded_mean: (K, A) this layer's means of the bounded variables.
        low, high: (G, A) bounds (infinite where absent), or None when a side has no finite bound.
        weight: (G, A) multipliers.
    Returns:
        (G, N, K) nats.
    """
    # One (G, N, K) term per bound, unrolled: compiled, this is a single loop vectorised over K
    # (a reduction over the few bounds would not vectorise).
    total = 0
    for bound in range(bounded_reconstruction.shape[-1]):
        reconstruction = bounded_reconstruction[..., bound, None]  # (G, N, 1)
        mean = bounded_mean[:, bound]  # (K,)
        side_weight = weight[:, None, bound, None]  # (G, 1, 1)
        if low is not None:
            total = total + side_weight * log_normal_cdf((mean + reconstruction - low[:, None, bound, None]) / sigma)
        if high is not None:
            total = total + side_weight * log_normal_cdf((high[:, None, bound, None] - reconstruction - mean) / sigma)
    return total


def inequality_log_mass(normal_mean: Tensor, shifted_offset: Tensor, weight: Tensor, sigma: Tensor) -> Tensor:
    """sum_c weight_c log P(a_c.x + b_c > 0) per component, for x ~ N(mean_k + reconstruction, sigma^2).

    Args:
        normal_mean: (G, C, K) a_c . mean_k.
        shifted_offset: (G, N, C) b_c + a_c . reconstruction.
        weight: (G, C) multipliers.
    Returns:
        (G, N, K) nats.
    """
    total = 0
    for constraint in range(normal_mean.shape[1]):
        distance = normal_mean[:, None, constraint] + shifted_offset[..., constraint, None]  # (G, N, K)
        total = total + weight[:, None, constraint, None] * log_normal_cdf(distance / sigma)
    return total


class _Compiled:
    """A function compiled by torch.compile at first use, with dynamic shapes; eager where
    compilation is unavailable (no C++ compiler, unsupported platform), and inside `eager_terms()`."""

    eager = threading.local()  # .on, set by eager_terms() in the thread it runs in

    def __init__(self, function) -> None:
        self.function = function
        self.compiled = None

    def __call__(self, *args):
        if getattr(_Compiled.eager, "on", False):
            return self.function(*args)
        if self.compiled is None:
            self.compiled = torch.compile(self.function, dynamic=True)
        if self.compiled is not self.function:
            try:
                return self.compiled(*args)
            except Exception as err:  # noqa: BLE001 - any compiler failure falls back to eager
                log.warning("torch.compile unavailable for %s (%s); running eager", self.function.__name__, err)
                self.compiled = self.function
        return self.function(*args)


@contextmanager
def eager_terms() -> Iterator[None]:
    """Evaluate the constraint terms eagerly inside the block: for a few calls (one `motion pose`, 64
    samples in about 15 ms eager), compiling them would only add the compiler's 5-15 s. The setting
    is the calling thread's: a live session's decisions (playback.live) run in several threads."""
    previous = getattr(_Compiled.eager, "on", False)
    _Compiled.eager.on = True
    try:
        yield
    finally:
        _Compiled.eager.on = previous


_box_log_mass = _Compiled(box_log_mass)
_inequality_log_mass = _Compiled(inequality_log_mass)


def sample_categorical(logits: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Draw one index per row from softmax(logits) by inverting the cumulative distribution.

    One uniform number per row, rather than the K of the Gumbel-max trick: drawing random
    numbers is the slowest part of a pass on the CPU.

    Args:
        logits: (..., K) unnormalised log-probabilities; -inf marks excluded components.
    Returns:
        index (...,) int64 and its log-probability (...,), differentiable with respect to logits.
    """
    log_prob = log_softmax(logits, -1)
    # Components under the floor (the truncated ones among them) get exactly zero probability. The
    # draw needs no gradient: detached, eager autograd keeps none of its (..., K) intermediates.
    detached = log_prob.detach()
    probability = detached.clamp_min(EXP_FLOOR).exp().masked_fill(detached <= EXP_FLOOR, 0.0)
    cumulative = probability.cumsum(-1)
    uniform = torch.rand(cumulative.shape[:-1] + (1,), generator=generator, device=logits.device)
    # Scaling by the last entry absorbs the cumulative sum's rounding error.
    index = torch.searchsorted(cumulative, uniform * cumulative[..., -1:], right=True).squeeze(-1)
    index = index.clamp_max(logits.shape[-1] - 1)
    return index, log_prob.gather(-1, index[..., None]).squeeze(-1)


class DRMM(nn.Module):
    """The model. Parameters, with L layers, K components and D variables:

    means[l]: (K, D) component means mu of layer l's real stream.
    log_sigma: (L,) log of each layer's isotropic standard deviation.
    weight_logits: (L, K) softmax-parameterised component weights w.
    latent_logits[l]: (l, K, K) for layer l (0-based), one table per earlier layer j,
        indexed [j, category, component]; log p_{k,j} = log_softmax over categories.
    """

    def __init__(self, config: DRMMConfig) -> None:
        super().__init__()
        self.config = config
        self.metadata: ModelMetadata | None = None  # what it models; set by load() and by training
        L, K, D = config.layers, config.components, config.dim
        self.means = nn.ParameterList([nn.Parameter(torch.zeros(K, D)) for _ in range(L)])
        self.log_sigma = nn.Parameter(torch.zeros(L))
        self.weight_logits = nn.Parameter(torch.zeros(L, K))
        # Near-uniform categorical tables, as in the reference implementation.
        self.latent_logits = nn.ParameterList([nn.Parameter(torch.rand(layer, K, K) * 1e-3) for layer in range(L)])
        self._tables: tuple[tuple, list[tuple[Tensor, Tensor]]] | None = None

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    # Layer likelihood terms (Eq. 4 and 11) -------------------------------------------------

    def _real_term(self, layer: int, x: Tensor, weights: Tensor | None = None) -> Tensor:
        """sum_n m_n log N(x_n | mu_{k,n}, sigma^2) for every component k.

        Args:
            x: (..., N, D) real-stream input of `layer`.
            weights: None (every variable counts once) or (..., N or 1, D) multipliers m.
        Returns:
            (..., N, K) log-densities, nats.
        """
        mean = self.means[layer]  # (K, D)
        log_sigma = self.log_sigma[layer]
        if weights is None:
            squared = (mean * mean).sum(-1) - 2 * inner_products(x.reshape(-1, x.shape[-1]), mean)
            squared = squared.reshape(*x.shape[:-1], -1) + (x * x).sum(-1, keepdim=True)
            count = x.shape[-1]
        else:
            squared = (weights * x * x).sum(-1, keepdim=True) - 2 * (weights * x) @ mean.T + weights @ (mean * mean).T
            count = weights.sum(-1, keepdim=True)
        # The expansion can dip below zero by rounding; a distance cannot.
        return -0.5 * torch.exp(-2 * log_sigma) * squared.clamp_min(0) - count * (log_sigma + HALF_LOG_2PI)

    def _latent_tables(self, layer: int) -> tuple[Tensor, Tensor, Tensor]:
        """`layer`'s categorical tables, their normaliser, and the per-component constant.

        The Eq. 4 cross-entropy with y = smooth(onehot(h)) = (1 - eps) onehot(h) + eps / C is
        (1 - eps) log p[h, k] + eps / C sum_c logits[c, k] - eps logsumexp_c logits[c, k], with
        log p = log_softmax over the categories. The last two terms' gradients, eps / C per entry
        (~2e-11) and eps times the first term's normaliser gradient, are below float32 resolution
        next to the first term's, so only their values are kept, in the constant.

        Returns:
            logits (j, C, K); their normaliser logsumexp_c (j, K) and the constant (K,), nats,
            both without gradient (`category_log_probabilities` gives the normaliser's).
        """
        logits = self.latent_logits[layer]  # (j, C, K)
        eps, categories = self.config.smoothing, logits.shape[1]
        values = logits.detach()
        normaliser = logsumexp(values, 1)
        constant = (eps / categories * values.sum(1) - eps * normaliser).sum(0)
        return logits, normaliser, constant

    def _inference_tables(self) -> list[tuple[Tensor, Tensor, Tensor]]:
        """`_latent_tables` of every layer, cached while the parameters are unchanged."""
        key = tuple((p._version, p.data_ptr()) for p in self.latent_logits)
        if self._tables is None or self._tables[0] != key:
            with torch.no_grad():
                self._tables = (key, [self._latent_tables(layer) for layer in range(self.config.layers)])
        return self._tables[1]

    def _latent_term(self, tables: tuple[Tensor, Tensor, Tensor], latents: Tensor) -> Tensor:
        """sum_j softmax(x_j) . log p_{k,j} for the smoothed one-hot streams of the earlier layers.

        Args:
            tables: from `_latent_tables`.
            latents: (..., N, j) int64 latents of the earlier layers.
        Returns:
            (..., N, K) nats.
        """
        logits, normaliser, constant = tables
        return (1 - self.config.smoothing) * category_log_probabilities(logits, normaliser, latents) + constant

    def _log_weights(self, layer: int) -> Tensor:
        return log_softmax(self.weight_logits[layer], -1)

    # Priors and constraints, in a layer's residual space (Sec. 3.5) -----------------------

    def _condition_term(self, layer: int, condition: ConditionTensors, reconstruction: Tensor) -> Tensor:
        """log of each component's integral against the priors and constraints.

        Args:
            condition: G problems.
            reconstruction: (G, N, D) sum of the earlier layers' reconstructions; the priors and
                constraints are shifted by it into this layer's residual space.
        Returns:
            (G, N, K) nats.
        """
        mean = self.means[layer]  # (K, D)
        sigma = self.log_sigma[layer].exp()
        term = reconstruction.new_zeros(())
        if condition.prior is not None:
            prior_mean, prior_sd, weight = condition.prior  # (G, D) each
            variance = sigma**2 + prior_sd**2
            coefficient = (weight / (2 * variance))[:, None]  # (G, 1, D)
            offset = prior_mean[:, None] - reconstruction  # (G, N, D)
            squared = (
                (coefficient * offset**2).sum(-1, keepdim=True)
                - 2 * (coefficient * offset) @ mean.T
                + coefficient @ (mean * mean).T
            )
            normaliser = (weight * (0.5 * torch.log(variance) + HALF_LOG_2PI)).sum(-1)  # (G,)
            term = term - squared - normaliser[:, None, None]
        if condition.inequalities is not None:
            normal, offset, weight = condition.inequalities  # (G, C, D), (G, C), (G, C)
            shifted = offset[:, None] + reconstruction @ normal.transpose(1, 2)  # (G, N, C)
            term = term + _inequality_log_mass(normal @ mean.T, shifted, weight, sigma)
        if condition.box is not None:
            index, low, high, weight = condition.box  # (A,), (G, A) or None x2, (G, A)
            term = term + _box_log_mass(reconstruction[..., index], mean[:, index], low, high, weight, sigma)
        return term

    # Training ------------------------------------------------------------------------------

    @torch.no_grad()
    def initialize(self, x: Tensor, generator: torch.Generator | None = None) -> None:
        """Data-dependent initialisation, layer by layer, from a sample of the training data.

        Each layer's means are K of its input vectors picked at random, jittered by a tenth of
        the input's sd so that repeated picks differ; the vectors are assigned to their nearest
        means, sigma is set to its maximum-likelihood value for that assignment (the rms residual
        per variable), and the residuals go on to the next layer. (The reference code draws the
        means from a Gaussian fit to the data instead: in 487 dimensions such means lie far from
        every vector, and 3,000 iterations on the locomotion segments reach a lower validation
        log-likelihood than with picked means: benchmarks/drmm_ablations.py, figures in the README.)

        Args:
            x: (N, D) training vectors, N >= K preferably (else picks repeat).
        """
        K = self.config.components
        residual = x
        for layer in range(self.config.layers):
            if residual.shape[0] >= K:
                picks = torch.randperm(residual.shape[0], generator=generator, device=x.device)[:K]
            else:
                picks = torch.randint(0, residual.shape[0], (K,), generator=generator, device=x.device)
            jitter = torch.randn(K, x.shape[1], generator=generator, device=x.device)
            self.means[layer].copy_(residual[picks] + INIT_JITTER * residual.std(0) * jitter)
            nearest = torch.cdist(residual, self.means[layer]).argmin(-1)
            residual = residual - self.means[layer][nearest]
            self.log_sigma[layer] = 0.5 * residual.pow(2).mean().clamp_min(1e-12).log()

    def forward(self, x: Tensor, objective: Objective, generator: torch.Generator | None = None) -> TrainingTerms:
        """The terms of the training objective for a batch (Sec. 3.4), single-pass estimates of Eq. 10.

        L_l, the log-likelihood of the model made of layers 1..l, is estimated as
        log p_l(X^(l)) - sum_{j<l} log q(h^(j)); L_L is the model's. The orphan-component term
        is alpha * -(1/K) sum_k max_i log f(x_i | k), summed over layers. The curriculum
        combines them: loss = -((1 - mix) sum_l L_l + mix L_L) + regularization.

        Args:
            x: (N, D) training vectors.
        """
        L, truncation = self.config.layers, self.config.train_truncation
        residual = x
        log_q = x.new_zeros(x.shape[0])
        latents = torch.empty(x.shape[0], 0, dtype=torch.long, device=x.device)
        layer_ll = []
        regularization = x.new_zeros(())
        for layer in range(L):
            if objective.detach_layers:
                residual, log_q = residual.detach(), log_q.detach()
            real = self._real_term(layer, residual)  # (N, K)
            logits = real
            if objective.latent_terms and layer > 0:
                logits = logits + self._latent_term(self._latent_tables(layer), latents)
            if objective.weight_terms:
                logits = logits + self._log_weights(layer)
            layer_ll.append((logsumexp(logits, -1) - log_q).mean())
            if objective.regularization:
                regularization = regularization - objective.regularization * real.amax(0).mean()
            if layer < L - 1:
                truncated = truncate_logits(logits, truncation)
                # log q(h) keeps its gradient (it is part of Eq. 10's estimate); h itself is discrete.
                latent, log_q_latent = sample_categorical(truncated, generator)
                # Under gradient stops the residual needs no graph back to this layer's means.
                means = self.means[layer].detach() if objective.detach_layers else self.means[layer]
                residual = residual - gather_rows(means, latent)
                log_q = log_q + log_q_latent
                latents = torch.cat([latents, latent[:, None]], 1)
        return TrainingTerms(torch.stack(layer_ll), regularization)

    # Inference -----------------------------------------------------------------------------

    def _conditioned_pass(
        self,
        values: Tensor | None,
        weights: Tensor | None,
        problems: int,
        count: int,
        condition: ConditionTensors | None,
        truncation: float,
        latent_weight: float,
        generator: torch.Generator | None,
    ) -> tuple[Tensor, Tensor]:
        """One forward pass sampling every layer's latent, for G problems x `count` rows each.

        A layer's logits depend only on a row's problem and its earlier latents, so they are
        evaluated once per distinct (problem, latent path) and shared by the rows on that path.
        Conditioned samples share most paths (playback's 256 samples take 1-5 distinct paths
        through the first three layers), which makes conditioning nearly free.

        Args:
            values: (G, D) known values, or None when no variable is known.
            weights: (G, D) multipliers m; None with `values` means every variable counts once.
        Returns:
            reconstruction (G, count, D): sum of the layers' reconstructions, and
            log_likelihood (G, count): the one-pass Eq. 10 estimate of the known values,
            priors and constraints.
        """
        L, D = self.config.layers, self.config.dim
        device = self.means[0].device
        tables = self._inference_tables()
        rows = problems * count
        reconstruction = torch.zeros(rows, D, device=device)
        log_q = torch.zeros(rows, device=device)
        latents = torch.empty(rows, 0, dtype=torch.long, device=device)
        row_problem = torch.arange(problems, device=device).repeat_interleave(count)
        for layer in range(L):
            keys = torch.cat([row_problem[:, None], latents], 1)
            paths, inverse = torch.unique(keys, dim=0, return_inverse=True)
            first = torch.empty(len(paths), dtype=torch.long, device=device)
            first.scatter_(0, inverse, torch.arange(rows, device=device))  # any row of each path
            path_problem, path_reconstruction = paths[:, 0], reconstruction[first][:, None]  # (P,), (P, 1, D)
            logits = self._log_weights(layer).expand(len(paths), 1, -1)  # (P, 1, K)
            if values is not None:
                offset = values[path_problem][:, None] - path_reconstruction
                logits = logits + self._real_term(
                    layer, offset, None if weights is None else weights[path_problem][:, None]
                )
            if condition is not None and condition.has_terms:
                logits = logits + self._condition_term(layer, condition.take(path_problem), path_reconstruction)
            if layer > 0 and latent_weight:
                logits = logits + latent_weight * self._latent_term(tables[layer], paths[:, None, 1:])
            logits = logits[inverse, 0]  # (rows, K)
            if layer == L - 1:
                log_likelihood = logsumexp(logits, -1) - log_q
            latent, log_q_latent = sample_categorical(truncate_logits(logits, truncation), generator)
            reconstruction = reconstruction + self.means[layer][latent]
            log_q = log_q + log_q_latent
            latents = torch.cat([latents, latent[:, None]], 1)
        return reconstruction.reshape(problems, count, D), log_likelihood.reshape(problems, count)

    @torch.no_grad()
    def sample(
        self,
        count: int,
        condition: Condition | None = None,
        *,
        sort: bool = True,
        noise: bool = False,
        truncation: float | None = None,
        latent_weight: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Samples:
        """Draw samples, optionally conditioned (Sec. 3.5).

        Args:
            count: samples per conditioning problem.
            condition: known values, priors and constraints; 2-D inputs give a batch of problems.
            sort: order each problem's samples by decreasing log-likelihood.
            noise: add N(0, sigma_L^2) noise, the variance the last layer leaves unmodelled.
            truncation: alpha_t; default config.sample_truncation.
            latent_weight: the stream multiplier m_c of every categorical stream (Eq. 11).
            generator: torch RNG for reproducible draws (on the model's device).
        Returns:
            samples (count, D), or (problems, count, D) when any input has a problem axis,
            and their log-likelihood estimates (count,) or (problems, count), nats.
        """
        D = self.config.dim
        device = self.means[0].device
        tensors = condition.tensors(D, device) if condition is not None else None
        problems = tensors.problems if tensors is not None else 1
        truncation = self.config.sample_truncation if truncation is None else truncation
        values = tensors.values if tensors is not None else None
        weights = tensors.weights if tensors is not None else None
        samples, log_likelihood = self._conditioned_pass(
            values, weights, problems, count, tensors, truncation, latent_weight, generator
        )
        if noise:
            noise_sd = self.log_sigma[-1].exp()
            samples = samples + noise_sd * torch.randn(samples.shape, generator=generator, device=device)
        if sort:
            log_likelihood, order = log_likelihood.sort(-1, descending=True)
            samples = samples.gather(1, order[..., None].expand_as(samples))
        if tensors is None or not tensors.batched:
            return Samples(samples[0], log_likelihood[0])
        return Samples(samples, log_likelihood)

    @torch.no_grad()
    def log_likelihood(
        self,
        x: Tensor,
        weights: Tensor | None = None,
        *,
        passes: int = 32,
        truncation: float | None = None,
        chunk: int = 256,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Importance-sampled log p(x) over `passes` forward passes (Eq. 9-10), per data point.

        With `weights` (multipliers m of 0 and 1), the variables with m = 0 are marginalised
        out (App. A): the result is the log-likelihood of the others.

        Args:
            x: (N, D) data.
            weights: None (all variables) or (D,) or (N, D) multipliers.
            passes: S, forward passes per data point; log-sum-exp over them minus log S.
            chunk: data points per forward batch (memory: chunk * passes rows).
        Returns:
            (N,) log-likelihoods, nats, every normalising constant included.
        """
        truncation = self.config.sample_truncation if truncation is None else truncation
        x = x.to(self.means[0].device, torch.float32)
        if weights is not None:
            weights = torch.as_tensor(weights, dtype=torch.float32, device=x.device).expand_as(x)
        result = []
        for start in range(0, x.shape[0], chunk):
            rows = slice(start, start + chunk)
            _, estimates = self._conditioned_pass(
                x[rows], None if weights is None else weights[rows], x[rows].shape[0], passes, None,
                truncation, 1.0, generator,
            )  # fmt: skip
            result.append(logsumexp(estimates, -1) - math.log(passes))
        return torch.cat(result)

    # Checkpoints ---------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write config, weights and `metadata` (when set) to a checkpoint."""
        save_model(path, "drmm", self)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> DRMM:
        """Rebuild a model from a checkpoint (weights_only loading).

        Returns:
            the model in eval mode on `device`, with `metadata` from the checkpoint.
        """
        return restore_model(path, {"drmm": cls.from_config}, device)

    @classmethod
    def from_config(cls, config: dict) -> DRMM:
        """An untrained model of the config a checkpoint stores (a dict)."""
        return cls(DRMMConfig.from_dict(config))
