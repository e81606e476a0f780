"""The mixture density network baseline: a normalised likelihood, tempered sampling, training
on real segments, and playback with it."""

import math

import pytest
import torch

from cli.generate import main as generate_main
from cli.train import main as train
from motion.layout import SegmentLayout
from motion.models.mdn import MDN, MDNConfig, mdn_input_size, mdn_inputs


def tiny(outputs: int = 1) -> MDN:
    torch.manual_seed(0)
    model = MDN(MDNConfig(inputs=3, outputs=outputs, components=3, hidden=16, layers=2))
    model.set_statistics(torch.randn(100, 3), 0.5 + 2 * torch.randn(100, outputs))
    return model


def test_the_likelihood_integrates_to_one_in_the_units_of_the_outputs():
    model = tiny()
    inputs = torch.tensor([[0.3, -1.0, 1.0]])
    grid = torch.linspace(-30, 30, 60001)[:, None]
    density = model.log_prob(inputs.expand(len(grid), -1), grid).exp()
    assert math.isclose(torch.trapezoid(density, grid[:, 0]).item(), 1.0, rel_tol=1e-3)


def test_samples_follow_the_mixture_and_a_low_temperature_narrows_them():
    model = tiny(outputs=2)
    inputs = torch.tensor([[0.3, -1.0, 1.0]])
    generator = torch.Generator().manual_seed(0)
    samples, log_likelihood = model.sample(inputs, 20000, generator=generator)
    log_weights, means, _ = model.mixture(inputs)
    expected = (log_weights.exp()[0, :, None] * (means[0] * model.output_std + model.output_mean)).sum(0)
    assert torch.allclose(samples[0].mean(0), expected, atol=0.05)
    assert torch.allclose(log_likelihood[0, :5], model.log_prob(inputs.expand(5, -1), samples[0, :5]))
    cold, _ = model.sample(inputs, 20000, temperature=0.1, generator=generator)
    assert cold[0].std(0).max() < samples[0].std(0).min()
    with pytest.raises(ValueError):
        model.sample(inputs, temperature=0)


def test_the_inputs_are_the_context_the_goal_on_the_ground_and_the_forward_flag():
    layout = SegmentLayout()
    segments = torch.arange(2 * layout.size, dtype=torch.float32).reshape(2, -1)
    inputs = mdn_inputs(segments, layout, torch.tensor([True, False]))
    assert inputs.shape == (2, mdn_input_size(layout)) == (2, 180 + 5)
    assert torch.equal(inputs[:, :180], segments[:, :180])
    assert inputs[0, 180:].tolist() == [480, 481, 483, 484, 1]  # goal root x, y; forward x, y; known
    assert inputs[1, 180:].tolist() == [487 + 480, 487 + 481, 0, 0, 0]  # the forward goal hidden


@pytest.fixture(scope="module")
def mdn_path(segments, tmp_path_factory):
    path = tmp_path_factory.mktemp("mdn") / "mdn.pt"
    args = ["mdn", "--data", str(segments), "--out", str(path), "--iterations", "600", "--hidden", "128"]
    assert train([*args, "--components", "4", "--batch", "128", "--validate-every", "600", "--val-size", "512"]) == 0
    return path


def test_training_on_real_segments_learns_the_next_poses(mdn_path, segments):
    from motion.dataset import load_dataset

    model = MDN.load(mdn_path)
    data = load_dataset(segments, kind="segments")
    layout = data.layout
    val = torch.from_numpy(data.features[data.split == "val"][:512])
    nll = -model.log_prob(mdn_inputs(val, layout), val[:, layout.next_poses]).mean()
    # A diagonal Gaussian fitted to the training next poses, which ignores the context.
    train_rows = torch.from_numpy(data.features[data.split == "train"])[:, layout.next_poses].double()
    mean, sd = train_rows.mean(0), train_rows.std(0)
    baseline = -torch.distributions.Normal(mean, sd).log_prob(val[:, layout.next_poses].double()).sum(1).mean()
    assert nll < baseline - 500, (nll, baseline)  # the context tells it much about the next poses (seeded: 625)
    log = (mdn_path.parent / "mdn.pt.csv").read_text().splitlines()
    assert log[0].split(",")[4:7] == ["nll", "val_nll", "val_nll_no_forward"]
    assert model.metadata.layout == layout and model.metadata.recipe["train_splits"] == ["train"]


def test_playback_with_the_mdn_and_its_limits(mdn_path, tmp_path, capsys):
    log = tmp_path / "take.json"
    args = ["--model", str(mdn_path), "--seconds", "2", "--no-video", "--out", str(tmp_path / "x.mp4")]
    assert generate_main([*args, "--log", str(log), "--flags", "2,0"]) == 0
    assert "flags reached" in capsys.readouterr().out
    assert generate_main([*args, "--clipping", "box"]) == 2
    assert "an MDN cannot sample goals given the context" in capsys.readouterr().err
