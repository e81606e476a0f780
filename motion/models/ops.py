"""Operators of the DRMM's training step whose backward passes are written by hand, because the
ones autograd and inductor make are slow on the CPU: the matrix product of a layer's distances,
whose gradient is sparse, a gather of rows (a layer's picked means), and the categorical streams'
log-probabilities, whose gradient is added in place."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Log-space sums (logsumexp, log_softmax, the categorical draw) drop terms under exp(EXP_FLOOR) =
# 9e-14 of their row's peak. Their sum over 512 components (5e-11) is below float32's resolution
# beside the peak's 1 (6e-8), so values do not change; their gradients (< 1e-13) would move a
# parameter by < 1e-5 of an Adam step (eps 1e-8). Keeping them cost 40% of a training step on the
# CPU: exp() of inputs under -87 takes a slow path in ATen's and inductor's kernels (15-170x per
# element), and their squared gradients become denormal numbers in Adam's state, slow again.
EXP_FLOOR = -30.0

# Above this share of nonzero entries a sparse matrix product is slower than a dense one on the CPU,
# for the shapes of a training step on the locomotion segments (256 x 512 against 487 columns).
SPARSE_GRADIENT_SHARE = 0.03


@torch.library.custom_op("motion::inner_products", mutates_args=())
def inner_products(x: Tensor, mean: Tensor) -> Tensor:
    """x @ mean.T, the matrix product of a layer's distances, with a backward for sparse gradients.

    A layer's logits gradient is sparse: the DRMM's logsumexp passes none to a component under
    e^EXP_FLOOR of its row's peak, and the orphan term one per component.
    Multiplied as a sparse matrix, the backward products cost less.

    Args:
        x: (N, D) inputs; mean: (K, D) component means.
    Returns:
        (N, K).
    """
    return x @ mean.T


@inner_products.register_fake
def _(x: Tensor, mean: Tensor) -> Tensor:
    return x.new_empty(x.shape[0], mean.shape[0])


@torch.library.custom_op("motion::inner_products_backward", mutates_args=())
def inner_products_backward(grad: Tensor, x: Tensor, mean: Tensor, input_grad: bool) -> tuple[Tensor, Tensor]:
    """grad @ mean (empty unless input_grad) and grad.T @ x, the gradients of `inner_products`.

    On the CPU a gradient with few nonzero entries is multiplied as a sparse matrix; past
    SPARSE_GRADIENT_SHARE of them, or on a GPU, where counting them would wait for the device,
    the dense products are faster.
    """
    if grad.device.type == "cpu" and torch.count_nonzero(grad) <= SPARSE_GRADIENT_SHARE * grad.numel():
        sparse = grad.to_sparse()
        x_grad = torch.sparse.mm(sparse, mean) if input_grad else x.new_empty(0)
        return x_grad, torch.sparse.mm(sparse.t(), x)
    return (grad @ mean if input_grad else x.new_empty(0)), grad.T @ x


@inner_products_backward.register_fake
def _(grad: Tensor, x: Tensor, mean: Tensor, input_grad: bool) -> tuple[Tensor, Tensor]:
    return (x.new_empty(x.shape) if input_grad else x.new_empty(0)), mean.new_empty(mean.shape)


def _inner_products_context(ctx, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
    ctx.save_for_backward(*inputs)


def _inner_products_backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor]:
    x, mean = ctx.saved_tensors
    x_grad, mean_grad = inner_products_backward(grad, x, mean, ctx.needs_input_grad[0])
    return (x_grad if ctx.needs_input_grad[0] else None), mean_grad


inner_products.register_autograd(_inner_products_backward, setup_context=_inner_products_context)


@torch.library.custom_op("motion::gather_rows", mutates_args=())
def gather_rows(table: Tensor, rows: Tensor) -> Tensor:
    """table[rows], whose backward adds each gradient row to its table row with ATen's index_add_,
    rather than with the atomic adds that inductor compiles an indexing backward into on the CPU.

    Args:
        table: (R, W); rows: (...) int64 indices into it.
    Returns:
        (..., W).
    """
    return F.embedding(rows, table)


@gather_rows.register_fake
def _(table: Tensor, rows: Tensor) -> Tensor:
    return table.new_empty(rows.shape + table.shape[-1:])


@torch.library.custom_op("motion::scatter_rows", mutates_args=())
def scatter_rows(grad: Tensor, rows: Tensor, table_rows: int) -> Tensor:
    """The gradient of `gather_rows` with respect to its table: (table_rows, W)."""
    grad = grad.reshape(-1, grad.shape[-1])
    return grad.new_zeros(table_rows, grad.shape[-1]).index_add_(0, rows.reshape(-1), grad)


@scatter_rows.register_fake
def _(grad: Tensor, rows: Tensor, table_rows: int) -> Tensor:
    return grad.new_empty(table_rows, grad.shape[-1])


def _gather_rows_context(ctx, inputs: tuple[Tensor, Tensor], output: Tensor) -> None:
    table, rows = inputs
    ctx.save_for_backward(rows)
    ctx.table_rows = table.shape[0]


def _gather_rows_backward(ctx, grad: Tensor) -> tuple[Tensor, None]:
    (rows,) = ctx.saved_tensors
    return scatter_rows(grad, rows, ctx.table_rows), None


gather_rows.register_autograd(_gather_rows_backward, setup_context=_gather_rows_context)


@torch.library.custom_op("motion::category_log_probabilities", mutates_args=())
def category_log_probabilities(table: Tensor, normaliser: Tensor, categories: Tensor) -> Tensor:
    """sum_j log p_j[categories[..., j]] for every component, with log p_j table j's log_softmax
    over its categories: one category's log-probability per table, summed. Its backward writes the
    normaliser's gradient and adds the gathered rows' gradient into it in place.

    Autograd would differentiate the normaliser and the gather separately and add their gradients,
    zero-filling, writing and reading a table-sized buffer more (1.6 M entries for the locomotion
    DRMM).

    Args:
        table: (J, C, K) logits of J tables of C categories for each of K components.
        normaliser: (J, K) logsumexp of each table over its categories, computed by the caller and
            detached: the backward differentiates as though normaliser = logsumexp(table, 1), and
            gives the table the normaliser's gradient.
        categories: (..., J) int64 category of each table.
    Returns:
        (..., K) nats.
    """
    streams, count, width = table.shape
    rows = categories + torch.arange(streams, device=table.device) * count
    return F.embedding(rows, table.reshape(-1, width)).sum(-2) - normaliser.sum(0)


@category_log_probabilities.register_fake
def _(table: Tensor, normaliser: Tensor, categories: Tensor) -> Tensor:
    dtype = torch.promote_types(table.dtype, normaliser.dtype)
    return table.new_empty(*categories.shape[:-1], table.shape[-1], dtype=dtype)


@torch.library.custom_op("motion::add_category_rows_", mutates_args=("table_grad",))
def add_category_rows_(table_grad: Tensor, categories: Tensor, grad: Tensor) -> None:
    """table_grad[j, categories[..., j]] += grad for each table j, in place (ATen's index_add_).

    Args:
        table_grad: (J, C, K); categories: (..., J) int64; grad: (..., K).
    """
    grad = grad.reshape(-1, grad.shape[-1])
    for stream in range(table_grad.shape[0]):
        table_grad[stream].index_add_(0, categories[..., stream].reshape(-1), grad)


@add_category_rows_.register_fake
def _(table_grad: Tensor, categories: Tensor, grad: Tensor) -> None:
    return None


def _category_context(ctx, inputs: tuple[Tensor, Tensor, Tensor], output: Tensor) -> None:
    ctx.save_for_backward(*inputs)


def _category_backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:
    if ctx.needs_input_grad[1]:
        raise RuntimeError("category_log_probabilities: pass the normaliser detached (its gradient goes to the table)")
    table, normaliser, categories = ctx.saved_tensors
    # The normaliser's gradient, -softmax * the gradient's sum over rows. A category under
    # e^EXP_FLOOR of the normaliser gets none (motion.models.drmm.logsumexp measures the floor from
    # the row's peak instead, at most log C higher: either way such gradients are below 1e-13).
    shifted = table - normaliser[:, None]
    probability = torch.where(shifted >= EXP_FLOOR, shifted.clamp_min(EXP_FLOOR).exp(), 0.0)
    table_grad = probability * -grad.reshape(-1, grad.shape[-1]).sum(0)
    add_category_rows_(table_grad, categories, grad)
    return table_grad, None, None


category_log_probabilities.register_autograd(_category_backward, setup_context=_category_context)
