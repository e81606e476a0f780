"""Training an amortised conditional Gaussian mixture for IK by variational inference: aVIPS
(Musekamp 2022, Ch. 3) and the thesis's two baselines, a plainly trained GMM and a single Gaussian.

The target is an unnormalised density over configurations for a context z (motion.ik.targets):
for the Panda arm (the thesis's Sec. 5.1) the goal position and rotation; for the 2-D humanoid the
goals of the right hand and feet and a ceiling.

aVIPS ("avips"), per iteration:
- E-step every `e_step_every` iterations: a frozen copy q~ of the model is taken, and components
  whose mean weight fell under `removal_threshold` are removed.
- Component update (Eq. 3.4): for each component o, maximise E_{q(z|o)}[R(o, z)] with
  R(o, z) = E_{q(x|o,z)}[log p~(x|z) + log q~(o|x,z)] + H(q(x|o,z)), under trust regions on the
  KL to q~'s component, split into mean and covariance parts (MPO-style), as a Lagrangian whose
  multipliers follow dual ascent. The contexts of each component are resampled from the batch by
  importance weights q~(o|z) / q~(o) (Sec. 3.3: `resampled` of the batch's contexts per component).
- Weight update (Eq. 3.5) every `weight_every` iterations on the whole batch: maximise
  sum_o q(o|z) R(o, z) + H(q(o|z)) under a trust region on KL(q(o|z) || q~(o|z)).
"gmm": gradient ascent on the ELBO of the whole mixture, no trust regions, no resampling.
"gaussian": the same with one component.

Departures, where the thesis is silent or the CPU is small: the multipliers are updated
multiplicatively toward KL = epsilon after each iteration rather than by a fixed number of dual
steps; Adam's moments are not reset at E-steps; a reward's sd is a running mean over batches rather
than the first batch's of each M-step.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from motion.errors import InputError
from motion.ik.targets import TARGETS, HumanoidTarget, PandaTarget
from motion.models.avips import AVIPS, AVIPSConfig, MixtureParameters
from training.distributed import process_group
from training.trainer import TrainConfig, check_output, train

VARIANTS = ("avips", "gmm", "gaussian")
VAL_TARGETS = 512
VAL_SEED_OFFSET = 1
LOG_WEIGHT_FLOOR = 1e4  # nats: stands in for a removed component's log-weight of -inf


@dataclass(frozen=True)
class AVIPSTraining:
    """What an aVIPS (or baseline) run sets. The architecture defaults are the thesis's (70
    components of 4 x 450, a 4 x 800 gate, batch 512, 128 of 512 contexts resampled per component,
    800 M-steps of 1,000 batches); the KL bounds and learning rate are ours (the thesis prints none).

    Attributes:
        task: "panda" or "humanoid2d" (motion.ik.targets).
        variant: "avips", "gmm" or "gaussian".
        samples: samples per component and context in each estimate.
        e_step_every: iterations per M-step.
        weight_every: iterations between weight updates (aVIPS).
        mean_bound, covariance_bound, weight_bound: epsilon of each trust region per M-step, nats;
            the mean's is 20x the covariance's, as in the thesis's ablation. On the CPU budget
            (3,500 iterations, M-steps of 100), bounds 20x tighter learnt 2-3x slower.
        multiplier_rate: how fast a multiplier moves toward its bound (per iteration, in log space);
            at 0.1 the multipliers overshot and runs diverged after 550-3,200 iterations.
        removal_threshold: components whose mean weight falls under this are removed.
        configurations: random configurations drawn for the contexts (seeded).
        target: the target's widths; None: the task's defaults.
    """

    task: str = "panda"
    variant: str = "avips"
    components: int = 70
    component_hidden: tuple[int, ...] = (450, 450, 450, 450)
    gate_hidden: tuple[int, ...] = (800, 800, 800, 800)
    samples: int = 4
    resampled: int = 128
    e_step_every: int = 1000
    weight_every: int = 4
    mean_bound: float = 20.0
    covariance_bound: float = 1.0
    weight_bound: float = 1.0
    multiplier_rate: float = 0.01
    removal_threshold: float = 0.0005
    configurations: int = 1_000_000
    target: PandaTarget | HumanoidTarget | None = None
    # Gradients clipped at norm 10: an unclipped run diverged to NaN covariances after 3,200 iterations.
    schedule: TrainConfig = field(
        default_factory=lambda: TrainConfig(iterations=800_000, batch=512, lr=3e-4, grad_clip=10.0)
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "component_hidden", tuple(self.component_hidden))
        object.__setattr__(self, "gate_hidden", tuple(self.gate_hidden))
        if self.task not in TARGETS:
            raise InputError(f"task: expected one of {', '.join(TARGETS)}, got {self.task!r}")
        if self.target is None:
            object.__setattr__(self, "target", TARGETS[self.task]())
        if self.target.name != self.task:
            raise InputError(f"target: a {self.target.name} target for the {self.task} task")
        if self.variant not in VARIANTS:
            raise InputError(f"variant: expected one of {', '.join(VARIANTS)}, got {self.variant!r}")
        for name in ("components", "samples", "resampled", "e_step_every", "weight_every", "configurations"):
            if getattr(self, name) < 1:
                raise InputError(f"{name}: must be at least 1, got {getattr(self, name)}")
        for name in ("mean_bound", "covariance_bound", "weight_bound", "multiplier_rate"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name}: must be positive, got {getattr(self, name)}")
        if any(width < 1 for width in self.component_hidden + self.gate_hidden):
            raise InputError("component_hidden, gate_hidden: every width must be at least 1")

    def settings(self) -> dict:
        """The settings a resumed run must share."""
        return {
            "variant": self.variant, "samples": self.samples, "resampled": self.resampled,
            "e_step_every": self.e_step_every, "weight_every": self.weight_every,
            "bounds": [self.mean_bound, self.covariance_bound, self.weight_bound],
            "task": self.task, "target": asdict(self.target),
            "configurations": self.configurations, "multiplier_rate": self.multiplier_rate,
            "removal_threshold": self.removal_threshold,
        }  # fmt: skip


def gaussian_kl_parts(mean: Tensor, tril: Tensor, old_mean: Tensor, old_tril: Tensor) -> tuple[Tensor, Tensor]:
    """KL(q || q~) of Gaussians split into its mean part and its covariance part (MPO's decoupling).

    Args:
        mean, old_mean: (..., D); tril, old_tril: (..., D, D) lower Cholesky factors.
    Returns:
        (KL_mu, KL_Sigma), each (...), nats.
    """
    dim = mean.shape[-1]
    whitened = torch.linalg.solve_triangular(old_tril, (old_mean - mean).unsqueeze(-1), upper=False)[..., 0]
    kl_mean = 0.5 * whitened.pow(2).sum(-1)
    ratio = torch.linalg.solve_triangular(old_tril, tril, upper=False)  # L~^-1 L
    log_det = old_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) - tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
    kl_covariance = 0.5 * (2 * log_det + ratio.pow(2).sum((-1, -2)) - dim)
    return kl_mean, kl_covariance


def every_component_log_prob(mixture: MixtureParameters, y: Tensor) -> Tensor:
    """log N(y | component o') for each component o' of `mixture`.

    Args:
        y: (K, B, S, D) samples (one batch per sampling component), B matching the mixture's contexts.
    Returns:
        (K', K, B, S) nats.
    """
    K, B, S, D = y.shape
    flat = y.permute(1, 0, 2, 3).reshape(1, B, K * S, D)  # each context's samples, every sampling component
    log_prob = mixture.component_log_prob(flat)  # (K', B, K * S)
    return log_prob.reshape(-1, B, K, S).permute(0, 2, 1, 3)


class AVIPSRecipe:
    """aVIPS's part of training (and the baselines'): the objective, E-steps and the multipliers."""

    kind = "avips"
    metric_names = ("elbo", "reward", "kl_mean", "kl_covariance", "weight_kl", "components")

    def __init__(self, model: AVIPS, config: AVIPSTraining, train_data: Tensor, val_contexts: Tensor) -> None:
        self.model, self.config, self.train_data, self.val_contexts = model, config, train_data, val_contexts
        self.target = config.target
        self.validation_names = ("val_elbo", *(f"val_{name}" for name in self.target.error_names))
        self.metadata = None
        self.settings = config.settings()
        K = model.config.components
        self.frozen: AVIPS | None = None
        self.mean_multiplier = torch.ones(K, device=train_data.device)
        self.covariance_multiplier = torch.ones(K, device=train_data.device)
        self.weight_multiplier = torch.ones((), device=train_data.device)
        self.reward_scale: Tensor | None = None  # (K,) running sd of each component's reward

    def initialize(self) -> None:
        pass  # the model initialises itself (spread means, INITIAL_SD)

    def state_dict(self) -> dict:
        """What a resumed run needs besides the model: q~, the multipliers and the reward scales."""
        return {
            "frozen": None if self.frozen is None else self.frozen.state_dict(),
            "mean_multiplier": self.mean_multiplier,
            "covariance_multiplier": self.covariance_multiplier,
            "weight_multiplier": self.weight_multiplier,
            "reward_scale": self.reward_scale,
        }

    def load_state_dict(self, state: dict) -> None:
        if state["frozen"] is not None:
            self.frozen = copy.deepcopy(self.model).requires_grad_(False)
            self.frozen.load_state_dict(state["frozen"])
        self.mean_multiplier, self.covariance_multiplier = state["mean_multiplier"], state["covariance_multiplier"]
        self.weight_multiplier, self.reward_scale = state["weight_multiplier"], state["reward_scale"]

    def stage(self, iteration: int) -> str:
        return self.config.variant

    def lr_factor(self, iteration: int) -> float:
        if self.config.variant == "avips":
            return 1.0
        return 0.01 ** (iteration / self.config.schedule.iterations)  # the baselines' exponential decay

    # The objective -----------------------------------------------------------------------

    def _sample(self, mean: Tensor, tril: Tensor) -> Tensor:
        """(K, B, S, D) reparameterised samples of each component (scaled space)."""
        noise = torch.randn(*mean.shape[:2], self.config.samples, mean.shape[-1], device=mean.device)
        return mean[:, :, None] + (tril[:, :, None] @ noise[..., None])[..., 0]

    def _target(self, y: Tensor, contexts: Tensor) -> Tensor:
        """log p~ of (K, B, S, D) scaled samples for (K or 1, B, 12) contexts: (K, B, S)."""
        return self.target.log_density(self.model.unscale(y), contexts[:, :, None])

    def elbo_loss(self, module: nn.Module, contexts: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        """The plain ELBO of the whole mixture (the baselines), its gradient through everything."""
        mixture = module(contexts)
        y = self._sample(mixture.mean, mixture.scale_tril)  # (K, B, S, D)
        log_q = torch.logsumexp(
            every_component_log_prob(mixture, y) + mixture.log_weights.T[:, None, :, None], 0
        )  # (K, B, S)
        per_component = (self._target(y, contexts[None]) - log_q).mean(-1)  # (K, B)
        weights = mixture.log_weights.T.exp()  # (K, B)
        elbo = torch.where(weights > 0, weights * per_component, 0.0).sum(0).mean()
        return -elbo, {"elbo": elbo.detach(), "components": self.model.active.sum().float()}

    def _rewards(self, module: nn.Module, contexts: Tensor, frozen_mixture: MixtureParameters, own: Tensor):
        """R(o, z) for each component at its own contexts, with the KL parts to q~.

        Args:
            contexts: (K, B, 12), one batch per component; frozen_mixture: q~ at those contexts
                flattened (K * B contexts); own: (K, B) int64 flat index of each context there.
        Returns:
            reward (K, B), kl_mean (K, B), kl_covariance (K, B).
        """
        K, B = contexts.shape[:2]
        mean, tril = module.component_parameters(contexts)  # (K, B, D), (K, B, D, D)
        y = self._sample(mean, tril)  # (K, B, S, D)
        flat = y.reshape(1, K * B, -1, y.shape[-1])
        frozen_per_component = frozen_mixture.component_log_prob(flat)  # (K', K * B, S)
        frozen_log_weights = frozen_mixture.log_weights.T[:, :, None]  # (K', K * B, 1)
        frozen_log_q = torch.logsumexp(frozen_per_component + frozen_log_weights, 0)  # (K * B, S)
        component = torch.arange(K, device=y.device)[:, None].expand(K, B).reshape(-1)
        rows = own.reshape(-1)
        # A removed component's weight is 0 (log -inf); a finite floor keeps its reward finite (and
        # out of every gradient: removed components are masked from both objectives).
        own_log_joint = (
            frozen_per_component[component, rows] + frozen_log_weights.clamp_min(-LOG_WEIGHT_FLOOR)[component, rows]
        )  # (K * B, S)
        log_responsibility = (own_log_joint - frozen_log_q).reshape(K, B, -1)
        entropy = MixtureParameters(frozen_mixture.log_weights, mean, tril).entropy()  # (K, B)
        reward = (self._target(y, contexts) + log_responsibility).mean(-1) + entropy
        old_mean = frozen_mixture.mean[component, rows].reshape(K, B, -1)
        old_tril = frozen_mixture.scale_tril[component, rows].reshape(K, B, *tril.shape[-2:])
        kl_mean, kl_covariance = gaussian_kl_parts(mean, tril, old_mean, old_tril)
        return reward, kl_mean, kl_covariance

    def _e_step(self, contexts: Tensor) -> None:
        with torch.no_grad():
            mean_weight = self.model.gate_log_weights(contexts).exp().mean(0)
            removable = self.model.active & (mean_weight < self.config.removal_threshold)
            if removable.any() and int((self.model.active & ~removable).sum()) >= 1:
                self.model.active &= ~removable
        self.frozen = copy.deepcopy(self.model).requires_grad_(False)

    def avips_loss(self, module: nn.Module, contexts: Tensor, iteration: int) -> tuple[Tensor, dict[str, Tensor]]:
        config, model = self.config, self.model
        if self.frozen is None or iteration % config.e_step_every == 0:
            self._e_step(contexts)
        K, active = model.config.components, model.active
        with torch.no_grad():
            frozen_weights = self.frozen.gate_log_weights(contexts).exp()  # (B, K)
            # Sec. 3.3: each component's contexts, resampled with weights q~(o|z) / q~(o).
            proposal = frozen_weights.T + 1e-12  # (K, B)
            picks = torch.multinomial(proposal, config.resampled, replacement=True)  # (K, R)
            own_contexts = contexts[picks]  # (K, R, 12)
            frozen_mixture = self.frozen(own_contexts.reshape(-1, contexts.shape[-1]))
        own = torch.arange(K * config.resampled, device=contexts.device).reshape(K, -1)
        reward, kl_mean, kl_covariance = self._rewards(module, own_contexts, frozen_mixture, own)
        # Sec. 3.2.2: each component's reward over its sd, so that the trust regions' multipliers
        # mean the same at any scale of the target (its log-density spans thousands of nats early on).
        spread = reward.detach().std(-1).clamp_min(1e-6).masked_fill(~active, 1.0)
        self.reward_scale = spread if self.reward_scale is None else 0.9 * self.reward_scale + 0.1 * spread
        lagrangian = (
            reward / self.reward_scale[:, None]
            - self.mean_multiplier[:, None] * kl_mean
            - self.covariance_multiplier[:, None] * kl_covariance
        ).mean(-1)  # (K,)
        loss = -lagrangian[active].sum()
        kl_mean_now, kl_covariance_now = kl_mean.detach().mean(-1), kl_covariance.detach().mean(-1)
        metrics = {}
        if iteration % config.weight_every == 0:
            weight_loss, weight_kl = self._weight_loss(module, contexts)
            loss = loss + weight_loss
            self.weight_multiplier = self._moved(self.weight_multiplier, weight_kl, config.weight_bound)
            metrics["weight_kl"] = weight_kl
        self.mean_multiplier = self._moved(self.mean_multiplier, kl_mean_now, config.mean_bound)
        self.covariance_multiplier = self._moved(self.covariance_multiplier, kl_covariance_now, config.covariance_bound)
        return loss, metrics | {
            "reward": reward.detach().mean(-1)[active].mean(),
            "kl_mean": kl_mean_now[active].mean(),
            "kl_covariance": kl_covariance_now[active].mean(),
            "components": active.sum().float(),
        }

    def _weight_loss(self, module: nn.Module, contexts: Tensor) -> tuple[Tensor, Tensor]:
        """Eq. 3.5 on the whole batch: -(sum_o q(o|z) R(o,z) + H(q(o|z)) - alpha_w KL), and the KL."""
        K, B = self.model.config.components, contexts.shape[0]
        with torch.no_grad():
            frozen_mixture = self.frozen(contexts)  # (K', B) components
            shared = contexts.expand(K, B, contexts.shape[-1])
            frozen_flat = MixtureParameters(
                frozen_mixture.log_weights.repeat(K, 1),
                frozen_mixture.mean.repeat(1, K, 1),
                frozen_mixture.scale_tril.repeat(1, K, 1, 1),
            )
            own = torch.arange(K * B, device=contexts.device).reshape(K, B)
            reward, _, _ = self._rewards(self.model, shared, frozen_flat, own)  # (K, B)
        active = self.model.active
        log_weights = self.model.gate_log_weights(contexts)  # (B, K), -inf for removed components
        weights = log_weights.exp()
        # Masked before multiplying: 0 * -inf would put NaN into every gradient of the gate.
        log_weights = log_weights.masked_fill(~active, 0.0)
        frozen_log_weights = frozen_mixture.log_weights.masked_fill(~active, 0.0)
        entropy = -(weights * log_weights).sum(-1)
        kl = (weights * (log_weights - frozen_log_weights)).sum(-1).mean()
        scale = self.reward_scale[active].mean()  # one scale for all: the gate compares components
        objective = (weights * reward.T.masked_fill(~active, 0.0) / scale).sum(-1) + entropy
        return -(objective.mean() - self.weight_multiplier * kl), kl.detach()

    def _moved(self, multiplier: Tensor, kl: Tensor, bound: float) -> Tensor:
        """Dual ascent: raise a multiplier while its KL exceeds the bound, lower it otherwise."""
        step = self.config.multiplier_rate * (kl / bound - 1).clamp(-1.0, 1.0)
        return (multiplier * torch.exp(step)).clamp(1e-3, 1e5)

    def loss(self, module: nn.Module, batch: Tensor, iteration: int) -> tuple[Tensor, dict[str, Tensor]]:
        contexts = self.target.contexts(batch)
        if self.config.variant == "avips":
            return self.avips_loss(module, contexts, iteration)
        return self.elbo_loss(module, contexts)

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """ELBO (nats, configuration space) and the samples' errors (the target's) on fixed val contexts."""
        contexts = self.val_contexts
        loss, _ = self.elbo_loss(self.model, contexts)
        samples = self.model.sample(contexts, 8)  # (B, 8, D)
        errors = self.target.errors(samples, contexts[:, None])
        # In configuration units: q(x) = q(y) |dy/dx|, so log q rises by log|dy/dx| and the ELBO falls by it.
        return {"val_elbo": -loss.item() - self.model.log_scale_jacobian} | {
            f"val_{name}": value.mean().item() for name, value in errors.items()
        }


def train_avips(
    out: str | Path,
    config: AVIPSTraining | None = None,
    *,
    device: str = "auto",
    resume: bool = False,
    overwrite: bool = False,
    export: str | Path | None = None,
) -> dict[str, float]:
    """Train aVIPS (or a baseline) for an IK task into the checkpoint `out` (log: OUT.csv).

    Returns:
        the last validation figures (val_elbo and the target's errors: val_position_mm and
        val_rotation_deg for the Panda, val_goal_mm and val_under_ceiling for the humanoid).
    Raises:
        InputError: bad settings, `out` exists (without resume or overwrite), or a resume with
            other settings.
    """
    config, out = config or AVIPSTraining(), Path(out)
    check_output(out, resume, overwrite)
    with process_group(device) as topology:
        if topology.distributed:  # each rank would remove components and take E-steps on its own batches
            raise InputError("aVIPS trains in one process; launch it without torchrun")
        seed, target = config.schedule.seed, config.target
        configurations = target.random_configurations(config.configurations, torch.Generator().manual_seed(seed))
        val_generator = torch.Generator().manual_seed(seed + VAL_SEED_OFFSET)
        val_contexts = target.contexts(target.random_configurations(VAL_TARGETS, val_generator), val_generator)
        lower, upper = target.limits()
        components = 1 if config.variant == "gaussian" else config.components
        model_config = AVIPSConfig(
            dim=target.dim, context_dim=target.context_dim, low=tuple(lower.tolist()), high=tuple(upper.tolist()),
            components=components, component_hidden=config.component_hidden, gate_hidden=config.gate_hidden,
        )  # fmt: skip
        torch.manual_seed(seed)
        model = AVIPS(model_config).to(topology.device)
        recipe = AVIPSRecipe(model, config, configurations.to(topology.device), val_contexts.to(topology.device))
        summary = (
            f"{config.variant} for {target.name} IK: {components} components ({model.parameter_count:,} parameters), "
            f"{config.schedule.iterations:,} iterations, batch {config.schedule.batch}"
        )
        return train(recipe, config.schedule, out, topology, summary, resume, Path(export) if export else None)
