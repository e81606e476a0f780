"""Training a DRMM on real segments with the shared trainer: learning, conditioning, resume, CLI."""

import csv
import signal

import numpy as np
import pytest
import torch

from motion.dataset import load_dataset
from motion.layout import SegmentLayout
from motion.models import DRMM, Condition, DRMMConfig
from training.distributed import Topology
from training.drmm import Curriculum, DRMMRecipe
from training.drmm import main as train
from training.trainer import Interrupted, TrainConfig, Trainer

SMALL = ["--layers", "2", "--components", "32", "--batch", "128", "--no-compile"]


def read_log(path):
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def test_training_improves_validation_and_conditioned_samples_follow_the_context(segments, tmp_path):
    checkpoint = tmp_path / "drmm.pt"
    args = ["--data", str(segments), "--out", str(checkpoint), "--iterations", "240", *SMALL]
    assert train([*args, "--validate-every", "40", "--val-size", "512", "--val-passes", "4"]) == 0
    validation = [float(row["val_ll"]) for row in read_log(tmp_path / "drmm.pt.csv") if row["val_ll"]]
    assert len(validation) == 6 and validation[-1] > validation[0] + 30, validation

    model, payload = DRMM.load(checkpoint)
    layout = SegmentLayout.from_dict(payload["layout"])
    test = load_dataset(segments, split="test").features
    target = torch.from_numpy(test[len(test) // 2])
    weights = torch.zeros(layout.size)
    for block, weight in enumerate((0.333, 0.333, 0.8)):
        weights[layout.context_block(block)] = weight
    weights[layout.goal_root_position] = 0.5
    weights[layout.goal_forward] = 1.0
    generator = torch.Generator().manual_seed(0)
    conditioned = model.sample(64, Condition(values=target, weights=weights), generator=generator).samples
    free = model.sample(64, generator=generator).samples
    context = layout.context

    def context_error(samples):
        return (samples[:, context] - target[context]).abs().mean(1)

    # A 2-layer, 32-component model after 240 iterations: centimetres, not millimetres.
    assert context_error(conditioned).median() < 0.1  # metres
    assert context_error(conditioned).median() < 0.75 * context_error(free).median()


class InterruptingRecipe(DRMMRecipe):
    """Raises SIGINT in the middle of one iteration, as Ctrl-C would."""

    def __init__(self, *args, at: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.at = at

    def loss(self, module, batch, iteration):
        if iteration == self.at:
            signal.raise_signal(signal.SIGINT)
        return super().loss(module, batch, iteration)


def test_resume_after_an_interrupt_matches_an_uninterrupted_run(segments, tmp_path):
    data = torch.from_numpy(load_dataset(segments, split="train").features)
    config = TrainConfig(iterations=60, batch=64, checkpoint_every=1000, validate_every=1000, log_every=10)
    topology = Topology(torch.device("cpu"))

    def recipe(cls=DRMMRecipe, **kwargs):
        model = DRMM(DRMMConfig(dim=data.shape[1], layers=2, components=16))
        return cls(model, Curriculum(config.iterations), data, None, {}, **kwargs)

    straight = recipe()
    Trainer(straight, config, tmp_path / "straight.pt", topology).run()

    interrupted = recipe(InterruptingRecipe, at=25)
    with pytest.raises(Interrupted) as stop:
        Trainer(interrupted, config, tmp_path / "resumed.pt", topology).run()
    assert stop.value.iteration == 26
    resumed = recipe()
    trainer = Trainer(resumed, config, tmp_path / "resumed.pt", topology)
    trainer.run(resume=True)

    assert trainer.iteration == config.iterations
    # CPU reductions are not bit-reproducible across runs, so compare the loss scale, not bits:
    # a restart from scratch instead of a resume would be far off at iteration 30.
    straight_log, resumed_log = read_log(tmp_path / "straight.pt.csv"), read_log(tmp_path / "resumed.pt.csv")
    assert [row["iteration"] for row in resumed_log] == [row["iteration"] for row in straight_log]
    np.testing.assert_allclose(
        [float(row["loss"]) for row in resumed_log], [float(row["loss"]) for row in straight_log], rtol=0.05
    )
    assert DRMM.load(tmp_path / "resumed.pt")[1]["iteration"] == config.iterations


def test_cli_refuses_to_overwrite_and_reports_bad_data(segments, tmp_path, capsys):
    existing = tmp_path / "drmm.pt"
    existing.write_bytes(b"not a checkpoint")
    assert train(["--data", str(segments), "--out", str(existing), *SMALL]) == 2
    assert "exists; pass --resume" in capsys.readouterr().err
    assert train(["--data", str(segments), "--out", str(existing), "--resume", *SMALL]) == 2
    assert "not a readable checkpoint" in capsys.readouterr().err
    assert train(["--data", str(tmp_path / "nothing"), "--out", str(tmp_path / "new.pt"), *SMALL]) == 2
    assert "no part-*.parquet files" in capsys.readouterr().err
    short = ["--data", str(segments), "--out", str(tmp_path / "short.pt"), "--val-size", "0", *SMALL]
    assert train([*short, "--iterations", "6"]) == 0
    assert train([*short, "--iterations", "6", "--resume", "--regularization", "0.5"]) == 2
    assert (
        "cannot resume with other settings: regularization (0.1 in the checkpoint, 0.5 now)" in capsys.readouterr().err
    )


def test_export_writes_the_model_without_its_training_state(segments, tmp_path):
    checkpoint, shipped = tmp_path / "drmm.pt", tmp_path / "models" / "drmm.pt"
    arguments = ["--data", str(segments), "--out", str(checkpoint), "--iterations", "20", *SMALL]
    assert train([*arguments, "--val-size", "0", "--export", str(shipped)]) == 0
    trained, payload = DRMM.load(checkpoint)
    exported, shipped_payload = DRMM.load(shipped)
    assert "optimizer" in payload and "optimizer" not in shipped_payload and "rng" not in shipped_payload
    assert {k: v for k, v in payload.items() if k not in ("model", "optimizer", "rng")} == {
        k: v for k, v in shipped_payload.items() if k != "model"
    }
    for name, tensor in trained.state_dict().items():
        assert torch.equal(tensor, exported.state_dict()[name])
    assert shipped.stat().st_size < checkpoint.stat().st_size / 2
