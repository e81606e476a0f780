"""aVIPS and its baselines: the mixture's densities, covariance bounds, KL parts, the Panda target, training."""

import math

import pytest
import torch

from motion.checkpoint import export_checkpoint, load_checkpoint
from motion.errors import InputError
from motion.ik import panda
from motion.ik.targets import HumanoidTarget, PandaTarget
from motion.models.avips import AVIPS, AVIPSConfig, regularised_cholesky
from training.avips import AVIPSTraining, gaussian_kl_parts, train_avips
from training.trainer import TrainConfig


def small_config(components: int = 3) -> AVIPSConfig:
    lower, upper = panda.joint_limits()
    return AVIPSConfig(
        dim=7, context_dim=12, low=tuple(lower.tolist()), high=tuple(upper.tolist()),
        components=components, component_hidden=(16,), gate_hidden=(16,),
    )  # fmt: skip


def test_eigenvalue_bounds_cap_the_condition_number():
    tril = torch.diag(torch.tensor([1.0, 1e-4, 0.5]))
    regularised = regularised_cholesky(tril, condition_bound=100.0)
    eigenvalues = torch.linalg.eigvalsh(regularised @ regularised.T)
    assert eigenvalues.max() / eigenvalues.min() <= 100.0 + 1e-3
    well_conditioned = torch.linalg.cholesky(torch.tensor([[1.0, 0.2, 0.0], [0.2, 0.8, 0.1], [0.0, 0.1, 0.9]]))
    assert torch.allclose(regularised_cholesky(well_conditioned, 100.0), well_conditioned, atol=1e-6)


def test_kl_parts_add_up_to_the_gaussian_kl():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(3, 3, generator=generator), torch.randn(3, 3, generator=generator)
    tril, old_tril = torch.linalg.cholesky(a @ a.T + torch.eye(3)), torch.linalg.cholesky(b @ b.T + torch.eye(3))
    mean, old_mean = torch.randn(3, generator=generator), torch.randn(3, generator=generator)
    kl_mean, kl_covariance = gaussian_kl_parts(mean, tril, old_mean, old_tril)
    # KL_mu is the KL with the old covariance on both sides; KL_Sigma the KL with the old mean on both.
    old_shape = torch.distributions.MultivariateNormal(old_mean, scale_tril=old_tril)
    assert kl_mean.item() == pytest.approx(
        torch.distributions.kl_divergence(
            torch.distributions.MultivariateNormal(mean, scale_tril=old_tril), old_shape
        ).item(),
        rel=1e-4,
    )
    assert kl_covariance.item() == pytest.approx(
        torch.distributions.kl_divergence(
            torch.distributions.MultivariateNormal(old_mean, scale_tril=tril), old_shape
        ).item(),
        rel=1e-4,
    )
    assert gaussian_kl_parts(mean, tril, mean, tril)[1].abs().item() < 1e-5


def test_mixture_density_is_the_weighted_sum_of_its_gaussians_in_joint_space():
    torch.manual_seed(1)
    model = AVIPS(small_config()).eval()
    context = PandaTarget.contexts(panda.random_configurations(2, torch.Generator().manual_seed(2)))
    samples = model.sample(context, 5)
    assert samples.shape == (2, 5, 7)
    mixture = model(context)
    expected = []
    for component in range(3):
        gaussian = torch.distributions.MultivariateNormal(
            mixture.mean[component], scale_tril=mixture.scale_tril[component]
        )
        expected.append(
            gaussian.log_prob(model.scale(samples).transpose(0, 1)).T
            + mixture.log_weights[:, component : component + 1]
        )
    scaled = torch.logsumexp(torch.stack(expected), 0)
    assert torch.allclose(model.log_prob(samples, context), scaled + model.log_scale_jacobian, atol=1e-4)


def test_panda_target_peaks_at_the_configuration_that_reaches_the_goal():
    angles = panda.random_configurations(50, torch.Generator().manual_seed(3)) * 0.8  # inside the limits
    context = PandaTarget.contexts(angles)
    target = PandaTarget()
    exact = target.log_density(angles, context)
    nudged = target.log_density(angles + 0.01, context)
    assert (exact > nudged).all()
    lower, _ = panda.joint_limits()
    outside = angles.clone()
    outside[:, 1] = lower[1] - 0.1
    assert (target.log_density(outside, PandaTarget.contexts(outside)) < exact - 10).all()


@pytest.mark.parametrize("variant", ["avips", "gmm", "gaussian"])
def test_each_variant_trains_and_reloads(tmp_path, variant):
    torch.set_num_threads(1)
    config = AVIPSTraining(
        variant=variant, components=4, component_hidden=(32,), gate_hidden=(32,), resampled=16, e_step_every=20,
        configurations=2000, schedule=TrainConfig(iterations=60, batch=32, lr=3e-3, validate_every=60, log_every=10),
    )  # fmt: skip
    figures = train_avips(tmp_path / "model.pt", config, device="cpu")
    assert all(math.isfinite(value) for value in figures.values())
    model = AVIPS.load(tmp_path / "model.pt")
    assert model.config.components == (1 if variant == "gaussian" else 4)
    contexts = PandaTarget.contexts(panda.random_configurations(3, torch.Generator().manual_seed(4)))
    samples = model.sample(contexts, 6)
    assert samples.shape == (3, 6, 7) and torch.isfinite(model.log_prob(samples, contexts)).all()
    assert (tmp_path / "model.pt.csv").read_text().count("\n") >= 6


def test_removed_components_leave_training_finite_and_the_checkpoint_keeps_the_recipe_state(tmp_path):
    torch.set_num_threads(1)
    config = AVIPSTraining(
        components=4, component_hidden=(32,), gate_hidden=(32,), resampled=16, e_step_every=10,
        removal_threshold=0.24, configurations=2000,
        schedule=TrainConfig(iterations=40, batch=32, lr=3e-3, validate_every=40, log_every=10, checkpoint_every=20),
    )  # fmt: skip
    figures = train_avips(tmp_path / "model.pt", config, device="cpu")
    assert all(math.isfinite(value) for value in figures.values())
    model = AVIPS.load(tmp_path / "model.pt")
    assert 1 <= int(model.active.sum()) < 4  # a weight under 0.24 of 4 components: some were removed
    payload = load_checkpoint(tmp_path / "model.pt")
    state = payload["recipe_state"]
    assert state["frozen"] is not None and state["mean_multiplier"].shape == (4,)
    assert payload["recipe"]["removal_threshold"] == 0.24
    export_checkpoint(tmp_path / "model.pt", tmp_path / "shipped.pt")
    assert "recipe_state" not in load_checkpoint(tmp_path / "shipped.pt")


def test_bad_settings_are_input_errors():
    with pytest.raises(InputError, match="e_step_every: must be at least 1"):
        AVIPSTraining(e_step_every=0)
    with pytest.raises(InputError, match="mean_bound: must be positive"):
        AVIPSTraining(mean_bound=0.0)


def test_humanoid_target_prefers_reaching_the_goals_under_the_ceiling():
    configuration = torch.zeros(1, 13)
    configuration[0, 1] = 0.7
    target = HumanoidTarget()
    context = target.contexts(configuration.expand(400, -1), torch.Generator().manual_seed(5))
    assert ((context[:, -1] == 3.0).float().mean() - 0.5).abs() < 0.1  # half the contexts have no ceiling
    exact = target.log_density(configuration, context)
    assert (exact > target.log_density(configuration + 0.05, context)).all()
    low = context[:1].clone()
    low[0, -1] = 1.0  # under the head top (1.45 m)
    assert target.log_density(configuration, low) < exact[0] - 100
    errors = target.errors(configuration, context[:1])
    assert errors["goal_mm"].item() < 1e-3 and errors["under_ceiling"].item() == 1.0


def test_avips_trains_on_the_humanoid(tmp_path):
    torch.set_num_threads(1)
    config = AVIPSTraining(
        task="humanoid2d", components=4, component_hidden=(32,), gate_hidden=(32,), resampled=16, e_step_every=20,
        configurations=2000, schedule=TrainConfig(iterations=40, batch=32, lr=3e-3, validate_every=40, log_every=10),
    )  # fmt: skip
    figures = train_avips(tmp_path / "humanoid.pt", config, device="cpu")
    assert set(figures) == {"val_elbo", "val_goal_mm", "val_under_ceiling"}
    model = AVIPS.load(tmp_path / "humanoid.pt")
    assert model.config.dim == 13 and model.config.context_dim == 7
