"""Hierarchical graph-convolutional VAE (Bourached et al., "Hierarchical Graph-Convolutional
Variational AutoEncoding for Generative Modelling of Human Motion"): its graph blocks.

A motion window is a graph whose nodes are the J*3 joint coordinates and whose node features
are the DCT coefficients of each coordinate's trajectory (motion/dct.py). Every layer of the
network is one of the two blocks below (Sec. 4, Eq. 4-5); the adjacency S is learned, as in
spatial graph convolutions.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def _uniform(shape: tuple[int, ...], bound: float) -> nn.Parameter:
    return nn.Parameter(torch.empty(shape).uniform_(-bound, bound))


class GraphConvLayer(nn.Module):
    """GCL(A) = GELU(S A W + b) (Eq. 4): N_in nodes of F_in features to N_out nodes of F_out.

    S (N_out, N_in) mixes nodes (a learned adjacency), W (F_in, F_out) mixes features, and b
    (N_out, F_out) is a per-node bias. Initialised uniformly in +-1/sqrt(fan-in), as in the
    graph convolutions of Mao et al. (2019) that the paper builds on.
    """

    def __init__(self, nodes_in: int, nodes_out: int, features_in: int, features_out: int) -> None:
        super().__init__()
        self.adjacency = _uniform((nodes_out, nodes_in), 1 / math.sqrt(nodes_in))
        self.weight = _uniform((features_in, features_out), 1 / math.sqrt(features_in))
        self.bias = _uniform((nodes_out, features_out), 1 / math.sqrt(features_in))

    def forward(self, graph: Tensor) -> Tensor:
        """(..., N_in, F_in) -> (..., N_out, F_out)."""
        return F.gelu(self.adjacency @ graph @ self.weight + self.bias)


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
