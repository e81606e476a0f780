"""HG-VAE: graph blocks (Eq. 4-5), hierarchy, ELBO terms, imputation, checkpoints (untrained models)."""

import math
from dataclasses import replace

import pytest
import torch
from torch.distributions import Normal

from motion.checkpoint import ModelMetadata
from motion.layout import WindowLayout
from motion.models.hgvae import HGVAE, GraphConvBlock, GraphConvLayer, HGVAEConfig, gaussian_kl
from motion.skeleton import load_preset


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


def tiny_model(**changes) -> HGVAE:
    torch.manual_seed(0)
    config = HGVAEConfig(joints=4, frames=10, levels=3, features=16, latent_size=12)
    return HGVAE(replace(config, **changes))


def test_kl_is_zero_when_the_posterior_equals_the_prior_and_matches_torch_otherwise():
    torch.manual_seed(0)
    mean, log_sigma = torch.randn(5, 7), torch.randn(5, 7)
    assert gaussian_kl(mean, log_sigma, mean, log_sigma).abs().max() == 0
    other_mean, other_log_sigma = torch.randn(5, 7), torch.randn(5, 7)
    expected = torch.distributions.kl_divergence(
        Normal(mean, log_sigma.exp()), Normal(other_mean, other_log_sigma.exp())
    )
    torch.testing.assert_close(gaussian_kl(mean, log_sigma, other_mean, other_log_sigma), expected)


def test_levels_contract_to_one_node_and_latents_shrink_with_the_graph():
    config = HGVAEConfig()
    assert config.level_nodes == (1, 4, 15, 60) and config.latent_features == (256, 64, 17, 4)
    assert HGVAEConfig(levels=16).level_nodes[0] == 1 and HGVAEConfig(levels=16).level_nodes[-1] == 60
    with pytest.raises(ValueError, match="levels"):
        HGVAEConfig(levels=17)
    with pytest.raises(ValueError, match="stochastic_depth"):
        HGVAEConfig(levels=4, stochastic_depth=5)


def test_elbo_terms_have_per_window_shapes_and_the_likelihood_is_in_metres():
    model = tiny_model()
    windows = torch.randn(6, 10, 4, 3)
    model.set_statistics(windows)
    terms = model(windows)
    assert terms.log_likelihood.shape == (6,) and terms.kl.shape == (6, 3) and terms.mean.shape == (6, 10, 4, 3)
    assert (terms.kl >= 0).all()
    # Scaling the data by 10 (and the standardisation with it) costs exactly log(10) per value.
    scaled = tiny_model()
    scaled.load_state_dict(model.state_dict())
    scaled.set_statistics(windows * 10)
    shifted = scaled(windows * 10, sample=False).log_likelihood
    torch.testing.assert_close(shifted, model(windows, sample=False).log_likelihood - 120 * math.log(10))


def test_switched_off_levels_have_no_kl_and_their_posteriors_get_no_gradient():
    model = tiny_model(stochastic_depth=1)
    windows = torch.randn(4, 10, 4, 3)
    model.set_statistics(windows)
    terms = model(windows)
    assert (terms.kl[:, :2] == 0).all() and (terms.kl[:, 2] > 0).all()
    terms.elbo.sum().backward()
    assert all(p.grad is None for p in model.levels[0].posterior.parameters())
    assert any(p.grad is not None for p in model.levels[2].posterior.parameters())


def test_imputation_never_changes_observed_entries_and_keeps_the_best_step():
    model = tiny_model()
    windows = torch.randn(5, 10, 4, 3)
    model.set_statistics(windows)
    missing = torch.rand(windows.shape, generator=torch.Generator().manual_seed(1)) < 0.3
    result = model.impute(torch.where(missing, torch.nan, windows), missing, steps=5, lr=0.05)
    assert torch.equal(result.windows[~missing], windows[~missing])
    assert torch.isfinite(result.windows).all()
    assert (result.elbo_after >= result.elbo_before).all()
    torch.testing.assert_close(model.elbo(result.windows), result.elbo_after)


def test_checkpoint_round_trip_gives_the_same_model(tmp_path):
    model = tiny_model(classes=3)
    windows = torch.randn(6, 10, 4, 3)
    model.set_statistics(windows)
    model.metadata = ModelMetadata(load_preset("laforge20"), WindowLayout(joints=4, frames=10), 25.0, ("a", "b", "c"))
    model.save(tmp_path / "hgvae.pt")
    loaded = HGVAE.load(tmp_path / "hgvae.pt")
    assert loaded.metadata == model.metadata and loaded.config == model.config
    assert loaded.metadata.label_index("c") == 2
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.testing.assert_close(loaded.elbo(windows, labels), model.eval().elbo(windows, labels))
    first = loaded.generate(3, label=1, generator=torch.Generator().manual_seed(0))
    second = model.generate(3, label=1, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first, second)
    with pytest.raises(ValueError, match="class-conditional"):
        model.generate(3)
