"""Hierarchical graph-convolutional VAE (Bourached et al., "Hierarchical Graph-Convolutional
Variational AutoEncoding for Generative Modelling of Human Motion").

A motion window is a graph whose nodes are the J*3 joint coordinates and whose node features
are the DCT coefficients of each coordinate's trajectory (motion/dct.py). Every layer of the
network is one of the two blocks below (Sec. 4, Eq. 4-5); the adjacency S is learned, as in
spatial graph convolutions.

The hierarchy (Fig. 2, Sec. 5) is a ladder VAE (Sønderby et al., Eq. 2-3): a bottom-up
encoder contracts the graph level by level to one node; a top-down decoder carries a
deterministic path of F features through N stochastic levels z_0 (1 node) ... z_{N-1} (one
node per coordinate), each with a Gaussian prior p(z_l | z_<l) computed from the path and a
posterior q(z_l | z_<l, x) from the path and the encoder's features at that level. Every
latent joins the path, so each can reach the output directly.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from motion.checkpoint import ModelMetadata, restore_model, save_model
from motion.dct import dct, idct
from motion.gaps import interpolate_gaps
from motion.layout import POSE_AXES


def _uniform(shape: tuple[int, ...], bound: float) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class GraphConvLayer(nn.Module):
    """GCL(A) = GELU(S A W + b) (Eq. 4): N_in nodes of F_in features to N_out nodes of F_out.

    S (N_out, N_in) mixes nodes (a learned adjacency), W (F_in, F_out) mixes features, and b
    (N_out, F_out) is a per-node bias. Initialised uniformly in +-1/sqrt(fan-in), as in the
    graph convolutions of Mao et al. (2019) that the paper builds on. `activation=False` leaves
    out the GELU, for the heads that output means and log-sigmas.
    """

    def __init__(
        self, nodes_in: int, nodes_out: int, features_in: int, features_out: int, activation: bool = True
    ) -> None:
        super().__init__()
        self.adjacency = _uniform((nodes_out, nodes_in), 1 / math.sqrt(nodes_in))
        self.weight = _uniform((features_in, features_out), 1 / math.sqrt(features_in))
        self.bias = _uniform((nodes_out, features_out), 1 / math.sqrt(features_in))
        self.activation = activation
        # Multiply in the cheaper order: mixing nodes first costs N_out N_in F_in + N_out F_in F_out.
        self.nodes_first = nodes_out * nodes_in * features_in + nodes_out * features_in * features_out <= (
            nodes_in * features_in * features_out + nodes_out * nodes_in * features_out
        )

    def forward(self, graph: Tensor) -> Tensor:
        """(..., N_in, F_in) -> (..., N_out, F_out)."""
        if self.nodes_first:
            out = (self.adjacency @ graph) @ self.weight + self.bias
        else:
            out = self.adjacency @ (graph @ self.weight) + self.bias
        return F.gelu(out) if self.activation else out


class GraphConvBlock(nn.Module):
    """GCB(A) = A + alpha * GELU(S2 GELU(S1 A W1 + b1) W2 + b2), alpha a ReZero weight starting at 0.

    Eq. 5 as printed puts alpha on the skip term; ReZero (Bachlechner et al., 2020), which the
    paper cites for it, puts it on the residual branch so that every block starts as the
    identity. That is what is implemented, and what a deep stack of these blocks needs to train.
    """

    def __init__(self, nodes: int, features: int) -> None:
        super().__init__()
        self.inner = GraphConvLayer(nodes, nodes, features, features)
        self.outer = GraphConvLayer(nodes, nodes, features, features)
        self.alpha = nn.Parameter(torch.zeros(()))

    def forward(self, graph: Tensor) -> Tensor:
        """(..., N, F) -> (..., N, F)."""
        return graph + self.alpha * self.outer(self.inner(graph))


HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
LATENT_LOG_SIGMA_LIMIT = 7.0  # latent scales stay within e^-7..e^7 (soft clamp)
OUTPUT_LOG_SIGMA_MIN = -7.0  # p(x|z) scales >= e^-7 standard deviations of the data
STD_FLOOR = 1e-3  # metres: entries that never vary (the root at frame 0) are scaled by this
# Adam's moment decays for MAP imputation. The ELBO's gradient at a fill far from the data (the
# mean, say) is orders of magnitude larger than near it, so the default long memory of squared
# gradients (0.999) shrinks every later step to nothing and momentum overshoots; without momentum
# and with a short memory each step stays near `lr` standard deviations (best on val windows).
MAP_BETAS = (0.0, 0.2)
# Adam's step for MAP imputation from an interpolated start, in standard deviations of each entry:
# the best for the shipped HG-VAE on val windows that lost joints over 10-40-frame spans, alone or
# with 2 % of the values scattered on top (0.1-0.2, `motion evaluate`). Values missing one by one,
# which interpolation already fills within millimetres, want far smaller steps (0.001); a start
# from the mean, about one standard deviation off, larger ones (0.3).
MAP_LR = 0.1


def soft_clamp(x: Tensor, limit: float) -> Tensor:
    """limit * tanh(x / limit): the identity near 0, smoothly bounded to (-limit, limit)."""
    return limit * torch.tanh(x / limit)


def gaussian_kl(mean_q: Tensor, log_sigma_q: Tensor, mean_p: Tensor, log_sigma_p: Tensor) -> Tensor:
    """KL(N(mean_q, sigma_q) || N(mean_p, sigma_p)) per element, nats."""
    variance_ratio = torch.exp(2 * (log_sigma_q - log_sigma_p))
    distance = ((mean_q - mean_p) * torch.exp(-log_sigma_p)).square()
    return log_sigma_p - log_sigma_q + 0.5 * (variance_ratio + distance - 1)


def level_nodes(levels: int, nodes: int) -> tuple[int, ...]:
    """Graph size of each stochastic level, top to bottom: 1 node at z_0, `nodes` at z_{N-1},
    geometric in between (for 60 coordinates and 4 levels: 1, 4, 15, 60)."""
    return tuple(max(1, round(nodes ** (level / (levels - 1)))) for level in range(levels))


@dataclass(frozen=True)
class HGVAEConfig:
    """The HG-VAE's architecture (saved in checkpoints).

    Attributes:
        joints, frames: the window shape (frames x joints x 3 coordinates).
        levels: N stochastic layers z_0 (1 node) ... z_{N-1} (one node per coordinate).
        features: F, the width of the deterministic path and of the encoder (Sec. 5: 256).
        latent_size: latent values per level; z_l has max(1, latent_size // n_l) features on
            each of its n_l nodes (z_0: 1 node x 256 features).
        blocks: GCBs per level in the encoder and in the decoder.
        classes: width of the one-hot label appended to z_0 (0: unconditional).
        stochastic_depth: how many of the bottom levels are stochastic; the levels above have
            z_l = prior mean and no KL (Table 1's depth study). None: all of them.
    """

    joints: int = 20
    frames: int = 50
    levels: int = 4
    features: int = 256
    latent_size: int = 256
    blocks: int = 1
    classes: int = 0
    stochastic_depth: int | None = None

    def __post_init__(self) -> None:
        if not 2 <= self.levels <= 16:
            raise ValueError(f"levels must be within 2..16, got {self.levels}")
        if self.stochastic_depth is not None and not 1 <= self.stochastic_depth <= self.levels:
            raise ValueError(f"stochastic_depth must be within 1..{self.levels}, got {self.stochastic_depth}")
        for name in ("joints", "frames", "features", "latent_size", "blocks"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")

    @property
    def nodes(self) -> int:
        """Graph nodes of the data: one per joint coordinate."""
        return self.joints * POSE_AXES

    @property
    def size(self) -> int:
        """Values per window, frames * joints * 3."""
        return self.frames * self.nodes

    @property
    def level_nodes(self) -> tuple[int, ...]:
        return level_nodes(self.levels, self.nodes)

    @property
    def latent_features(self) -> tuple[int, ...]:
        return tuple(max(1, self.latent_size // n) for n in self.level_nodes)

    @property
    def stochastic(self) -> tuple[bool, ...]:
        """Per level, top first: whether z_l is sampled (False: z_l is its prior mean)."""
        depth = self.levels if self.stochastic_depth is None else self.stochastic_depth
        return tuple(level >= self.levels - depth for level in range(self.levels))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> HGVAEConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown HG-VAE config fields: {sorted(unknown)}")
        return cls(**data)


class ELBOTerms(NamedTuple):
    """Per-window terms of the ELBO (Eq. 1), nats, with the data in metres."""

    log_likelihood: Tensor  # (B,) log p(x | z) at the posterior's z
    kl: Tensor  # (B, levels) KL(q(z_l | z_<l, x) || p(z_l | z_<l)); 0 for levels switched off
    mean: Tensor  # (B, T, J, 3) mean of p(x | z), metres

    @property
    def elbo(self) -> Tensor:
        """(B,) log p(x|z) - sum_l KL_l."""
        return self.log_likelihood - self.kl.sum(-1)


class Imputation(NamedTuple):
    windows: Tensor  # (B, T, J, 3) metres: observed entries as given, missing ones filled
    elbo_before: Tensor  # (B,) ELBO of the starting fill, nats
    elbo_after: Tensor  # (B,) ELBO of the kept step, nats


def _stack(blocks: int, nodes: int, features: int) -> nn.Sequential:
    return nn.Sequential(*(GraphConvBlock(nodes, features) for _ in range(blocks)))


class _Level(nn.Module):
    """One stochastic level's decoder side: prior and posterior heads, the latent's way into the
    deterministic path, the level's residual blocks and the expansion to the next level's nodes."""

    def __init__(self, config: HGVAEConfig, level: int) -> None:
        super().__init__()
        nodes, features, latent = config.level_nodes[level], config.features, config.latent_features[level]
        self.top = level == 0
        if not self.top:  # p(z_0) is N(0, I)
            self.prior = nn.Sequential(
                GraphConvBlock(nodes, features), GraphConvLayer(nodes, nodes, features, 2 * latent, activation=False)
            )
        self.posterior = nn.Sequential(
            GraphConvLayer(nodes, nodes, 2 * features, features),
            GraphConvBlock(nodes, features),
            GraphConvLayer(nodes, nodes, features, 2 * latent, activation=False),
        )
        labels = config.classes if self.top else 0
        self.latent_in = GraphConvLayer(nodes, nodes, latent + labels, features)
        self.blocks = _stack(config.blocks, nodes, features)
        self.latent = latent
        if level < config.levels - 1:
            self.expand = GraphConvLayer(nodes, config.level_nodes[level + 1], features, features)

    def prior_of(self, path: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-sigma of p(z_l | z_<l), each (B, n_l, f_l)."""
        if self.top:
            zeros = path.new_zeros(path.shape[0], 1, self.latent)
            return zeros, zeros
        mean, log_sigma = self.prior(path).chunk(2, dim=-1)
        return mean, soft_clamp(log_sigma, LATENT_LOG_SIGMA_LIMIT)

    def posterior_of(self, path: Tensor, encoded: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-sigma of q(z_l | z_<l, x), each (B, n_l, f_l)."""
        mean, log_sigma = self.posterior(torch.cat([path, encoded], dim=-1)).chunk(2, dim=-1)
        return mean, soft_clamp(log_sigma, LATENT_LOG_SIGMA_LIMIT)

    def descend(self, path: Tensor, z: Tensor, one_hot: Tensor | None) -> Tensor:
        """The path after taking in z_l (and, at the top, the label), through this level's blocks
        and expanded to the next level's nodes."""
        if self.top and one_hot is not None:
            z = torch.cat([z, one_hot[:, None, :]], dim=-1)
        path = self.blocks(path + self.latent_in(z))
        return self.expand(path) if hasattr(self, "expand") else path


class HGVAE(nn.Module):
    """The HG-VAE over windows of global joint positions normalised at their first frame.

    Windows are standardised per entry with the training set's mean and standard deviation
    (buffers set by `set_statistics`; the mean is also the mean-imputation baseline), turned
    into a graph of J*3 coordinate nodes whose features are the T DCT coefficients of each
    trajectory, encoded bottom-up to one node, and decoded top-down through the levels. The
    decoder's output, mean and log-sigma coefficients per node, goes back through the inverse
    DCT, so p(x|z) is a Gaussian per coordinate and frame. Likelihoods are reported for the
    windows in metres (the standardisation's Jacobian included).
    """

    def __init__(self, config: HGVAEConfig) -> None:
        super().__init__()
        self.config = config
        self.metadata: ModelMetadata | None = None  # what it models; set by load() and by training
        nodes, frames, features = config.nodes, config.frames, config.features
        sizes = config.level_nodes
        self.register_buffer("data_mean", torch.zeros(frames, nodes))
        self.register_buffer("data_std", torch.ones(frames, nodes))
        self.embed = GraphConvLayer(nodes, nodes, frames, features)
        self.encoder = nn.ModuleList(_stack(config.blocks, n, features) for n in sizes)
        self.contract = nn.ModuleList(
            GraphConvLayer(sizes[level], sizes[level - 1], features, features) for level in range(1, config.levels)
        )
        self.start = nn.Parameter(torch.zeros(1, features))
        if config.classes:  # the label also starts the path, so q(z_0 | x, label) sees it
            self.label_start = nn.Parameter(torch.zeros(config.classes, features))
        self.levels = nn.ModuleList(_Level(config, level) for level in range(config.levels))
        self.head = GraphConvLayer(nodes, nodes, features, 2 * frames, activation=False)

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_statistics(self, windows: Tensor) -> None:
        """Set the standardisation from training windows (N, T*J*3) or (N, T, J, 3), metres."""
        flat = windows.reshape(len(windows), self.config.frames, self.config.nodes).double()
        self.data_mean.copy_(flat.mean(0))
        self.data_std.copy_(flat.std(0).clamp(min=STD_FLOOR))

    # Shapes ---------------------------------------------------------------------------------

    def _standardise(self, windows: Tensor) -> Tensor:
        """(B, T*J*3) or (B, T, J, 3) metres -> (B, T, J*3) standardised."""
        flat = windows.reshape(-1, self.config.frames, self.config.nodes)
        return (flat - self.data_mean) / self.data_std

    def _metres(self, standardised: Tensor) -> Tensor:
        """(B, T, J*3) standardised -> (B, T, J, 3) metres."""
        return (standardised * self.data_std + self.data_mean).reshape(-1, self.config.frames, self.config.joints, 3)

    def _one_hot(self, labels: Tensor | None, batch: int, device: torch.device) -> Tensor | None:
        if not self.config.classes:
            if labels is not None:
                raise ValueError("this HG-VAE is unconditional; it takes no labels")
            return None
        if labels is None:
            raise ValueError(f"this HG-VAE is class-conditional; give a label in 0..{self.config.classes - 1}")
        labels = torch.as_tensor(labels, device=device).expand(batch)
        return F.one_hot(labels.long(), self.config.classes).float()

    # The model ----------------------------------------------------------------------------------

    def _start(self, batch: int, one_hot: Tensor | None) -> Tensor:
        """The top of the deterministic path, (B, 1, F)."""
        path = self.start.expand(batch, 1, -1)
        return path if one_hot is None else path + (one_hot @ self.label_start)[:, None, :]

    def encode(self, standardised: Tensor) -> list[Tensor]:
        """Bottom-up features f_l(x), top level first: (B, n_l, F) each."""
        graph = self.embed(dct(standardised, dim=-2).transpose(-1, -2))  # nodes x DCT coefficients
        features = []
        for level in reversed(range(self.config.levels)):
            graph = self.encoder[level](graph)
            features.append(graph)
            if level > 0:
                graph = self.contract[level - 1](graph)
        return features[::-1]

    def decode_output(self, path: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-sigma of p(x|z) from the bottom of the path, (B, T, J*3) standardised each."""
        mean, log_sigma = self.head(path).chunk(2, dim=-1)  # DCT coefficients per node
        mean = idct(mean.transpose(-1, -2), dim=-2)
        log_sigma = idct(log_sigma.transpose(-1, -2), dim=-2)
        return mean, OUTPUT_LOG_SIGMA_MIN + F.softplus(log_sigma - OUTPUT_LOG_SIGMA_MIN)

    def forward(self, windows: Tensor, labels: Tensor | None = None, sample: bool = True) -> ELBOTerms:
        """The ELBO's terms for a batch.

        Args:
            windows: (B, T*J*3) or (B, T, J, 3) positions, metres, normalised at frame 0.
            labels: (B,) class indices for a class-conditional model.
            sample: draw z from the posteriors (training); False uses their means, which makes
                the ELBO a deterministic function of x (scoring and imputation).
        """
        x = self._standardise(windows)
        one_hot = self._one_hot(labels, x.shape[0], x.device)
        encoded = self.encode(x)
        path = self._start(x.shape[0], one_hot)
        kls = []
        for level, stochastic, features in zip(self.levels, self.config.stochastic, encoded, strict=True):
            prior_mean, prior_log_sigma = level.prior_of(path)
            if stochastic:
                mean, log_sigma = level.posterior_of(path, features)
                z = mean + torch.exp(log_sigma) * torch.randn_like(mean) if sample else mean
                kls.append(gaussian_kl(mean, log_sigma, prior_mean, prior_log_sigma).sum((-1, -2)))
            else:
                z = prior_mean
                kls.append(x.new_zeros(x.shape[0]))
            path = level.descend(path, z, one_hot)
        mean, log_sigma = self.decode_output(path)
        log_likelihood = (-0.5 * ((x - mean) * torch.exp(-log_sigma)).square() - log_sigma - HALF_LOG_2PI).sum((-1, -2))
        log_likelihood = log_likelihood - self.data_std.log().sum()
        return ELBOTerms(log_likelihood, torch.stack(kls, dim=-1), self._metres(mean))

    @torch.no_grad()
    def elbo(self, windows: Tensor, labels: Tensor | None = None, batch: int = 800) -> Tensor:
        """ELBO per window at the posterior means (the out-of-distribution score), nats.

        Args:
            windows: (B, T*J*3) or (B, T, J, 3) metres.
            labels: (B,) class indices for a class-conditional model.
        Returns:
            (B,) nats; lower means less like the training data.
        """
        parts = []
        for start in range(0, len(windows), batch):
            part_labels = None if labels is None else labels[start : start + batch]
            parts.append(self(windows[start : start + batch], part_labels, sample=False).elbo)
        return torch.cat(parts) if parts else windows.new_zeros(0)

    @torch.no_grad()
    def generate(
        self, count: int, label: int | Tensor | None = None, temperature: float = 1.0, generator=None
    ) -> Tensor:
        """Sample windows top-down from the priors.

        Args:
            count: windows to draw.
            label: class index (or (count,) indices) for a class-conditional model.
            temperature: scale of the prior standard deviations (1: the model's distribution).
        Returns:
            (count, T, J, 3) means of p(x|z), metres, normalised at frame 0.
        """
        device = self.start.device
        one_hot = self._one_hot(label, count, device)
        path = self._start(count, one_hot)
        for level, stochastic in zip(self.levels, self.config.stochastic, strict=True):
            mean, log_sigma = level.prior_of(path)
            if stochastic:
                noise = torch.randn(mean.shape, generator=generator, device=device)
                z = mean + temperature * torch.exp(log_sigma) * noise
            else:
                z = mean
            path = level.descend(path, z, one_hot)
        return self._metres(self.decode_output(path)[0])

    def impute(
        self,
        windows: Tensor,
        missing: Tensor,
        labels: Tensor | None = None,
        steps: int = 10,
        lr: float = MAP_LR,
        start: str = "interpolate",
        batch: int = 800,
    ) -> Imputation:
        """MAP imputation (App. B): the missing entries are parameters that Adam moves uphill on
        the ELBO (at the posterior means) for `steps` steps; each window keeps its best step,
        the start included. Observed entries are never changed. The parameters are the entries
        in standard deviations of the training data, so a step moves each entry in proportion
        to how much it varies (a wrist at frame 49 far more than one at frame 1).

        Args:
            windows: (B, T, J, 3) metres; values at missing entries are ignored (may be NaN).
            missing: (B, T, J, 3) bool, True where occluded.
            labels: (B,) class indices for a class-conditional model.
            steps: Adam steps.
            lr: Adam's learning rate, in standard deviations of each entry (about how far an
                entry moves per step; see MAP_LR). evaluation.imputation.pick_learning_rate picks
                one on val windows for an occlusion pattern.
            start: "interpolate" (linear in time between the window's observed frames), "mean"
                (the training-set mean of each entry) or "given" (the values `windows` holds at the
                missing entries, e.g. interpolated over a whole clip).
            batch: windows optimised together.
        """
        if start not in ("interpolate", "mean", "given"):
            raise ValueError(f"start must be 'interpolate', 'mean' or 'given', got {start!r}")
        shape = (-1, self.config.frames, self.config.nodes)
        results = []
        for first in range(0, len(windows), batch):
            x = windows[first : first + batch].reshape(shape).detach()
            hole = missing[first : first + batch].reshape(shape)
            mean = self.data_mean.expand_as(x)
            if start != "given":
                x = torch.where(hole, interpolate_gaps(x, hole, fallback=mean) if start == "interpolate" else mean, x)
            part_labels = None if labels is None else labels[first : first + batch]
            results.append(self._ascend(x, hole, part_labels, steps, lr))
        windows_out, before, after = (torch.cat(parts) for parts in zip(*results, strict=True))
        return Imputation(windows_out.reshape(-1, *self.window_shape), before, after)

    @property
    def window_shape(self) -> tuple[int, int, int]:
        """(T, J, 3): one window."""
        return (self.config.frames, self.config.joints, 3)

    def _ascend(self, x: Tensor, hole: Tensor, labels: Tensor | None, steps: int, lr: float) -> Imputation:
        """Adam on the missing entries of x (B, T, J*3) metres, in standard deviations of each
        entry; each window keeps its best step."""
        free = self._standardise(x).requires_grad_(True)
        optimizer = torch.optim.Adam([free], lr=lr, betas=MAP_BETAS)
        best, best_elbo, first_elbo = x.clone(), None, None
        was_training = self.training
        self.eval()
        try:
            for step in range(steps + 1):
                current = torch.where(hole, free * self.data_std + self.data_mean, x)
                elbo = self(current, labels, sample=False).elbo
                with torch.no_grad():
                    if best_elbo is None:
                        first_elbo, best_elbo = elbo.detach().clone(), elbo.detach().clone()
                    better = elbo > best_elbo
                    best = torch.where(better[:, None, None], current, best)
                    best_elbo = torch.where(better, elbo, best_elbo)
                if step < steps:
                    optimizer.zero_grad(set_to_none=True)
                    (-elbo.sum()).backward()
                    optimizer.step()
        finally:
            self.train(was_training)
        return Imputation(best.detach(), first_elbo, best_elbo)

    # Files --------------------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write config, weights and `metadata` (when set) to a checkpoint."""
        save_model(path, "hgvae", self)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> HGVAE:
        """Rebuild a model from a checkpoint (weights_only loading).

        Returns:
            the model in eval mode on `device`, with `metadata` from the checkpoint.
        """
        return restore_model(path, {"hgvae": cls.from_config}, device)

    @classmethod
    def from_config(cls, config: dict) -> HGVAE:
        """An untrained model of the config a checkpoint stores (a dict)."""
        return cls(HGVAEConfig.from_dict(config))
