"""A conditional Gaussian mixture amortised over contexts: the model of aVIPS (Musekamp, "Amortized
Variational Inference with Gaussian Mixture Models", 2022, Ch. 3), and its baselines' model.

q(x | z) = sum_o q(o | z) N(x | mu_o(z), Sigma_o(z)) (Eq. 3.1). Each component o has its own
network from the context z to its mean and the log-Cholesky factor of its covariance; a gate
network gives the weights. The component networks are evaluated together as batched matrix
products, and each component may be given its own contexts (the thesis's per-component context
resampling, Sec. 3.3).

The mixture lives in a scaled space: each variable is mapped from [low, high] (a robot's joint
limits) to [-1, 1], so one initialisation suits every robot (Sec. 5, "we scale their values to a
fixed range"). `sample` and `log_prob` take and return the unscaled values.

Covariances are regularised by the eigenvalue bounds of Sec. 3.5.1: with Gershgorin's bounds
l <= lambda_min and u >= lambda_max (u also bounded by the trace), adding
s = max((u - kappa * l) / (kappa - 1), 0) to the diagonal keeps the condition number under kappa.

Choices where the thesis is silent: SiLU hidden activations; a softmax gate (the thesis's squared
cosine belongs to its component-adding variant, which its experiments do not use).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from motion.checkpoint import restore_model, save_model

LOG_2PI = math.log(2 * math.pi)
INITIAL_SD = 0.3  # of each component, in the scaled space ([-1, 1] per variable)
MEAN_SPREAD = 0.8  # initial component means are uniform in [-MEAN_SPREAD, MEAN_SPREAD]


@dataclass(frozen=True)
class AVIPSConfig:
    """Architecture (the thesis's Sec. 5.1 sizes by default: 70 components of 4 x 450, a 4 x 800 gate).

    Attributes:
        dim: D, variables per sample (a robot's joints).
        context_dim: variables per context (the target: 3 for position + 9 for rotation).
        low, high: (D,) each variable's range, mapped to [-1, 1].
        components: K at the start (components whose weight falls under the threshold are removed).
        component_hidden, gate_hidden: hidden-layer widths.
        condition_bound: kappa, the largest condition number a covariance may have.
    """

    dim: int
    context_dim: int
    low: tuple[float, ...]
    high: tuple[float, ...]
    components: int = 70
    component_hidden: tuple[int, ...] = (450, 450, 450, 450)
    gate_hidden: tuple[int, ...] = (800, 800, 800, 800)
    condition_bound: float = 1e4

    def __post_init__(self) -> None:
        for name in ("low", "high", "component_hidden", "gate_hidden"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.low) != self.dim or len(self.high) != self.dim:
            raise ValueError(f"low and high need {self.dim} values each")
        if self.components < 1 or self.condition_bound <= 1:
            raise ValueError("components must be >= 1 and condition_bound > 1")

    def to_dict(self) -> dict:
        return asdict(self) | {
            name: list(getattr(self, name)) for name in ("low", "high", "component_hidden", "gate_hidden")
        }

    @classmethod
    def from_dict(cls, data: dict) -> AVIPSConfig:
        return cls(**data)


class ComponentNetworks(nn.Module):
    """K independent MLPs, evaluated as batched matrix products: (K, B, in) -> (K, B, out)."""

    def __init__(self, count: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(count, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.zeros(count, 1, fan_out)))

    def forward(self, x: Tensor) -> Tensor:
        for index, (weight, bias) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(bias, x, weight)
            if index < len(self.weights) - 1:
                x = F.silu(x)
        return x


@dataclass
class MixtureParameters:
    """The mixture for a batch of contexts, in the scaled space.

    Attributes:
        log_weights: (B, K) log q(o | z); removed components have -inf.
        mean: (K, B, D).
        scale_tril: (K, B, D, D) lower Cholesky factors of the (regularised) covariances.
    """

    log_weights: Tensor
    mean: Tensor
    scale_tril: Tensor

    def component_log_prob(self, x: Tensor) -> Tensor:
        """log N(x | mu_o(z), Sigma_o(z)) for every component.

        Args:
            x: (K or 1, B, S, D) points, scaled space.
        Returns:
            (K, B, S) nats (scaled space).
        """
        offset = (x - self.mean[:, :, None]).unsqueeze(-1)  # (K, B, S, D, 1)
        tril = self.scale_tril[:, :, None].expand(*offset.shape[:-2], -1, -1)
        whitened = torch.linalg.solve_triangular(tril, offset, upper=False)[..., 0]
        log_det = self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)[:, :, None]
        return -0.5 * (whitened.pow(2).sum(-1) + x.shape[-1] * LOG_2PI) - log_det

    def entropy(self) -> Tensor:
        """(K, B) each component's differential entropy, nats (scaled space)."""
        dim = self.mean.shape[-1]
        return 0.5 * dim * (1 + LOG_2PI) + self.scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)


def regularised_cholesky(raw_tril: Tensor, condition_bound: float) -> Tensor:
    """The Cholesky factor of L L^T + s I, with s from the eigenvalue bounds (Sec. 3.5.1).

    Args:
        raw_tril: (..., D, D) lower-triangular factors with a positive diagonal.
    Returns:
        (..., D, D) lower Cholesky factor of the regularised covariance.
    """
    covariance = raw_tril @ raw_tril.transpose(-1, -2)
    diagonal = covariance.diagonal(dim1=-2, dim2=-1)
    off_diagonal = covariance.abs().sum(-1) - diagonal.abs()
    upper = torch.minimum((diagonal + off_diagonal).amax(-1), diagonal.sum(-1))
    lower = (diagonal - off_diagonal).amin(-1)
    shift = ((upper - condition_bound * lower) / (condition_bound - 1)).clamp_min(0)
    eye = torch.eye(covariance.shape[-1], device=covariance.device, dtype=covariance.dtype)
    return torch.linalg.cholesky(covariance + shift[..., None, None] * eye)


class AVIPS(nn.Module):
    """The conditional mixture. Buffers: `active` (K,) bool, the components not yet removed."""

    def __init__(self, config: AVIPSConfig) -> None:
        super().__init__()
        self.config = config
        self.metadata = None  # a bare model: it describes no motion data
        D, K = config.dim, config.components
        self.tril_size = D * (D + 1) // 2
        self.components = ComponentNetworks(K, (config.context_dim, *config.component_hidden, D + self.tril_size))
        gate_sizes = (config.context_dim, *config.gate_hidden)
        layers: list[nn.Module] = []
        for fan_in, fan_out in zip(gate_sizes[:-1], gate_sizes[1:]):
            layers += [nn.Linear(fan_in, fan_out), nn.SiLU()]
        self.gate = nn.Sequential(*layers, nn.Linear(gate_sizes[-1], K))
        rows, columns = torch.tril_indices(D, D)
        self.register_buffer("tril_rows", rows, persistent=False)
        self.register_buffer("tril_columns", columns, persistent=False)
        self.register_buffer("active", torch.ones(K, dtype=torch.bool))
        self.register_buffer("low", torch.tensor(config.low))
        self.register_buffer("high", torch.tensor(config.high))
        with torch.no_grad():  # spread the initial means, start every component at INITIAL_SD
            last = self.components.biases[-1]
            last[:, 0, :D] = torch.empty(K, D).uniform_(-MEAN_SPREAD, MEAN_SPREAD)
            last[:, 0, D:] = torch.where(rows == columns, math.log(INITIAL_SD), 0.0)
            self.components.weights[-1].mul_(0.1)

    @property
    def parameter_count(self) -> int:
        """Parameters of the components not removed (as the thesis counts them) plus the gate's."""
        per_component = sum(p[0].numel() for p in self.components.parameters())
        return int(self.active.sum()) * per_component + sum(p.numel() for p in self.gate.parameters())

    def scale(self, x: Tensor) -> Tensor:
        """Unscaled values (..., D) to the mixture's [-1, 1] space."""
        return 2 * (x - self.low) / (self.high - self.low) - 1

    def unscale(self, y: Tensor) -> Tensor:
        return self.low + 0.5 * (y + 1) * (self.high - self.low)

    @property
    def log_scale_jacobian(self) -> float:
        """log |dy/dx|: add to a scaled-space log-density to get the unscaled one."""
        return float(torch.log(2 / (self.high - self.low)).sum())

    def gate_log_weights(self, context: Tensor) -> Tensor:
        """(B, K) log q(o | z) for (B, context_dim) contexts."""
        logits = self.gate(context).masked_fill(~self.active, -math.inf)
        return torch.log_softmax(logits, -1)

    def component_parameters(self, context: Tensor) -> tuple[Tensor, Tensor]:
        """Means (K, B, D) and regularised Cholesky factors (K, B, D, D) of every component.

        Args:
            context: (B, context_dim) shared by every component, or (K, B, context_dim), one
                batch per component.
        """
        D = self.config.dim
        if context.ndim == 2:
            context = context.expand(self.config.components, -1, -1)
        out = self.components(context)  # (K, B, D + D(D+1)/2)
        mean, packed = out[..., :D], out[..., D:]
        is_diagonal = self.tril_rows == self.tril_columns
        packed = torch.where(is_diagonal, packed.clamp(-12.0, 4.0).exp(), packed)  # log-Cholesky diagonal
        tril = packed.new_zeros(*packed.shape[:-1], D, D)
        tril[..., self.tril_rows, self.tril_columns] = packed
        return mean, regularised_cholesky(tril, self.config.condition_bound)

    def forward(self, context: Tensor) -> MixtureParameters:
        """The mixture for (B, context_dim) contexts, scaled space."""
        mean, scale_tril = self.component_parameters(context)
        return MixtureParameters(self.gate_log_weights(context), mean, scale_tril)

    def mixture_log_prob(self, mixture: MixtureParameters, y: Tensor) -> Tensor:
        """log q(y | z) for (B, S, D) scaled points; (B, S) nats, scaled space."""
        per_component = mixture.component_log_prob(y[None])  # (K, B, S)
        return torch.logsumexp(per_component + mixture.log_weights.T[:, :, None], 0)

    @torch.no_grad()
    def sample(self, context: Tensor, count: int, generator: torch.Generator | None = None) -> Tensor:
        """Draw `count` samples per context.

        Args:
            context: (B, context_dim).
        Returns:
            (B, count, D) unscaled samples (a robot's joint angles, radians).
        """
        mixture = self(context)
        B, D = context.shape[0], self.config.dim
        picks = torch.multinomial(mixture.log_weights.exp(), count, replacement=True, generator=generator)  # (B, S)
        noise = torch.randn(B, count, D, generator=generator, device=context.device)
        batch = torch.arange(B, device=context.device)[:, None]
        mean = mixture.mean[picks, batch]  # (B, S, D)
        tril = mixture.scale_tril[picks, batch]  # (B, S, D, D)
        return self.unscale(mean + (tril @ noise[..., None])[..., 0])

    @torch.no_grad()
    def log_prob(self, x: Tensor, context: Tensor) -> Tensor:
        """log q(x | z) of (B, S, D) unscaled samples for (B, context_dim) contexts; (B, S) nats."""
        return self.mixture_log_prob(self(context), self.scale(x)) + self.log_scale_jacobian

    def save(self, path: str | Path) -> None:
        save_model(path, "avips", self)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> AVIPS:
        """Rebuild a model from a checkpoint (weights_only loading), in eval mode on `device`."""
        return restore_model(path, {"avips": cls.from_config}, device)

    @classmethod
    def from_config(cls, config: dict) -> AVIPS:
        return cls(AVIPSConfig.from_dict(config))
