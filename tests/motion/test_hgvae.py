"""HG-VAE graph blocks (Eq. 4-5)."""

import torch

from motion.models.hgvae import GraphConvBlock, GraphConvLayer


def test_layer_maps_nodes_and_features():
    torch.manual_seed(0)
    layer = GraphConvLayer(nodes_in=60, nodes_out=20, features_in=50, features_out=32)
    assert layer(torch.randn(8, 60, 50)).shape == (8, 20, 32)


def test_rezero_block_is_the_identity_at_initialisation_and_then_learns():
    torch.manual_seed(0)
    block = GraphConvBlock(nodes=12, features=16)
    graph = torch.randn(4, 12, 16)
    torch.testing.assert_close(block(graph), graph, rtol=0, atol=0)
    target = graph.flip(-1)
    optimiser = torch.optim.Adam(block.parameters(), lr=1e-2)
    first = None
    for _ in range(50):
        loss = (block(graph) - target).pow(2).mean()
        first = first if first is not None else loss.item()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert block.alpha.item() != 0 and loss.item() < first
