"""What a DRMM sample is conditioned on: known values, Gaussian priors and linear constraints.

Every input is per variable and optional. A 1-D array (D,) describes one conditioning
problem; a 2-D array (problems, D) describes a batch of independent problems that are
sampled in one call (e.g. 64 different contexts x 256 samples each). Inputs of both kinds
may be mixed: a 1-D input is shared by every problem.

The model uses these inputs as in the DRMM paper, Sec. 3.5: known values enter each layer's
likelihood with multipliers m (Eq. 11); a prior or constraint multiplies each component's
weight by its integral against the component Gaussian, in each layer's residual space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

ArrayLike = np.ndarray | Tensor | list | float


@dataclass(frozen=True)
class Condition:
    """Per-variable conditioning inputs for `DRMM.sample`.

    Attributes:
        values: (D,) or (problems, D) known values; NaN marks an unknown variable.
        weights: multipliers m of Eq. 11, same shape rules: 0 = unknown, 1 = known, other
            values = confidence. Default: 1 where `values` is finite, 0 where it is NaN.
        prior_mean, prior_sd: a diagonal Gaussian prior; NaN mean = no prior on that variable.
        prior_weight: multiplier of each variable's prior term; default 1 where a prior is given.
        inequality_a: (C, D) or (problems, C, D) normals of constraints a.x + b > 0.
        inequality_b: (C,) or (problems, C) offsets b.
        inequality_weight: (C,) or (problems, C) multipliers; default 1.
        box_min, box_max: per-variable bounds; NaN or -inf/+inf = unbounded.
        box_weight: multiplier of each bounded variable's terms; default 1.
    """

    values: ArrayLike | None = None
    weights: ArrayLike | None = None
    prior_mean: ArrayLike | None = None
    prior_sd: ArrayLike | None = None
    prior_weight: ArrayLike | None = None
    inequality_a: ArrayLike | None = None
    inequality_b: ArrayLike | None = None
    inequality_weight: ArrayLike | None = None
    box_min: ArrayLike | None = None
    box_max: ArrayLike | None = None
    box_weight: ArrayLike | None = None

    def tensors(self, dim: int, device: torch.device | str) -> ConditionTensors:
        """Validate the inputs against `dim` variables and batch them for the model.

        Raises:
            ValueError: naming the field whose shape or values are wrong.
        """
        fields = {name: _as_tensor(getattr(self, name), device) for name in _FIELDS}
        problems, batched = _problem_count(fields, dim)

        def per_variable(name: str, fill: float) -> Tensor:
            value = fields[name]
            if value is None:
                return torch.full((problems, dim), fill, device=device)
            return value.expand(problems, dim)

        values = per_variable("values", float("nan"))
        weights = fields["weights"]
        weights = torch.isfinite(values).float() if weights is None else per_variable("weights", 0.0)
        if (weights < 0).any():
            raise ValueError("weights: multipliers must be >= 0")
        if (~torch.isfinite(values) & (weights > 0)).any():
            raise ValueError("values: NaN or inf where weights > 0; a known variable needs a value")
        known = values.nan_to_num(0.0, posinf=0.0, neginf=0.0) if (weights > 0).any() else None
        result = ConditionTensors(problems, batched, known, weights if known is not None else None)

        if fields["prior_mean"] is not None:
            mean = per_variable("prior_mean", float("nan"))
            sd = per_variable("prior_sd", 1.0) if fields["prior_sd"] is not None else None
            if sd is None:
                raise ValueError("prior_sd: required with prior_mean")
            if (sd[torch.isfinite(mean)] < 0).any():
                raise ValueError("prior_sd: must be >= 0")
            given = torch.isfinite(mean)
            weight = per_variable("prior_weight", 1.0) * given
            result.prior = (torch.where(given, mean, 0.0), torch.where(given, sd, 1.0), weight)

        if fields["inequality_a"] is not None:
            result.inequalities = _inequalities(fields, problems, dim)

        if fields["box_min"] is not None or fields["box_max"] is not None:
            low = per_variable("box_min", float("nan"))
            high = per_variable("box_max", float("nan"))
            low = torch.where(low.isnan(), -math.inf, low)  # (nan_to_num would also turn -inf finite)
            high = torch.where(high.isnan(), math.inf, high)
            weight = per_variable("box_weight", 1.0)
            bounded = (torch.isfinite(low) | torch.isfinite(high)) & (weight > 0)
            index = bounded.any(0).nonzero().squeeze(1)
            if index.numel():
                low, high = low[:, index], high[:, index]
                result.box = (
                    index,
                    low if torch.isfinite(low).any() else None,
                    high if torch.isfinite(high).any() else None,
                    weight[:, index],
                )
        return result


_FIELDS = tuple(Condition.__dataclass_fields__)


@dataclass
class ConditionTensors:
    """`Condition` as batched float32 tensors on the model's device.

    Attributes:
        problems: number of independent conditioning problems G.
        batched: whether any input had a problem axis (else G = 1 and results drop that axis).
        values: (G, D) known values (0 where unknown) or None when nothing is known.
        weights: (G, D) multipliers m or None.
        prior: (mean, sd, weight), each (G, D), or None.
        inequalities: (a (G, C, D) unit normals, b (G, C), weight (G, C)) or None.
        box: (index (A,) bounded variables, low (G, A), high (G, A), weight (G, A)) or None;
            low or high is None when no variable has a finite bound on that side.
    """

    problems: int
    batched: bool = False
    values: Tensor | None = None
    weights: Tensor | None = None
    prior: tuple[Tensor, Tensor, Tensor] | None = None
    inequalities: tuple[Tensor, Tensor, Tensor] | None = None
    box: tuple[Tensor, Tensor | None, Tensor | None, Tensor] | None = None

    def take(self, problems: Tensor) -> ConditionTensors:
        """The conditions of the given problems (indices into G), as a new batch."""

        def pick(value):
            return None if value is None else value[problems]

        return ConditionTensors(
            problems=len(problems),
            batched=True,
            values=pick(self.values),
            weights=pick(self.weights),
            prior=None if self.prior is None else tuple(pick(value) for value in self.prior),
            inequalities=None if self.inequalities is None else tuple(pick(value) for value in self.inequalities),
            box=None if self.box is None else (self.box[0], *(pick(value) for value in self.box[1:])),
        )

    @property
    def has_terms(self) -> bool:
        """Whether any prior or constraint term applies (known values aside)."""
        return self.prior is not None or self.inequalities is not None or self.box is not None


def _as_tensor(value: ArrayLike | None, device: torch.device | str) -> Tensor | None:
    if value is None:
        return None
    tensor = torch.as_tensor(np.asarray(value.cpu() if isinstance(value, Tensor) else value, dtype=np.float32))
    return tensor.to(device)


def _problem_count(fields: dict[str, Tensor | None], dim: int) -> tuple[int, bool]:
    """The batch size G implied by the inputs, and whether any input has a problem axis;
    checks each input's trailing dimensions."""
    problems, batched = {1}, False
    for name, value in fields.items():
        if value is None:
            continue
        if name.startswith("inequality_"):
            continue
        if value.ndim not in (1, 2) or value.shape[-1] != dim:
            raise ValueError(f"{name}: expected shape ({dim},) or (problems, {dim}), got {tuple(value.shape)}")
        if value.ndim == 2:
            problems.add(value.shape[0])
            batched = True
    a = fields["inequality_a"]
    if a is not None and a.ndim == 3:
        problems.add(a.shape[0])
        batched = True
    if len(problems - {1}) > 1:
        raise ValueError(f"inputs disagree on the number of problems: {sorted(problems - {1})}")
    return max(problems), batched


def _inequalities(fields: dict[str, Tensor | None], problems: int, dim: int) -> tuple[Tensor, Tensor, Tensor]:
    """Constraints a.x + b > 0 scaled to unit |a|, so a.x + b is a signed distance (Sec. 3.5)."""
    a, b, weight = fields["inequality_a"], fields["inequality_b"], fields["inequality_weight"]
    if a.ndim == 1:
        a = a[None]
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[-1] != dim:
        raise ValueError(f"inequality_a: expected shape (C, {dim}) or (problems, C, {dim}), got {tuple(a.shape)}")
    count = a.shape[1]
    if b is None:
        raise ValueError("inequality_b: required with inequality_a")
    b = b.reshape(-1, count) if b.ndim <= 1 else b
    if b.shape[-1] != count:
        raise ValueError(f"inequality_b: expected {count} offsets per problem, got shape {tuple(b.shape)}")
    weight = torch.ones_like(b) if weight is None else weight.reshape(-1, count) if weight.ndim <= 1 else weight
    norm = a.norm(dim=-1)
    if (norm == 0).any():
        raise ValueError("inequality_a: a constraint normal is all zeros")
    return (
        (a / norm[..., None]).expand(problems, count, dim),
        (b / norm).expand(problems, count),
        weight.expand(problems, count),
    )
