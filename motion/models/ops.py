"""Two operators of the DRMM's training step whose backward passes are written by hand, because
the ones autograd and inductor make are slow on the CPU: the matrix product of a layer's
distances, whose gradient is sparse, and a gather of table rows."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

# Above this share of nonzero entries a sparse matrix product is slower than a dense one on the CPU,
# for the shapes of a training step on the locomotion segments (256 x 512 against 487 columns).
SPARSE_GRADIENT_SHARE = 0.03


@torch.library.custom_op("motion::inner_products", mutates_args=())
def inner_products(x: Tensor, mean: Tensor) -> Tensor:
    """x @ mean.T, the matrix product of a layer's distances, with a backward for sparse gradients.

    A layer's logits gradient is sparse: the DRMM's logsumexp passes none to a component under
    e^EXP_FLOOR (motion.models.drmm) of its row's peak, and the orphan term one per component.
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
