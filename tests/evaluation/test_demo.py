"""`motion demo` with the shipped models and clip: runs on a fresh checkout, no data, no GPU."""

import imageio.v2 as imageio
import numpy as np

from cli.demo import main
from evaluation.demo import CLIP
from motion.assets import MODELS
from motion.checkpoint import load_checkpoint
from motion.formats import read_clips
from motion.models import load_model
from motion.skeleton import resolve_joint_map


def test_the_shipped_models_are_small_hold_no_training_state_and_describe_their_data():
    for name, kind in (("drmm.pt", "drmm"), ("hgvae.pt", "hgvae")):
        path = MODELS / name
        assert path.stat().st_size < 25 * 2**20
        payload = load_checkpoint(path, kind=kind)
        assert "optimizer" not in payload and "rng" not in payload
        metadata = load_model(path).metadata
        assert metadata.skeleton.name == "laforge20" and metadata.iteration == payload["iteration"] > 0
    drmm, hgvae = load_model(MODELS / "drmm.pt").metadata, load_model(MODELS / "hgvae.pt").metadata
    assert (drmm.fps, drmm.layout.size, drmm.labels) == (30.0, 487, ())
    assert drmm.contents == ("walk", "walk-turn-left", "walk-turn-right", "run")
    assert (hgvae.fps, hgvae.layout.size, hgvae.contents, hgvae.epochs) == (25.0, 3000, (), 16)
    assert len(hgvae.labels) == 10 and hgvae.label_index("walk") == 4  # the content-conditional classes


def test_the_demo_renders_a_take_and_fills_the_gaps_it_made(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--seconds", "3"]) == 0
    printed = capsys.readouterr().out
    assert "flags reached" in printed and "donor fill" in printed and "linear" in printed

    video = imageio.get_reader(tmp_path / "demo.mp4")
    frames = [frame for frame in video]
    assert len(frames) >= 85 and frames[0].shape == (360, 640, 3)
    assert len(np.unique(frames[-1].reshape(-1, 3), axis=0)) > 10  # not a blank frame

    truth = read_clips([CLIP])[0]
    gapped = read_clips([tmp_path / "demo-gaps.csv"])[0]
    truth = truth.remap(resolve_joint_map(truth.skeleton, gapped.skeleton.name, None, truth.source)).positions
    gaps, filled = gapped.positions, read_clips([tmp_path / "demo-imputed.csv"])[0].positions
    missing = np.isnan(gaps)
    assert 0.02 < missing.mean() < 0.3
    assert not np.isnan(filled).any()
    np.testing.assert_array_equal(filled[~missing], gaps[~missing])  # observed values kept
    np.testing.assert_allclose(gaps[~missing], truth[~missing], atol=1e-5)  # joint CSV keeps 6 decimals
    error = np.sqrt(np.mean((filled[missing] - truth[missing]) ** 2))
    assert error < 0.1, f"filled values {error:.3f} m rms from the truth"
