"""DRMM on the 2-D toy data of the paper's Fig. 2: depth, conditioning, priors, constraints."""

import math

import pytest
import torch

from motion.models import DRMM, Condition, DRMMConfig
from motion.models.drmm import log_normal_cdf, log_softmax, logsumexp, sample_categorical, truncate_logits
from training.distributed import Topology
from training.drmm import LR_2D, Curriculum, DRMMRecipe
from training.trainer import TrainConfig, Trainer


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """2-D batches are too small to share between threads; with another busy process on the
    machine, OpenMP's thread hand-offs would make each step 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def sierpinski(count: int, generator: torch.Generator, depth: int = 8) -> torch.Tensor:
    """Points of the Sierpinski triangle (chaos game, `depth` halvings)."""
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    choice = torch.randint(0, 3, (count, depth), generator=generator)
    scale = 0.5 ** torch.arange(1, depth + 1)
    return (corners[choice] * scale[None, :, None]).sum(1)


def swiss_roll(count: int, generator: torch.Generator) -> torch.Tensor:
    angle = 1.5 * math.pi * (1 + 2 * torch.rand(count, generator=generator))
    points = torch.stack([angle * torch.cos(angle), angle * torch.sin(angle)], 1) / 10
    return points + 0.02 * torch.randn(count, 2, generator=generator)


def train_toy(data: torch.Tensor, layers: int, components: int, iterations: int, path) -> DRMM:
    """Train with the real trainer and curriculum at the paper's 2-D learning rate."""
    torch.manual_seed(0)
    model = DRMM(DRMMConfig(dim=2, layers=layers, components=components))
    recipe = DRMMRecipe(model, Curriculum(iterations), data)
    config = TrainConfig(iterations=iterations, lr=LR_2D, checkpoint_every=iterations, validate_every=iterations)
    Trainer(recipe, config, path, Topology(torch.device("cpu"))).run()
    return model.eval()


@pytest.fixture(scope="module")
def roll(tmp_path_factory):
    generator = torch.Generator().manual_seed(1)
    data = swiss_roll(20000, generator)
    model = train_toy(data, layers=3, components=16, iterations=2400, path=tmp_path_factory.mktemp("roll") / "m.pt")
    return model, data


def test_held_out_likelihood_rises_with_depth_on_sierpinski(tmp_path):
    generator = torch.Generator().manual_seed(0)
    train, test = sierpinski(20000, generator), sierpinski(2000, generator)
    held_out = []
    for layers in (1, 2, 3):
        model = train_toy(train, layers, components=3, iterations=1200, path=tmp_path / f"{layers}.pt")
        held_out.append(model.log_likelihood(test, generator=torch.Generator().manual_seed(0)).mean().item())
    assert held_out[0] + 0.2 < held_out[1] < held_out[2] - 0.2, held_out


def test_inequality_constrained_samples_satisfy_the_constraint(roll):
    model, _ = roll
    # x + 0.3 y - 0.1 > 0, a plane cutting the roll
    condition = Condition(inequality_a=[[1.0, 0.3]], inequality_b=[-0.1])
    samples = model.sample(2000, condition, generator=torch.Generator().manual_seed(0)).samples
    assert (samples @ torch.tensor([1.0, 0.3]) - 0.1 > 0).float().mean() >= 0.95
    unconstrained = model.sample(2000, generator=torch.Generator().manual_seed(0)).samples
    assert (unconstrained @ torch.tensor([1.0, 0.3]) - 0.1 > 0).float().mean() < 0.7


def test_box_constraint_bounds_one_variable(roll):
    model, _ = roll
    condition = Condition(box_min=[float("nan"), 0.2], box_max=[0.5, float("inf")])
    samples = model.sample(2000, condition, generator=torch.Generator().manual_seed(0)).samples
    assert ((samples[:, 1] > 0.2) & (samples[:, 0] < 0.5)).float().mean() >= 0.95
    index, low, high, _ = condition.tensors(2, "cpu").box
    assert index.tolist() == [0, 1] and torch.isinf(high[0, 1]) and torch.isinf(low[0, 0])


def test_conditioning_on_x_gives_x_near_c_and_y_on_the_data(roll):
    model, data = roll
    c = 0.4
    samples = model.sample(500, Condition(values=[c, float("nan")]), generator=torch.Generator().manual_seed(0)).samples
    assert (samples[:, 0] - c).abs().median() < 0.03
    # y follows the data: each sample lies near some data point with x close to c...
    nearest = torch.cdist(samples, data).min(1).values
    assert (nearest < 0.08).float().mean() > 0.9
    # ...and both branches of the roll that cross x = c are represented.
    branches = data[(data[:, 0] - c).abs() < 0.02, 1]
    assert branches.min() < 0 < branches.max()
    assert (samples[:, 1] < 0).any() and (samples[:, 1] > 0).any()


def test_a_batch_of_conditioning_problems_in_one_call(roll):
    model, _ = roll
    targets = torch.tensor([-0.8, -0.2, 0.3, 0.9])
    values = torch.stack([targets, torch.full_like(targets, float("nan"))], 1)  # (4, 2)
    result = model.sample(300, Condition(values=values), generator=torch.Generator().manual_seed(0))
    assert result.samples.shape == (4, 300, 2) and result.log_likelihood.shape == (4, 300)
    assert torch.allclose(result.samples[:, :, 0].median(1).values, targets, atol=0.05)
    assert (result.log_likelihood[:, :-1] >= result.log_likelihood[:, 1:]).all()  # sorted


def test_gaussian_prior_pulls_samples_toward_its_mean(roll):
    model, _ = roll
    mean = torch.tensor([0.6, 0.6])
    plain = model.sample(1000, generator=torch.Generator().manual_seed(0)).samples
    pulled = model.sample(
        1000, Condition(prior_mean=mean, prior_sd=[0.1, 0.1]), generator=torch.Generator().manual_seed(0)
    ).samples
    assert (pulled - mean).norm(dim=1).mean() < 0.5 * (plain - mean).norm(dim=1).mean()


def test_marginal_likelihood_of_one_variable(roll):
    model, data = roll
    generator = torch.Generator().manual_seed(0)
    x_only = torch.tensor([1.0, 0.0])
    inside = model.log_likelihood(torch.tensor([[0.3, 0.0]]), x_only, generator=generator)
    outside = model.log_likelihood(torch.tensor([[3.0, 0.0]]), x_only, generator=generator)
    assert inside > outside + 5
    # y is ignored when marginalised out
    moved = model.log_likelihood(torch.tensor([[0.3, 5.0]]), x_only, generator=torch.Generator().manual_seed(0))
    again = model.log_likelihood(torch.tensor([[0.3, 0.0]]), x_only, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(moved, again)


def test_save_load_gives_identical_samples(roll, tmp_path):
    model, _ = roll
    model.save(tmp_path / "roll.pt")
    loaded = DRMM.load(tmp_path / "roll.pt")
    assert loaded.metadata is None  # a model of bare vectors describes no skeleton or layout
    first = model.sample(64, Condition(values=[0.2, float("nan")]), generator=torch.Generator().manual_seed(3))
    second = loaded.sample(64, Condition(values=[0.2, float("nan")]), generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(first.samples, second.samples, rtol=0, atol=0)
    torch.testing.assert_close(first.log_likelihood, second.log_likelihood, rtol=0, atol=0)


def test_condition_errors_name_the_field():
    model = DRMM(DRMMConfig(dim=3, layers=2, components=4))
    with pytest.raises(ValueError, match="values: expected shape"):
        model.sample(4, Condition(values=[1.0, 2.0]))
    with pytest.raises(ValueError, match="prior_sd: required"):
        model.sample(4, Condition(prior_mean=[0.0, 0.0, 0.0]))
    with pytest.raises(ValueError, match="inequality_a: a constraint normal is all zeros"):
        model.sample(4, Condition(inequality_a=[[0.0, 0.0, 0.0]], inequality_b=[1.0]))
    with pytest.raises(ValueError, match="disagree on the number of problems"):
        model.sample(4, Condition(values=torch.zeros(2, 3), prior_mean=torch.zeros(5, 3), prior_sd=[1.0, 1.0, 1.0]))


def test_truncated_sampling_never_picks_a_truncated_component():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.02, 0.18]])).expand(20000, 4)
    index, log_prob = sample_categorical(truncate_logits(logits, 0.05), torch.Generator().manual_seed(0))
    assert (index != 2).all()
    frequencies = torch.bincount(index, minlength=4).float() / index.numel()
    torch.testing.assert_close(frequencies, torch.tensor([0.5, 0.3, 0.0, 0.18]) / 0.98, atol=0.015, rtol=0)
    torch.testing.assert_close(log_prob.exp(), (torch.tensor([0.5, 0.3, 0.0, 0.18]) / 0.98)[index])


def test_fast_log_normal_cdf_matches_torch():
    x = torch.linspace(-40, 12, 20001, dtype=torch.float64)
    torch.testing.assert_close(log_normal_cdf(x.float()).double(), torch.special.log_ndtr(x), atol=1e-3, rtol=1e-4)


def test_floored_logsumexp_matches_torch_in_value_and_gradient():
    # Rows spread over thousands of nats, as a layer's logits are; truncated (-inf) entries in some.
    x = torch.randn(64, 512, generator=torch.Generator().manual_seed(0)) * 2000
    x = x.masked_fill(torch.rand(64, 512, generator=torch.Generator().manual_seed(1)) < 0.3, -math.inf)
    x[:, 0] = 0.0  # every row keeps a finite peak
    x.requires_grad_()
    ours, theirs = logsumexp(x, -1), torch.logsumexp(x, -1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-4)
    (grad_ours,) = torch.autograd.grad(ours.sum(), x)
    (grad_theirs,) = torch.autograd.grad(theirs.sum(), x)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=0, atol=1e-6)  # float32 rounding of weights near 1
    torch.testing.assert_close(log_softmax(x.detach(), -1).exp().sum(-1), torch.ones(64))
    empty = torch.full((2, 5), -math.inf, requires_grad=True)
    total = logsumexp(empty, -1)
    assert total.eq(-math.inf).all()
    (grad_empty,) = torch.autograd.grad(total.sum(), empty)
    assert grad_empty.eq(0).all()


def test_eager_terms_hold_only_in_their_own_thread():
    import threading

    from motion.models.drmm import _Compiled, eager_terms

    seen = []
    with eager_terms():
        thread = threading.Thread(target=lambda: seen.append(getattr(_Compiled.eager, "on", False)))
        thread.start()
        thread.join()
        assert _Compiled.eager.on
    assert seen == [False] and not _Compiled.eager.on
