"""The DRMM's hand-written backward passes (motion.models.ops) against autograd's, on real segments."""

from copy import deepcopy

import pytest
import torch
import torch.nn.functional as F

from motion.dataset import load_dataset
from motion.models import DRMM, DRMMConfig, ops
from motion.models.ops import category_log_probabilities, gather_rows, inner_products
from training.drmm import Curriculum, DRMMRecipe
from training.trainer import compile_step


@pytest.fixture(scope="module")
def batch(segments) -> torch.Tensor:
    data = torch.from_numpy(load_dataset(segments, split="train").features)
    return data[torch.randperm(len(data), generator=torch.Generator().manual_seed(0))[:256]]


def gradients(
    module: torch.nn.Module, recipe: DRMMRecipe, batch: torch.Tensor, stage: int, model: DRMM | None = None
) -> list[torch.Tensor]:
    """The parameter gradients of one training step of `module` (model, or model compiled)."""
    model = model or module
    model.zero_grad(set_to_none=True)
    torch.manual_seed(1)  # the same latents in every pass
    loss, _ = recipe.loss(module, batch, stage)
    loss.backward()
    return [p.grad for p in model.parameters() if p.grad is not None]


@pytest.mark.parametrize("stage", [0, 1, 2])
def test_sparse_products_give_the_dense_gradients_of_a_training_step(batch, stage, monkeypatch):
    torch.manual_seed(0)
    model = DRMM(DRMMConfig(dim=batch.shape[1]))
    recipe = DRMMRecipe(model, Curriculum(iterations=3), batch)  # iteration i is in stage i
    recipe.initialize()
    shares = []
    backward = ops.inner_products_backward

    def counted(grad, x, mean, input_grad):
        shares.append((grad != 0).float().mean().item())
        return backward(grad, x, mean, input_grad)

    threshold = ops.SPARSE_GRADIENT_SHARE
    monkeypatch.setattr(ops, "inner_products_backward", counted)
    monkeypatch.setattr(ops, "SPARSE_GRADIENT_SHARE", 1.0)  # every product sparse
    sparse = gradients(model, recipe, batch, stage)
    assert max(shares) < 0.2 and min(shares) < threshold  # the gradient is sparse indeed
    monkeypatch.setattr(ops, "SPARSE_GRADIENT_SHARE", -1.0)  # every product dense
    dense = gradients(model, recipe, batch, stage)
    assert len(sparse) == len(dense)
    for got, expected in zip(sparse, dense, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5 * expected.abs().max().item())


def test_inner_products_and_gathered_rows_match_autograd():
    generator = torch.Generator().manual_seed(0)
    x, mean = torch.randn(64, 7, generator=generator), torch.randn(32, 7, generator=generator)
    table = torch.randn(30, 5, generator=generator)
    rows = torch.randint(0, 30, (64, 3), generator=generator)
    kept = torch.rand(64, 32, generator=generator) < 0.02  # a sparse gradient, as in training
    weight = torch.randn(64, 32, generator=generator).where(kept, 0.0)
    for function, reference, inputs in (
        (inner_products, lambda a, b: a @ b.T, (x, mean)),
        (lambda t, r: gather_rows(t, r).sum(-2), lambda t, r: F.embedding(r, t).sum(-2), (table, rows)),
    ):
        leaves = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
        copies = [t.clone().requires_grad_(t.is_floating_point()) for t in inputs]
        out, expected = function(*leaves), reference(*copies)
        torch.testing.assert_close(out, expected)
        grad = weight[:, : out.shape[-1]]
        out.backward(grad)
        expected.backward(grad)
        for leaf, copy in zip(leaves, copies, strict=True):
            if leaf.requires_grad:
                torch.testing.assert_close(leaf.grad, copy.grad)


def test_category_log_probabilities_match_autograd():
    generator = torch.Generator().manual_seed(0)
    table = 4 * torch.randn(3, 6, 5, generator=generator)  # (J, C, K)
    table[1, 2] = -100.0  # a category under e^EXP_FLOOR of its table's normaliser: no gradient, no NaN
    categories = torch.randint(0, 6, (64, 3), generator=generator)
    categories[:, 1].masked_fill_(categories[:, 1] == 2, 3)
    grad = torch.randn(64, 5, generator=generator)
    ours, reference = table.clone().requires_grad_(), table.clone().requires_grad_()
    out = category_log_probabilities(ours, torch.logsumexp(table, 1), categories)
    log_p = reference.log_softmax(1)
    expected = sum(log_p[j][categories[:, j]] for j in range(3))
    torch.testing.assert_close(out, expected)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(ours.grad, reference.grad)
    # Inference gathers for (paths, 1, J) categories.
    torch.testing.assert_close(
        category_log_probabilities(table, torch.logsumexp(table, 1), categories[:, None]), expected[:, None]
    )


def test_a_compiled_training_step_is_as_exact_as_the_eager_one(batch, monkeypatch):
    """Inductor compiles the hand-written backward passes (the in-place row adds among them) into the
    training step. With the eager random numbers, its gradients must lie as close to a float64 step's
    as float32 rounding allows: within 1e-3 of the largest entry, or 4x the eager float32 step's own
    error where that is larger (it reaches 3e-3 for log sigma). A lost or doubled term is off by O(1)."""
    monkeypatch.setattr(torch._inductor.config, "fallback_random", True)
    cpp = torch._inductor.config.cpp
    monkeypatch.setattr(cpp, "simdlen", cpp.simdlen)  # restored after compile_step sets it
    for stage in (1, 2):  # the categorical streams with gradient stops, then without
        torch.manual_seed(0)
        model = DRMM(DRMMConfig(dim=batch.shape[1], layers=3, components=64))
        recipe = DRMMRecipe(model, Curriculum(iterations=3), batch)
        recipe.initialize()
        exact = deepcopy(model).double()
        expected = gradients(exact, DRMMRecipe(exact, recipe.curriculum, batch.double()), batch.double(), stage)
        eager = gradients(model, recipe, batch, stage)
        compiled = gradients(compile_step(model, torch.device("cpu")), recipe, batch, stage, model)
        assert len(compiled) == len(eager) == len(expected)
        for got, rounded, reference in zip(compiled, eager, expected, strict=True):
            scale = reference.abs().max()
            error, eager_error = (got - reference).abs().max() / scale, (rounded - reference).abs().max() / scale
            assert eager_error < 1e-2  # the float32 and float64 steps drew the same latents
            assert error <= max(4 * eager_error, 1e-3)


def test_the_operators_pass_torch_library_checks():
    """Fake (meta) implementations, autograd registration and schemas, as torch.compile relies on them."""
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(7, 64, generator=generator).T  # non-contiguous, as a view of a batch can be
    mean = torch.randn(32, 7, generator=generator)
    grad = torch.randn(64, 32, generator=generator).where(torch.rand(64, 32, generator=generator) < 0.02, 0.0)
    table, rows = torch.randn(30, 5, generator=generator), torch.randint(0, 30, (64, 3), generator=generator)
    tables = torch.randn(3, 10, 5, generator=generator)
    categories = torch.randint(0, 10, (64, 3), generator=generator)
    for op, inputs in (
        (ops.inner_products, (x.requires_grad_(), mean.requires_grad_())),
        (ops.inner_products_backward, (grad, x.detach(), mean.detach(), True)),
        (ops.gather_rows, (table.requires_grad_(), rows)),
        (ops.scatter_rows, (torch.randn(64, 3, 5, generator=generator), rows, 30)),
        (ops.category_log_probabilities, (tables.clone().requires_grad_(), torch.logsumexp(tables, 1), categories)),
        (ops.add_category_rows_, (torch.zeros(3, 10, 5), categories, torch.randn(64, 5, generator=generator))),
    ):
        torch.library.opcheck(op, inputs)
