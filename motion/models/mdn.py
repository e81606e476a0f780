"""A mixture density network (Bishop 1994): next poses given context and goals, the conditional
baseline the DRMM is compared with.

A multilayer perceptron reads the standardised inputs (the segment's context blocks, the goal
root position x, y and the goal forward x, y) and outputs a K-component Gaussian mixture with
diagonal covariances over the standardised next poses: mixture logits, means, and scales
through softplus plus a floor. The likelihood is the log-sum-exp over components.

Unlike the DRMM, which variables are inputs is fixed when the network is trained. To still
serve playback's "facing unspecified" mode, the forward goal is hidden from the network for a
random half of the training rows (zeroed, with an input flag saying so), so one network
conditions on it or not. Anything else (goal clipping, which needs goals given the context;
a head ceiling) would need another network.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from motion.checkpoint import ModelMetadata, restore_model, save_model
from motion.layout import SegmentLayout

LOG_2PI = math.log(2 * math.pi)
STD_FLOOR = 1e-4  # metres; a variable that never varies is standardised by this instead


@dataclass(frozen=True)
class MDNConfig:
    """Architecture (saved in checkpoints)."""

    inputs: int  # context + goal root x, y + forward x, y + the forward-known flag
    outputs: int  # the next poses
    components: int = 16  # K
    hidden: int = 1024
    layers: int = 3  # hidden layers
    min_scale: float = 0.01  # floor of each scale, in standard deviations of its variable
    forward_dropout: float = 0.5  # training rows whose forward goal is hidden

    def __post_init__(self) -> None:
        for name in ("inputs", "outputs", "components", "hidden", "layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_scale <= 0:
            raise ValueError(f"min_scale must be > 0, got {self.min_scale}")
        if not 0 <= self.forward_dropout <= 1:
            raise ValueError(f"forward_dropout must be in [0, 1], got {self.forward_dropout}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> MDNConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown MDN config fields: {sorted(unknown)}")
        return cls(**data)


def mdn_inputs(segments: Tensor, layout: SegmentLayout, forward_known: Tensor | bool = True) -> Tensor:
    """The network's inputs from segment vectors.

    Args:
        segments: (N, D) segment vectors (the next poses are not read).
        forward_known: (N,) bool or one bool; where False, the forward goal is zeroed and flagged unknown.
    Returns:
        (N, mdn_input_size(layout)) inputs.
    """
    known = torch.as_tensor(forward_known, dtype=segments.dtype, device=segments.device).expand(len(segments))
    return torch.cat(
        [
            segments[:, layout.context],
            segments[:, layout.goal_root_xy],
            segments[:, layout.goal_forward_xy] * known[:, None],
            known[:, None],
        ],
        1,
    )


def mdn_input_size(layout: SegmentLayout) -> int:
    """Width of mdn_inputs: the context, goal root x, y, goal forward x, y and the forward-known flag."""
    parts = (layout.context, layout.goal_root_xy, layout.goal_forward_xy)
    return sum(part.stop - part.start for part in parts) + 1


def mdn_output_size(layout: SegmentLayout) -> int:
    """Width of what the MDN samples: the next poses."""
    return layout.next_poses.stop - layout.next_poses.start


class MDN(nn.Module):
    """p(next poses | context, goals) as a Gaussian mixture whose parameters an MLP outputs."""

    def __init__(self, config: MDNConfig) -> None:
        super().__init__()
        self.config = config
        self.metadata: ModelMetadata | None = None  # what it models; set by load() and by training
        K, D = config.components, config.outputs
        self.register_buffer("input_mean", torch.zeros(config.inputs))
        self.register_buffer("input_std", torch.ones(config.inputs))
        self.register_buffer("output_mean", torch.zeros(D))
        self.register_buffer("output_std", torch.ones(D))
        layers, width = [], config.inputs
        for _ in range(config.layers):
            layers += [nn.Linear(width, config.hidden), nn.GELU()]
            width = config.hidden
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(width, K * (1 + 2 * D))

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def set_statistics(self, inputs: Tensor, outputs: Tensor) -> None:
        """Standardise by the training rows' mean and sd (the forward-known flag stays as is)."""
        self.input_mean.copy_(inputs.double().mean(0))
        self.input_std.copy_(inputs.double().std(0).clamp(min=STD_FLOOR))
        self.input_mean[-1], self.input_std[-1] = 0.0, 1.0
        self.output_mean.copy_(outputs.double().mean(0))
        self.output_std.copy_(outputs.double().std(0).clamp(min=STD_FLOOR))

    def mixture(self, inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The mixture over standardised outputs.

        Args:
            inputs: (N, inputs) from `mdn_inputs`, metres.
        Returns:
            log_weights (N, K), means (N, K, D), scales (N, K, D) (standardised units).
        """
        K, D = self.config.components, self.config.outputs
        hidden = self.body((inputs - self.input_mean) / self.input_std)
        out = self.head(hidden)
        logits, means, raw = out[:, :K], out[:, K : K + K * D], out[:, K + K * D :]
        scales = F.softplus(raw) + self.config.min_scale
        return torch.log_softmax(logits, -1), means.reshape(-1, K, D), scales.reshape(-1, K, D)

    def log_prob(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """log p(outputs | inputs), nats per row, in metres (the standardisation's Jacobian included).

        Args:
            inputs: (N, inputs); outputs: (N, D) next poses, metres.
        """
        log_weights, means, scales = self.mixture(inputs)
        z = ((outputs - self.output_mean) / self.output_std)[:, None]
        per_component = -0.5 * (((z - means) / scales) ** 2 + LOG_2PI) - scales.log()
        return torch.logsumexp(log_weights + per_component.sum(-1), -1) - self.output_std.log().sum()

    def forward(self, inputs: Tensor, outputs: Tensor) -> Tensor:
        """`log_prob`, as the module's forward pass (what DistributedDataParallel wraps)."""
        return self.log_prob(inputs, outputs)

    @torch.no_grad()
    def sample(
        self, inputs: Tensor, count: int = 1, temperature: float = 1.0, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor]:
        """Draw next poses.

        Args:
            inputs: (N, inputs).
            count: samples per row.
            temperature: divides the mixture logits and multiplies the variances; below 1
                favours the likelier components and narrows them (0 is not allowed).
        Returns:
            samples (N, count, D) metres, and their log-likelihood under the untempered model (N, count).
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        log_weights, means, scales = self.mixture(inputs)
        N, K, D = means.shape
        probabilities = torch.softmax(log_weights / temperature, -1)
        component = torch.multinomial(probabilities, count, replacement=True, generator=generator)  # (N, count)
        pick = component[..., None].expand(N, count, D)
        noise = torch.randn(N, count, D, generator=generator, device=means.device)
        z = means.gather(1, pick) + math.sqrt(temperature) * scales.gather(1, pick) * noise
        samples = z * self.output_std + self.output_mean
        repeated = inputs.repeat_interleave(count, 0)
        log_likelihood = self.log_prob(repeated, samples.reshape(N * count, D)).reshape(N, count)
        return samples, log_likelihood

    def save(self, path: str | Path) -> None:
        """Write config, weights and `metadata` (when set) to a checkpoint."""
        save_model(path, "mdn", self)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> MDN:
        """Rebuild a model from a checkpoint (weights_only loading).

        Returns:
            the model in eval mode on `device`, with `metadata` from the checkpoint.
        """
        return restore_model(path, {"mdn": cls.from_config}, device)

    @classmethod
    def from_config(cls, config: dict) -> MDN:
        """An untrained model of the config a checkpoint stores (a dict)."""
        return cls(MDNConfig.from_dict(config))
